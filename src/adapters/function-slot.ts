/**
 * One guest-facing function as an emulator adapter holds it: its config
 * image mirror (the copy the emulator snapshots), the fixed-placement rule
 * for memory BARs, the MMIO / port mappings that follow the guest's BAR
 * programming, and the config replay after a snapshot restore. Emulator
 * neutral: the adapter supplies the mirror and the dispatch tables.
 */
import type { GuestPciFunction } from '../guest/contract.js';
import type { DispatchCounters, MmioTable, PortTable, ReportError } from './dispatch.js';

/** Counters of an attachment (all accesses, all functions). */
export interface AdapterCounters extends DispatchCounters {
  configReads: number;
  configWrites: number;
  intxAsserts: number;
  intxDeasserts: number;
  /** INTx asserts with no interrupt route programmed yet (before the BIOS ran). */
  intxUnrouted: number;
  /** MSI / MSI-X messages the function emitted that the emulator cannot deliver. */
  msiDropped: number;
  /** Messages poll() reported delivered. */
  delivered: number;
  /** Memory BAR moves refused (fixed placement). */
  barMovesRefused: number;
  /** Times a function's BAR mappings were re-registered. */
  remaps: number;
  /** Config replays after a snapshot restore. */
  replays: number;
  /** Accesses that failed (completed as master aborts) and other reported errors. */
  errors: number;
}

/** A zeroed counter set. */
export function newAdapterCounters(): AdapterCounters {
  return {
    configReads: 0, configWrites: 0, mmioReads: 0, mmioWrites: 0, ioReads: 0, ioWrites: 0, intxAsserts: 0, intxDeasserts: 0,
    intxUnrouted: 0, msiDropped: 0, delivered: 0, barMovesRefused: 0, remaps: 0, replays: 0, errors: 0,
  };
}

/** Config offsets of BAR0–5 and of the expansion ROM BAR. */
export const BAR_REGS: readonly number[] = [0x10, 0x14, 0x18, 0x1c, 0x20, 0x24];
export const ROM_REG = 0x30;
const CMD_DECODE = 0x7; // I/O space, memory space, bus master

/** What a slot needs from its adapter. */
export interface SlotDeps {
  readonly mmio: MmioTable;
  readonly ports: PortTable;
  readonly counters: AdapterCounters;
  readonly report: ReportError;
  /** Memory BARs stay at `placed` (true) or follow the guest (false). */
  readonly fixed: boolean;
}

/** One attached function. */
export class FunctionSlot {
  /** INTx level the function last reported. */
  level = false;
  /** False until registered, and after detach: sink calls are ignored. */
  ready = false;
  #signature = '';

  constructor(
    readonly name: string,
    /** The host function, when the spec named one. */
    readonly hostBdf: string | undefined,
    /** Guest `slot << 3 | function` on bus 0. */
    readonly devfn: number,
    readonly fn: GuestPciFunction,
    /** The emulator's copy of config space (64 dwords): snapshots save it, INTx routing reads the pin from it. */
    readonly space: Int32Array,
    /** Addresses memory BARs were placed at, by BAR index (6 = ROM). */
    readonly placed: ReadonlyMap<number, number>,
    private readonly deps: SlotDeps,
  ) {}

  /** Guest address, `0000:00:SS.F`. */
  get guestBdf(): string {
    return `0000:00:${(this.devfn >> 3).toString(16).padStart(2, '0')}.${this.devfn & 7}`;
  }

  /** Copies the function's config (one dword, or all 64) into the mirror. */
  refreshMirror(dword?: number): void {
    const from = dword ?? 0;
    const to = dword === undefined ? 64 : dword + 1;
    for (let i = from; i < to; i++) {
      try {
        this.space[i] = this.fn.configRead(i * 4, 4) | 0;
      } catch (e) {
        this.deps.report(e, { guestBdf: this.guestBdf, offsetBytes: i * 4 });
      }
    }
  }

  /** Re-registers MMIO / port handlers when the decoding BARs changed. */
  resync(): void {
    if (!this.ready) return;
    const want = this.fn.bars.filter((b) => b.decoding && b.address !== undefined && b.sizeBytes > 0);
    const signature = want.map((b) => `${b.index}:${b.kind}:${b.address}:${b.sizeBytes}:${b.ram === undefined ? 0 : 1}`).join(',');
    if (signature === this.#signature) return;
    this.deps.mmio.unmapOwner(this);
    this.deps.ports.unmapOwner(this);
    for (const b of want) {
      if (b.kind === 'memory') this.deps.mmio.map(this, this.fn, b);
      else this.deps.ports.map(this, this.fn, b);
    }
    this.#signature = signature;
    this.deps.counters.remaps++;
  }

  /** Drops every mapping (detach). */
  unmap(): void {
    this.deps.mmio.unmapOwner(this);
    this.deps.ports.unmapOwner(this);
    this.#signature = '';
  }

  /** A guest config write: placement rule, the function, the mirror, the mappings. */
  configWrite(off: number, size: 1 | 2 | 4, value: number): void {
    this.deps.counters.configWrites++;
    try {
      if (size === 4) {
        const v = BAR_REGS.includes(off) || off === ROM_REG ? this.#filterBarWrite(off, value >>> 0) : value;
        this.fn.configWrite(off, 4, v >>> 0);
      } else {
        this.fn.configWrite(off, size, value & (size === 1 ? 0xff : 0xffff));
      }
    } catch (e) {
      this.deps.report(e, { guestBdf: this.guestBdf, offsetBytes: off, width: size });
    }
    this.refreshMirror(off >> 2);
    if (off < 0x08 || (off >= 0x10 && off < 0x28) || (off >= ROM_REG && off < 0x34)) this.resync();
  }

  /**
   * After a snapshot restore the emulator has put the saved image in the
   * mirror; the function (whose own state was not in the snapshot) gets the
   * guest-programmed registers replayed: decode off, BARs, ROM, interrupt
   * line, then COMMAND.
   */
  replay(): void {
    const image = Int32Array.from(this.space);
    const cmd = image[1]! & 0xffff;
    try {
      this.fn.configWrite(0x04, 2, cmd & ~CMD_DECODE);
      for (const off of [...BAR_REGS, ROM_REG]) this.fn.configWrite(off, 4, image[off >> 2]! >>> 0);
      this.fn.configWrite(0x3c, 1, image[0x3c >> 2]! & 0xff);
      this.fn.configWrite(0x04, 2, cmd);
    } catch (e) {
      this.deps.report(e, { guestBdf: this.guestBdf, phase: 'replay' });
    }
    this.deps.counters.replays++;
    this.refreshMirror();
    this.resync();
  }

  /** Fixed placement: sizing probes pass, any other address is replaced by the placed one (what v86 does for its own BARs). */
  #filterBarWrite(off: number, value: number): number {
    if (!this.deps.fixed) return value;
    if (off === ROM_REG) {
      const at = this.placed.get(6);
      if (at === undefined || (value | 0x7ff) >>> 0 === 0xffffffff) return value;
      if ((value & ~0x7ff) >>> 0 !== at) this.deps.counters.barMovesRefused++;
      return (at | (value & 1)) >>> 0;
    }
    const reg = BAR_REGS.indexOf(off);
    const bars = this.fn.bars;
    const low = bars.find((b) => b.index === reg && b.kind === 'memory');
    if (low !== undefined) {
      const at = this.placed.get(reg);
      if (at === undefined || (value | 0xf | (low.sizeBytes - 1)) >>> 0 === 0xffffffff) return value;
      if ((value & ~0xf) >>> 0 !== at) this.deps.counters.barMovesRefused++;
      return at;
    }
    const high = bars.find((b) => b.mem64 && b.index === reg - 1);
    if (high !== undefined && this.placed.has(high.index)) return value >>> 0 === 0xffffffff ? value : 0;
    return value;
  }
}

/** Programs a memory BAR (or the ROM, index 6) of `fn` to `address`, as a BIOS would. */
export function programBar(fn: GuestPciFunction, index: number, address: number): void {
  if (index === 6) {
    fn.configWrite(ROM_REG, 4, address >>> 0);
    return;
  }
  fn.configWrite(BAR_REGS[index]!, 4, address >>> 0);
  if (fn.bars.find((b) => b.index === index)?.mem64 === true) fn.configWrite(BAR_REGS[index + 1]!, 4, 0);
}
