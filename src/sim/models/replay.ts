/**
 * `replay`: a function rebuilt from a real config dump (`lspci -x/-xxx/-xxxx`
 * text) plus BAR sizes. Config space is the dump; the standard writable bits
 * are restored (COMMAND, cache line, latency, interrupt line, BAR sizing
 * masks from `barSizes`, MSI/MSI-X control, address and data, PCIe DevCtl).
 * BARs are plain memory (no register semantics); the MSI-X table and PBA are
 * emulated by the function. FLR is supported when the dump's PCIe DevCap
 * says so. Interrupts are raised from tests with `SimFunction.raise`.
 */
import { PassthroughError } from '../../errors.js';
import { BarBits, CapId, Cfg, Msi, Msix, PCIE_CONFIG_BYTES } from '../../pci/config-space.js';
import { parseLspciDump } from '../../pci/dump.js';
import type { AccessWidth } from '../../types.js';
import type { SimConfigSpace } from '../config-space.js';
import type { DeviceModel, SimBarSpec } from './types.js';

/** Options of the replay model (machine JSON). Exactly one of dump / dumpFile. */
export interface ReplayOptions {
  /** `lspci -x`-style text. */
  dump?: string;
  /** Path of a file with that text (resolved by parseSimMachine / loadSimMachine). */
  dumpFile?: string;
  /** Which device of the dump (default: the first). */
  dumpBdf?: string;
  /** BAR sizes in bytes by BAR index (0 = unimplemented; the upper half of a 64-bit BAR is ignored). */
  barSizes: number[];
}

/** The replay device model. */
export class ReplayModel implements DeviceModel {
  readonly kind = 'replay';
  readonly flr: boolean;
  readonly bars: readonly SimBarSpec[];
  /** The dump's config bytes, padded to 4096. */
  readonly image: Uint8Array;

  /** `dumpText` must already be read (parseSimMachine inlines dumpFile). */
  constructor(dumpText: string, options: { dumpBdf?: string; barSizes: number[] }) {
    const devices = parseLspciDump(dumpText);
    const raw = options.dumpBdf === undefined ? devices.values().next().value : devices.get(options.dumpBdf);
    if (raw === undefined) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'replay: the dump holds no such device', { dumpBdf: options.dumpBdf });
    }
    if (raw.length < 64) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'replay: the dump has fewer than 64 bytes');
    this.image = new Uint8Array(PCIE_CONFIG_BYTES);
    this.image.set(raw.subarray(0, PCIE_CONFIG_BYTES));
    const bars: SimBarSpec[] = [];
    for (let i = 0; i < 6; i++) {
      const size = options.barSizes[i] ?? 0;
      const low = this.#u32(Cfg.BAR0 + 4 * i);
      if (size > 0) {
        const io = (low & BarBits.IO_SPACE) !== 0;
        const type = io ? BarBits.IO_SPACE : low & (BarBits.MEM_TYPE_64 | BarBits.MEM_PREFETCH);
        bars.push({ index: i, sizeBytes: size, type, traps: [] });
        if ((type & BarBits.MEM_TYPE_64) !== 0) i++;
      }
    }
    this.bars = bars;
    const exp = findCap(this.image, CapId.EXP);
    this.flr = exp !== 0 && (this.#u32(exp + 4) & (1 << 28)) !== 0;
  }

  buildConfig(cfg: SimConfigSpace): void {
    cfg.load(this.image);
    cfg.setWmask(Cfg.COMMAND, 2, 0x0547);
    cfg.setW1c(Cfg.STATUS, 2, 0xf900);
    cfg.setWmask(Cfg.CACHE_LINE_SIZE, 2, 0xffff);
    cfg.setWmask(Cfg.INTERRUPT_LINE, 1, 0xff);
    for (const b of this.bars) {
      const at = Cfg.BAR0 + 4 * b.index;
      const addr = BigInt((this.#u32(at) & ~0xf) >>> 0) | ((b.type & BarBits.MEM_TYPE_64) !== 0 ? BigInt(this.#u32(at + 4)) << 32n : 0n);
      cfg.bar(b, addr);
    }
    const msi = cfg.findCapability(CapId.MSI);
    if (msi !== 0) {
      const is64 = (cfg.read(msi + Msi.FLAGS, 2) & Msi.FLAGS_64BIT) !== 0;
      cfg.setWmask(msi + Msi.FLAGS, 2, Msi.FLAGS_QSIZE | Msi.FLAGS_ENABLE);
      cfg.setWmask(msi + Msi.ADDRESS_LO, 4, 0xffff_fffc);
      if (is64) cfg.setWmask(msi + 8, 4, 0xffff_ffff);
      cfg.setWmask(msi + (is64 ? 0x0c : 0x08), 2, 0xffff);
    }
    const msix = cfg.findCapability(CapId.MSIX);
    if (msix !== 0) cfg.setWmask(msix + Msix.FLAGS, 2, Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
    const exp = cfg.findCapability(CapId.EXP);
    if (exp !== 0) cfg.setWmask(exp + 8, 2, 0xffff);
  }

  attach(): void {}

  mmioRead(): bigint {
    return 0n;
  }

  mmioWrite(_bar: number, _off: number, _width: AccessWidth, _value: bigint): void {}

  reset(): void {}

  #u32(off: number): number {
    const b = this.image;
    return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  }
}

function findCap(bytes: Uint8Array, id: number): number {
  if ((bytes[Cfg.STATUS]! & 0x10) === 0) return 0;
  let off = bytes[Cfg.CAPABILITY_LIST]! & 0xfc;
  for (let n = 0; n < 48 && off >= 0x40; n++) {
    if (bytes[off] === id) return off;
    off = bytes[off + 1]! & 0xfc;
  }
  return 0;
}
