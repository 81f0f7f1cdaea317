/**
 * The guest's memory and I/O accesses: route by guest address to a decoding
 * BAR (bars.ts), then one width-exact access on its port (a BarWindow: one
 * Atomics load or store on shared memory, or the worker's slow path for
 * trapped ranges). The layer's own ranges answer instead of the device: the
 * MSI-X table and PBA (msix.ts) and the expansion ROM (rom.ts).
 *
 * Hot path: find the BAR (a scan of at most 7 decoding BARs), one range
 * check, the port call. Nothing allocates and nothing waits on a message.
 * Accesses that are not naturally aligned, or run past the end of their
 * BAR, are split into byte accesses (bytes past the end read 0xff, writes
 * there are ignored); so are accesses that straddle the MSI-X table or PBA.
 * An address no decoding BAR claims reads all ones and ignores writes (a
 * master abort on a real bus) and is counted.
 */
import { PassthroughError } from '../errors.js';
import { type BarEmulation, type BarSlot, kRomIndex } from './bars.js';
import type { GuestFunctionStats } from './contract.js';
import type { IntxEmulation } from './intx.js';
import type { MsixEmulation } from './msix.js';
import type { RomImage } from './rom.js';
import type { GuestBarPort } from './device.js';

type Width = 1 | 2 | 4 | 8;

/** Everything an access may touch. */
export interface AccessContext {
  bars: BarEmulation;
  msix: MsixEmulation | undefined;
  rom: RomImage;
  intx: IntxEmulation;
  stats: GuestFunctionStats;
  /** End a pending INTx on the guest's next BAR access (vfio's behaviour). */
  eoiOnBarAccess: boolean;
}

/** Reads and writes by guest address. */
export class GuestAccess {
  readonly #c: AccessContext;
  readonly #bars: BarEmulation;
  readonly #intx: IntxEmulation;
  readonly #eoiOnBar: boolean;
  /**
   * The last plain memory BAR an access hit (no layer range in it): base,
   * size and port, valid while the routing version is `#hitVersion`. An
   * access inside it, naturally aligned, skips the routing scan.
   */
  #hitVersion = -1;
  #hitBase = 0;
  #hitSize = 0;
  #hitPort: GuestBarPort | null = null;

  constructor(ctx: AccessContext) {
    this.#c = ctx;
    this.#bars = ctx.bars;
    this.#intx = ctx.intx;
    this.#eoiOnBar = ctx.eoiOnBarAccess;
  }

  /** Memory read of 1, 2 or 4 bytes at guest physical address `gpa`. */
  readMem(gpa: number, size: 1 | 2 | 4): number {
    if (size !== 4 && size !== 2 && size !== 1) badWidth(size, 'memory');
    const off = gpa - this.#hitBase;
    const p = this.#hitPort;
    let v: number;
    if (p !== null && this.#hitVersion === this.#bars.version && off >= 0 && off + size <= this.#hitSize && (off & (size - 1)) === 0) {
      v = size === 4 ? p.read32(off) : size === 2 ? p.read16(off) : p.read8(off);
    } else {
      v = this.#readMemRouted(gpa, size);
    }
    if (this.#eoiOnBar && this.#intx.pending) this.#intx.eoi();
    return v;
  }

  /** Memory write of 1, 2 or 4 bytes. */
  writeMem(gpa: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 && size !== 2 && size !== 1) badWidth(size, 'memory');
    const off = gpa - this.#hitBase;
    const p = this.#hitPort;
    if (p !== null && this.#hitVersion === this.#bars.version && off >= 0 && off + size <= this.#hitSize && (off & (size - 1)) === 0) {
      if (size === 4) p.write32(off, value);
      else if (size === 2) p.write16(off, value);
      else p.write8(off, value);
    } else {
      this.#writeMemRouted(gpa, size, value);
    }
    if (this.#eoiOnBar && this.#intx.pending) this.#intx.eoi();
  }

  #readMemRouted(gpa: number, size: 1 | 2 | 4): number {
    const slot = this.#route(gpa);
    if (slot === undefined) return this.#unroutedRead(size);
    const off = gpa - slot.base;
    const s = slot.spec;
    if (s.special || (off & (size - 1)) !== 0 || off + size > s.sizeBytes) return Number(this.#read(slot, off, size));
    const p = s.port!;
    return size === 4 ? p.read32(off) : size === 2 ? p.read16(off) : p.read8(off);
  }

  #writeMemRouted(gpa: number, size: 1 | 2 | 4, value: number): void {
    const slot = this.#route(gpa);
    if (slot === undefined) {
      this.#c.stats.unrouted++;
      return;
    }
    const off = gpa - slot.base;
    const s = slot.spec;
    if (s.special || (off & (size - 1)) !== 0 || off + size > s.sizeBytes) {
      this.#write(slot, off, size, BigInt(size === 4 ? value >>> 0 : value & ((1 << (8 * size)) - 1)));
      return;
    }
    const p = s.port!;
    if (size === 4) p.write32(off, value);
    else if (size === 2) p.write16(off, value);
    else p.write8(off, value);
  }

  /** The decoding memory BAR holding `gpa`; remembers it when it is plain memory. */
  #route(gpa: number): BarSlot | undefined {
    const slot = this.#bars.findMem(gpa);
    if (slot !== undefined && !slot.spec.special && slot.spec.port !== undefined) {
      this.#hitVersion = this.#bars.version;
      this.#hitBase = slot.base;
      this.#hitSize = slot.spec.sizeBytes;
      this.#hitPort = slot.spec.port;
    }
    return slot;
  }

  /** Memory read of 8 bytes. */
  readMem64(gpa: number): bigint {
    const slot = this.#route(gpa);
    if (slot === undefined) {
      this.#c.stats.unrouted++;
      return 0xffff_ffff_ffff_ffffn;
    }
    const off = gpa - slot.base;
    const s = slot.spec;
    const v = s.special || (off & 7) !== 0 || off + 8 > s.sizeBytes ? this.#read(slot, off, 8) : s.port!.read64(off);
    this.#after();
    return v;
  }

  /** Memory write of 8 bytes. */
  writeMem64(gpa: number, value: bigint): void {
    const slot = this.#route(gpa);
    if (slot === undefined) {
      this.#c.stats.unrouted++;
      return;
    }
    const off = gpa - slot.base;
    const s = slot.spec;
    if (s.special || (off & 7) !== 0 || off + 8 > s.sizeBytes) this.#write(slot, off, 8, BigInt.asUintN(64, value));
    else s.port!.write64(off, value);
    this.#after();
  }

  /** Port read of 1, 2 or 4 bytes. */
  readIo(port: number, size: 1 | 2 | 4): number {
    if (size !== 4 && size !== 2 && size !== 1) badWidth(size, 'I/O');
    const slot = this.#c.bars.findIo(port);
    if (slot === undefined) return this.#unroutedRead(size);
    const v = Number(this.#read(slot, port - slot.base, size));
    this.#after();
    return v;
  }

  /** Port write of 1, 2 or 4 bytes. */
  writeIo(port: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 && size !== 2 && size !== 1) badWidth(size, 'I/O');
    const slot = this.#c.bars.findIo(port);
    if (slot === undefined) {
      this.#c.stats.unrouted++;
      return;
    }
    this.#write(slot, port - slot.base, size, BigInt(size === 4 ? value >>> 0 : value & ((1 << (8 * size)) - 1)));
    this.#after();
  }

  #after(): void {
    const c = this.#c;
    if (c.eoiOnBarAccess && c.intx.pending) c.intx.eoi();
  }

  #unroutedRead(size: 1 | 2 | 4): number {
    this.#c.stats.unrouted++;
    return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  /** Any read inside `slot`: the layer's ranges, splits, then the port. */
  #read(slot: BarSlot, off: number, size: Width): bigint {
    const s = slot.spec;
    if ((off & (size - 1)) !== 0 || off + size > s.sizeBytes) return this.#splitRead(slot, off, size);
    if (s.index === kRomIndex) return this.#c.rom.read(off, size);
    const m = this.#c.msix;
    if (m !== undefined) {
      const r = rangeOf(m, s.index, off, size);
      if (r === kTable) return m.readTable(off - m.tableOffset, size);
      if (r === kPba) return m.readPba(off - m.pbaOffset, size);
      if (r === kStraddle) return this.#splitRead(slot, off, size);
    }
    const p = s.port!;
    switch (size) {
      case 1:
        return BigInt(p.read8(off));
      case 2:
        return BigInt(p.read16(off));
      case 4:
        return BigInt(p.read32(off) >>> 0);
      default:
        return p.read64(off);
    }
  }

  #write(slot: BarSlot, off: number, size: Width, value: bigint): void {
    const s = slot.spec;
    if ((off & (size - 1)) !== 0 || off + size > s.sizeBytes) {
      this.#splitWrite(slot, off, size, value);
      return;
    }
    if (s.index === kRomIndex) return; // ROM writes are ignored
    const m = this.#c.msix;
    if (m !== undefined) {
      const r = rangeOf(m, s.index, off, size);
      if (r === kTable) return m.writeTable(off - m.tableOffset, size, value);
      if (r === kPba) return; // the PBA is read-only
      if (r === kStraddle) return this.#splitWrite(slot, off, size, value);
    }
    const p = s.port!;
    switch (size) {
      case 1:
        return p.write8(off, Number(value));
      case 2:
        return p.write16(off, Number(value));
      case 4:
        return p.write32(off, Number(value));
      default:
        return p.write64(off, value);
    }
  }

  #splitRead(slot: BarSlot, off: number, size: Width): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const at = off + i;
      v = (v << 8n) | (at >= 0 && at < slot.spec.sizeBytes ? this.#read(slot, at, 1) : 0xffn);
    }
    return v;
  }

  #splitWrite(slot: BarSlot, off: number, size: Width, value: bigint): void {
    for (let i = 0; i < size; i++) {
      const at = off + i;
      if (at >= 0 && at < slot.spec.sizeBytes) this.#write(slot, at, 1, (value >> BigInt(8 * i)) & 0xffn);
    }
  }
}

const kNone = 0;
const kTable = 1;
const kPba = 2;
const kStraddle = 3;

/** Where `[off, off+size)` of BAR `bar` falls with respect to the MSI-X table and PBA. */
function rangeOf(m: MsixEmulation, bar: number, off: number, size: number): number {
  const end = off + size;
  if (bar === m.tableBar && off < m.tableOffset + m.tableBytes && end > m.tableOffset) {
    return off >= m.tableOffset && end <= m.tableOffset + m.tableBytes ? kTable : kStraddle;
  }
  if (bar === m.pbaBar && off < m.pbaOffset + m.pbaBytes && end > m.pbaOffset) {
    return off >= m.pbaOffset && end <= m.pbaOffset + m.pbaBytes ? kPba : kStraddle;
  }
  return kNone;
}

function badWidth(size: number, space: string): never {
  throw new PassthroughError('PT_ERR_BAD_WIDTH', `${space} access width ${size} is not 1, 2 or 4`, { width: size });
}
