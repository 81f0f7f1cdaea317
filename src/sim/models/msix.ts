/**
 * `msix`: an MSI-X test function (1234:5a01, class ff0000, PCIe endpoint with
 * FLR). BAR0 is 64 KiB of 32-bit memory split into 16 KiB pages so the mmap
 * windows split cleanly around the MSI-X structures:
 *
 * | BAR0 range | Contents | Trapped |
 * |---|---|---|
 * | 0x0000–0x3fff | doorbell register file (see doorbell-regs.ts), scratch registers at 0x100–0x1ff | yes |
 * | 0x4000–0x7fff | MSI-X table (`vectors` × 16 bytes) | yes |
 * | 0x8000–0xbfff | MSI-X PBA | yes |
 * | 0xc000–0xffff | scratch RAM | no |
 *
 * BAR2/3 is a 64-bit prefetchable RAM-like BAR (default 1 MiB): plain memory
 * the fast-path benchmarks read and write directly.
 */
import { CapId, Msix } from '../../pci/config-space.js';
import type { SimConfigSpace } from '../config-space.js';
import { DoorbellModel } from './doorbell-model.js';
import { addPcieEndpoint } from './pcie.js';
import type { SimBarSpec } from './types.js';

/** Options of the msix model (machine JSON). */
export interface MsixOptions {
  /** MSI-X table size, 1–2048 (default 256). */
  vectors?: number;
  /** Size of the RAM BAR (BAR2/3), a power of two ≥ 16 KiB (default 1 MiB). */
  ramBarBytes?: number;
}

/** BAR0 layout of the msix model. */
export const MsixLayout = {
  bar0Bytes: 0x10000,
  registersOffset: 0x0000,
  scratchOffset: 0x100,
  scratchBytes: 0x100,
  tableOffset: 0x4000,
  pbaOffset: 0x8000,
  scratchRamOffset: 0xc000,
  scratchRamBytes: 0x4000,
} as const;

/** The msix device model. */
export class MsixModel extends DoorbellModel {
  readonly kind = 'msix';
  readonly flr = true;
  readonly bars: readonly SimBarSpec[];

  constructor(options: MsixOptions = {}) {
    super({
      id: (0x5a01 << 16) | 1,
      vectors: options.vectors ?? 256,
      scratchOffset: MsixLayout.scratchOffset,
      scratchBytes: MsixLayout.scratchBytes,
    });
    const ram = options.ramBarBytes ?? 1024 * 1024;
    // The table of 2048 entries needs 32 KiB: grow BAR0 so table and PBA keep their own pages.
    const tableBytes = Math.max(0x4000, Math.ceil((this.vectors * 16) / 0x4000) * 0x4000);
    this.bars = [
      {
        index: 0,
        sizeBytes: tableBytes > 0x4000 ? 0x20000 : MsixLayout.bar0Bytes,
        type: 0,
        traps: [{ offsetBytes: 0, lengthBytes: 0x4000 }],
      },
      { index: 2, sizeBytes: ram, type: 0x4 | 0x8, traps: [] },
    ];
  }

  /** Offset of the PBA inside BAR0. */
  get pbaOffset(): number {
    return this.bars[0]!.sizeBytes > MsixLayout.bar0Bytes ? 0x10000 : MsixLayout.pbaOffset;
  }

  buildConfig(cfg: SimConfigSpace, barAddress: (index: number) => bigint): void {
    this.writeHeader(cfg, 0x5a01);
    for (const b of this.bars) cfg.bar(b, barAddress(b.index));
    addPcieEndpoint(cfg, { flr: true });
    const cap = cfg.capability(CapId.MSIX, 12);
    cfg.set(cap + Msix.FLAGS, 2, this.vectors - 1);
    cfg.setWmask(cap + Msix.FLAGS, 2, Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
    cfg.set(cap + Msix.TABLE, 4, MsixLayout.tableOffset | 0);
    cfg.set(cap + Msix.PBA, 4, this.pbaOffset | 0);
  }
}
