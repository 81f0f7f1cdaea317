/**
 * The MSI-X table and PBA of a simulated function, as the device emulates
 * them: entries power on masked; a vector signalled while masked (entry mask
 * or function mask) sets its PBA bit and is delivered when unmasked; the PBA
 * is read-only. Both ranges live in the function's BAR stores and are always
 * trap ranges, so every access comes here.
 */
import type { IrqWords } from '../dext/contract.js';
import { Msix } from '../pci/config-space.js';
import type { AccessWidth } from '../types.js';
import { plainWrite, type SimBar } from './bar-store.js';
import type { SimConfigSpace } from './config-space.js';
import type { SimBarSpec, SimRange } from './models/types.js';

/** Synthetic MSI doorbell address the sim's ConfigureInterrupts programs. */
export const MSI_ADDRESS = 0xfee0_0000;

/** Where the capability puts the table and the PBA. */
interface MsixLayout {
  cap: number;
  entries: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** Count of trailing zeros of a non-zero 64-bit word. */
function ctz64(x: bigint): number {
  const lo = Number(x & 0xffff_ffffn);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Number((x >> 32n) & 0xffff_ffffn);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** The MSI-X state of one simulated function. */
export class SimMsix {
  readonly #cfg: SimConfigSpace;
  readonly #m: MsixLayout;
  readonly #bars: ReadonlyMap<number, SimBar>;
  readonly #deliver: (vector: number) => void;

  private constructor(cfg: SimConfigSpace, layout: MsixLayout, bars: ReadonlyMap<number, SimBar>, deliver: (vector: number) => void) {
    this.#cfg = cfg;
    this.#m = layout;
    this.#bars = bars;
    this.#deliver = deliver;
  }

  /**
   * The table/PBA layout of the function's MSI-X capability, or undefined when
   * it has none (or it points outside its BARs).
   */
  static layout(cfg: SimConfigSpace, bars: readonly SimBarSpec[]): MsixLayout | undefined {
    const cap = cfg.findCapability(0x11);
    if (cap === 0) return undefined;
    const table = cfg.read(cap + Msix.TABLE, 4);
    const pba = cfg.read(cap + Msix.PBA, 4);
    const layout = {
      cap,
      entries: (cfg.read(cap + Msix.FLAGS, 2) & Msix.FLAGS_QSIZE) + 1,
      tableBar: table & Msix.BIR_MASK,
      tableOffset: table & ~Msix.BIR_MASK,
      pbaBar: pba & Msix.BIR_MASK,
      pbaOffset: pba & ~Msix.BIR_MASK,
    };
    const ok = (bar: number, end: number) => {
      const spec = bars.find((b) => b.index === bar);
      return spec !== undefined && end <= spec.sizeBytes;
    };
    if (!ok(layout.tableBar, layout.tableOffset + 16 * layout.entries) || !ok(layout.pbaBar, layout.pbaOffset + 8)) return undefined;
    return layout;
  }

  /** The trap ranges `layout` adds to BAR `bar`. */
  static traps(layout: MsixLayout | undefined, bar: number): SimRange[] {
    if (layout === undefined) return [];
    const out: SimRange[] = [];
    if (layout.tableBar === bar) out.push({ offsetBytes: layout.tableOffset, lengthBytes: layout.entries * 16 });
    if (layout.pbaBar === bar) out.push({ offsetBytes: layout.pbaOffset, lengthBytes: Math.ceil(layout.entries / 64) * 8 });
    return out;
  }

  /** The emulation over `layout` once the BAR stores exist; `deliver` sends an MSI (bus mastering is its concern). */
  static create(cfg: SimConfigSpace, layout: MsixLayout, bars: ReadonlyMap<number, SimBar>, deliver: (vector: number) => void): SimMsix {
    const m = new SimMsix(cfg, layout, bars, deliver);
    m.reset();
    return m;
  }

  get #table(): SimBar {
    return this.#bars.get(this.#m.tableBar)!;
  }
  get #pba(): SimBar {
    return this.#bars.get(this.#m.pbaBar)!;
  }
  get #pbaWords(): number {
    return Math.ceil(this.#m.entries / 64);
  }

  /** Offset of the capability's Message Control register. */
  get controlOffset(): number {
    return this.#m.cap + Msix.FLAGS;
  }

  /** True when MSI-X is enabled in Message Control. */
  get enabled(): boolean {
    return (this.#cfg.read(this.controlOffset, 2) & Msix.FLAGS_ENABLE) !== 0;
  }

  /** True when `off` of BAR `bar` is in the table or the PBA. */
  contains(bar: number, off: number): boolean {
    const m = this.#m;
    if (bar === m.tableBar && off >= m.tableOffset && off < m.tableOffset + 16 * m.entries) return true;
    return bar === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + this.#pbaWords * 8;
  }

  /** A store into the table (the PBA is read-only); unmasking delivers what is pending. */
  write(bar: SimBar, off: number, width: AccessWidth, value: bigint): void {
    const m = this.#m;
    if (bar.index === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + this.#pbaWords * 8) return;
    plainWrite(bar, off, width, value);
    this.flush();
  }

  /**
   * ConfigureInterrupts' MSI-X half for `n` vectors: programs and unmasks
   * entries 0..n-1, enables MSI-X with the function mask clear. Returns the count.
   */
  configure(n: number): number {
    const m = this.#m;
    const count = Math.min(n, m.entries);
    const table = this.#table;
    for (let i = 0; i < count; i++) {
      const e = (m.tableOffset + 16 * i) / 4;
      Atomics.store(table.u32, e, MSI_ADDRESS);
      Atomics.store(table.u32, e + 1, 0);
      Atomics.store(table.u32, e + 2, i);
      Atomics.store(table.u32, e + 3, 0);
    }
    const flags = this.#cfg.read(this.controlOffset, 2);
    this.#cfg.set(this.controlOffset, 2, (flags | Msix.FLAGS_ENABLE) & ~Msix.FLAGS_MASKALL);
    this.flush();
    return count;
  }

  /**
   * A signal of `vector` while MSI-X is enabled: delivered, or latched in the
   * PBA while masked; a vector past the table is dropped.
   */
  signal(vector: number): void {
    const m = this.#m;
    if (vector < 0 || vector >= m.entries) return;
    const flags = this.#cfg.read(this.controlOffset, 2);
    const masked = (flags & Msix.FLAGS_MASKALL) !== 0 || (Atomics.load(this.#table.u32, (m.tableOffset + 16 * vector + 12) / 4) & 1) !== 0;
    if (masked) {
      Atomics.or(this.#pba.u64, m.pbaOffset / 8 + (vector >>> 6), 1n << BigInt(vector & 63));
      return;
    }
    this.#deliver(vector);
  }

  /** The PBA as 4 words. */
  pending(): IrqWords {
    const words: IrqWords = [0n, 0n, 0n, 0n];
    for (let w = 0; w < Math.min(4, this.#pbaWords); w++) words[w] = Atomics.load(this.#pba.u64, this.#m.pbaOffset / 8 + w);
    return words;
  }

  /** Delivers pending PBA vectors whose entries are now unmasked (function enabled, not masked). */
  flush(): void {
    const m = this.#m;
    const flags = this.#cfg.read(this.controlOffset, 2);
    if ((flags & Msix.FLAGS_ENABLE) === 0 || (flags & Msix.FLAGS_MASKALL) !== 0) return;
    const pba = this.#pba;
    const table = this.#table;
    for (let w = 0; w < this.#pbaWords; w++) {
      let bits = Atomics.load(pba.u64, m.pbaOffset / 8 + w);
      while (bits !== 0n) {
        const b = ctz64(bits);
        bits &= bits - 1n;
        const v = 64 * w + b;
        if ((Atomics.load(table.u32, (m.tableOffset + 16 * v + 12) / 4) & 1) !== 0) continue;
        Atomics.and(pba.u64, m.pbaOffset / 8 + w, ~(1n << BigInt(b)) & 0xffff_ffff_ffff_ffffn);
        this.#deliver(v);
      }
    }
  }

  /** The table's bytes (a reset saves and restores them). */
  tableBytes(): Uint8Array {
    const m = this.#m;
    return this.#table.u8.slice(m.tableOffset, m.tableOffset + 16 * m.entries);
  }

  /** Restores the table's bytes. */
  restoreTable(bytes: Uint8Array): void {
    this.#table.u8.set(bytes, this.#m.tableOffset);
  }

  /** Power-on: every entry zero and masked, the PBA clear. */
  reset(): void {
    const m = this.#m;
    const table = this.#table;
    for (let i = 0; i < m.entries; i++) {
      const e = (m.tableOffset + 16 * i) / 4;
      Atomics.store(table.u32, e, 0);
      Atomics.store(table.u32, e + 1, 0);
      Atomics.store(table.u32, e + 2, 0);
      Atomics.store(table.u32, e + 3, 1); // masked at power-on
    }
    for (let w = 0; w < this.#pbaWords; w++) Atomics.store(this.#pba.u64, m.pbaOffset / 8 + w, 0n);
  }
}
