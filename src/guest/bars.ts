/**
 * BAR registers in the guest's view, and the routing they imply.
 *
 * Every BAR register (0x10–0x27) and the ROM BAR (0x30) is emulated and
 * never forwarded: it holds the guest's address. Sizing works as on
 * hardware because the address bits are the only writable ones: writing all
 * ones reads back the size mask with the type bits (I/O space; memory type
 * 32/64-bit; prefetchable); the upper half of a 64-bit BAR takes the upper
 * address bits. Sizes are the device's, rounded up to a power of two.
 *
 * A BAR decodes when it holds an address and COMMAND enables its space
 * (memory or I/O; the ROM also needs its enable bit). Not an address (as
 * QEMU's pci_bar_address decides): 0, the sizing pattern (address bits all
 * ones), a 32-bit BAR whose end passes 4 GiB, an I/O BAR past 64 KiB, or
 * anything past 2^53 (addresses are numbers).
 */
import { Cfg, Command } from '../pci/config-space.js';
import type { GuestBar } from './contract.js';
import type { VirtualConfig } from './config-space.js';
import type { GuestBarPort } from './device.js';
import type { MsixCapability } from '../vfio/pci-caps.js';

/** Index of the expansion ROM in GuestBar lists. */
export const kRomIndex = 6;
const TWO32 = 0x1_0000_0000;
const kMaxAddress = 2 ** 53;

/** A BAR of the function (index 0–5, or the ROM at 6). */
export interface BarSpec {
  index: number;
  kind: 'memory' | 'io';
  mem64: boolean;
  prefetch: boolean;
  /** A power of two. */
  sizeBytes: number;
  /** Where accesses go (undefined for the ROM, which the layer serves). */
  port: GuestBarPort | undefined;
  /** The direct view when the BAR is plain memory. */
  ram: Uint8Array | undefined;
  /** Accesses need more than the port (the MSI-X table or PBA lives here, or the ROM). */
  special: boolean;
}

/** A decoding BAR in a routing table. */
export interface BarSlot {
  readonly spec: BarSpec;
  readonly base: number;
  /** base + size. */
  readonly end: number;
}

/** BAR registers, decode state and routing of one function. */
export class BarEmulation {
  /** By index: 0–5 and the ROM (6); undefined where there is none. */
  readonly specs: readonly (BarSpec | undefined)[];
  /** Decoding memory BARs (the ROM included). */
  memSlots: readonly BarSlot[] = [];
  /** Decoding I/O BARs. */
  ioSlots: readonly BarSlot[] = [];
  /** Bumped whenever the routing tables change (lets the access path cache its last hit). */
  version = 0;
  readonly #vc: VirtualConfig;
  readonly #onChange: (bars: readonly GuestBar[]) => void;
  #command = 0;
  #bars: readonly GuestBar[] = [];

  /**
   * @param specs BARs 0–5 (a 64-bit BAR also occupies the next index, which must be undefined) and the ROM at 6
   */
  constructor(vc: VirtualConfig, specs: readonly (BarSpec | undefined)[], onChange: (bars: readonly GuestBar[]) => void) {
    this.#vc = vc;
    this.specs = specs;
    this.#onChange = onChange;
    for (let i = 0; i < 6; i++) {
      const s = specs[i];
      const at = Cfg.BAR0 + 4 * i;
      if (s === undefined) {
        if (i === 0 || specs[i - 1]?.mem64 !== true) vc.emulate(at, 4, 0);
        continue;
      }
      if (s.kind === 'io') {
        vc.emulate(at, 4, 0x1, { wmask: ~(s.sizeBytes - 1) & 0xffff_fffc });
        continue;
      }
      const low = (s.mem64 ? 0x4 : 0) | (s.prefetch ? 0x8 : 0);
      vc.emulate(at, 4, low, { wmask: s.sizeBytes >= TWO32 ? 0 : ~(s.sizeBytes - 1) & 0xffff_fff0 });
      if (s.mem64) vc.emulate(at + 4, 4, 0, { wmask: s.sizeBytes > TWO32 ? ~(s.sizeBytes / TWO32 - 1) >>> 0 : 0xffff_ffff });
    }
    const rom = specs[kRomIndex];
    vc.emulate(Cfg.ROM_ADDRESS, 4, 0, { wmask: rom === undefined ? 0 : (~(rom.sizeBytes - 1) & 0xffff_f800) | 1 });
    vc.onWrite(Cfg.BAR0, Cfg.BAR_END, () => this.#recompute());
    vc.onWrite(Cfg.ROM_ADDRESS, Cfg.ROM_ADDRESS + 4, () => this.#recompute());
    this.#recompute(true);
  }

  /** The BARs as the guest has them now (present ones, by index, the ROM last). */
  get bars(): readonly GuestBar[] {
    return this.#bars;
  }

  /** COMMAND changed (memory / I/O enable decide decoding). */
  setCommand(command: number): void {
    if (command === this.#command) return;
    this.#command = command;
    this.#recompute();
  }

  /** The decoding memory BAR holding `gpa`, or undefined. */
  findMem(gpa: number): BarSlot | undefined {
    const slots = this.memSlots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (gpa >= s.base && gpa < s.end) return s;
    }
    return undefined;
  }

  /** The decoding I/O BAR holding `port`, or undefined. */
  findIo(port: number): BarSlot | undefined {
    const slots = this.ioSlots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (port >= s.base && port < s.end) return s;
    }
    return undefined;
  }

  /** Back to power-on: every BAR at 0 (type bits kept), ROM off, nothing decoding. */
  reset(): void {
    for (let i = 0; i < 6; i++) {
      const s = this.specs[i];
      if (s === undefined) continue;
      const at = Cfg.BAR0 + 4 * i;
      this.#vc.set(at, 4, s.kind === 'io' ? 1 : (s.mem64 ? 0x4 : 0) | (s.prefetch ? 0x8 : 0));
      if (s.mem64) this.#vc.set(at + 4, 4, 0);
    }
    this.#vc.set(Cfg.ROM_ADDRESS, 4, 0);
    this.#command = 0;
    this.#recompute();
  }

  /** The address BAR `s` holds, or undefined (see the module comment). */
  #address(s: BarSpec): number | undefined {
    const vc = this.#vc;
    if (s.index === kRomIndex) {
      const mask = vc.wmask[Cfg.ROM_ADDRESS + 1]! << 8 | vc.wmask[Cfg.ROM_ADDRESS + 2]! << 16 | vc.wmask[Cfg.ROM_ADDRESS + 3]! << 24;
      const a = (vc.get32(Cfg.ROM_ADDRESS) & 0xffff_f800) >>> 0;
      return a === 0 || a === mask >>> 0 || a + s.sizeBytes >= TWO32 ? undefined : a;
    }
    const at = Cfg.BAR0 + 4 * s.index;
    const wmask = (vc.wmask[at]! | (vc.wmask[at + 1]! << 8) | (vc.wmask[at + 2]! << 16) | (vc.wmask[at + 3]! << 24)) >>> 0;
    if (s.kind === 'io') {
      const a = (vc.get32(at) & 0xffff_fffc) >>> 0;
      return a === 0 || a === wmask || a + s.sizeBytes > 0x1_0000 ? undefined : a;
    }
    const lo = (vc.get32(at) & 0xffff_fff0) >>> 0;
    if (wmask !== 0 && lo === wmask) return undefined;
    const a = (s.mem64 ? vc.get32(at + 4) * TWO32 : 0) + lo;
    if (a === 0 || a + s.sizeBytes > kMaxAddress) return undefined;
    if (!s.mem64 && a + s.sizeBytes >= TWO32) return undefined;
    return a;
  }

  #recompute(initial = false): void {
    const mem: BarSlot[] = [];
    const io: BarSlot[] = [];
    const bars: GuestBar[] = [];
    const memOn = (this.#command & Command.MEMORY) !== 0;
    const ioOn = (this.#command & Command.IO) !== 0;
    const romOn = (this.#vc.get8(Cfg.ROM_ADDRESS) & 1) !== 0;
    for (const s of this.specs) {
      if (s === undefined) continue;
      const address = this.#address(s);
      const enabled = s.kind === 'io' ? ioOn : memOn && (s.index !== kRomIndex || romOn);
      const decoding = address !== undefined && enabled;
      if (decoding) (s.kind === 'io' ? io : mem).push({ spec: s, base: address, end: address + s.sizeBytes });
      bars.push(
        Object.freeze({
          index: s.index,
          kind: s.kind,
          mem64: s.mem64,
          prefetch: s.prefetch,
          sizeBytes: s.sizeBytes,
          address,
          decoding,
          ram: s.ram,
        }),
      );
    }
    const changed = initial || bars.some((b, i) => b.address !== this.#bars[i]?.address || b.decoding !== this.#bars[i]?.decoding);
    this.memSlots = mem;
    this.ioSlots = io;
    this.version++;
    if (!changed) return;
    this.#bars = Object.freeze(bars);
    if (!initial) this.#onChange(this.#bars);
  }
}

/** A BAR's type and size as probed from the device. */
export interface BarType {
  kind: 'memory' | 'io';
  mem64: boolean;
  prefetch: boolean;
  /** A power of two. */
  sizeBytes: number;
}

/**
 * Types and sizes of BARs 0–5: type bits from the device's BAR registers
 * (the dext answers them alone), sizes from its ports, rounded up to a power
 * of two (at least 16 bytes of memory, 4 of I/O). The upper half of a 64-bit
 * BAR is undefined.
 */
export function probeBarTypes(
  ports: readonly ({ readonly sizeBytes: number } | undefined)[],
  read: (off: number, w: 1 | 2 | 4) => number,
): (BarType | undefined)[] {
  const out: (BarType | undefined)[] = [];
  for (let i = 0; i < 6; i++) {
    const port = ports[i];
    if (port === undefined || !(port.sizeBytes > 0) || out[i - 1]?.mem64 === true) {
      out.push(undefined);
      continue;
    }
    const reg = read(Cfg.BAR0 + 4 * i, 4);
    const io = (reg & 1) !== 0;
    out.push({
      kind: io ? 'io' : 'memory',
      mem64: !io && (reg & 0x6) === 0x4 && i < 5,
      prefetch: !io && (reg & 0x8) !== 0,
      sizeBytes: pow2AtLeast(Math.max(port.sizeBytes, io ? 4 : 16)),
    });
  }
  return out;
}

/** The MSI-X table and PBA lie inside memory BARs of the function. */
export function msixFits(cap: MsixCapability, types: readonly (BarType | undefined)[]): boolean {
  const t = types[cap.tableBar];
  const p = types[cap.pbaBar];
  return (
    t !== undefined &&
    p !== undefined &&
    t.kind === 'memory' &&
    p.kind === 'memory' &&
    cap.tableOffset + cap.tableSize * 16 <= t.sizeBytes &&
    cap.pbaOffset + Math.ceil(cap.tableSize / 64) * 8 <= p.sizeBytes
  );
}

/** The smallest power of two ≥ n. */
export function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
