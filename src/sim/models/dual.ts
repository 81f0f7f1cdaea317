/**
 * `dual`: one function of a two-function slot (1234:5a02, class ff0000,
 * conventional PCI, no FLR, so ResetDevice falls back to a hot reset that
 * resets every function of the slot). MSI with `vectors` messages (64-bit,
 * default 4) and INTx pin A. BAR0: 4 KiB of 32-bit memory, all trapped:
 * the doorbell register file (doorbell-regs.ts) with ID = 0x5a02 << 16 |
 * function number and 16 scratch registers at 0x40–0x7f. The machine sets
 * the multi-function bit of the header type.
 */
import { CapId, Msi } from '../../pci/config-space.js';
import { parseBdf } from '../../types.js';
import type { SimConfigSpace } from '../config-space.js';
import { DoorbellModel } from './doorbell-model.js';
import type { SimBarSpec } from './types.js';

/** Options of the dual model (machine JSON). */
export interface DualOptions {
  /** MSI messages, a power of two 1–32 (default 4). */
  vectors?: number;
}

/** BAR0 layout of the dual model. */
export const DualLayout = { bar0Bytes: 0x1000, scratchOffset: 0x40, scratchBytes: 0x40 } as const;

/** The dual device model. */
export class DualModel extends DoorbellModel {
  readonly kind = 'dual';
  readonly flr = false;
  readonly bars: readonly SimBarSpec[] = [
    { index: 0, sizeBytes: DualLayout.bar0Bytes, type: 0, traps: [{ offsetBytes: 0, lengthBytes: DualLayout.bar0Bytes }] },
  ];
  readonly fn: number;

  constructor(bdf: string, options: DualOptions = {}) {
    const fn = parseBdf(bdf).function;
    super({
      id: (0x5a02 << 16) | fn,
      vectors: options.vectors ?? 4,
      scratchOffset: DualLayout.scratchOffset,
      scratchBytes: DualLayout.scratchBytes,
    });
    this.fn = fn;
  }

  buildConfig(cfg: SimConfigSpace, barAddress: (index: number) => bigint): void {
    this.writeHeader(cfg, 0x5a02);
    cfg.bar(this.bars[0]!, barAddress(0));
    const msi = cfg.capability(CapId.MSI, 14);
    const mmc = Math.log2(this.vectors);
    cfg.set(msi + Msi.FLAGS, 2, Msi.FLAGS_64BIT | (mmc << 1));
    cfg.setWmask(msi + Msi.FLAGS, 2, Msi.FLAGS_QSIZE | Msi.FLAGS_ENABLE);
    cfg.setWmask(msi + Msi.ADDRESS_LO, 4, 0xffff_fffc);
    cfg.setWmask(msi + 8, 4, 0xffff_ffff);
    cfg.setWmask(msi + 0x0c, 2, 0xffff);
  }
}
