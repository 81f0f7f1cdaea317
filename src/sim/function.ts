/**
 * One simulated PCI function: the device model, its config space and BARs,
 * interrupt routing (MSI-X table and PBA, MSI, INTx), DMA through the
 * function's DART, reset, surprise removal, and the per-function dext state
 * (claim, opener, refs, connected user clients).
 */
import { BarType, IOReturn, type DextIdentity, type IrqWords } from '../dext/contract.js';
import { Cfg, CapId, Command, Msi, Msix, PCIE_CONFIG_BYTES, Status } from '../pci/config-space.js';
import { trace } from '../trace.js';
import type { AccessWidth, Bdf } from '../types.js';
import { parseBdf } from '../types.js';
import { SimConfigSpace } from './config-space.js';
import { SimDart } from './dart.js';
import { fail } from './fail.js';
import type { SimIrqState } from './irq-state.js';
import type { DeviceModel, ModelHost, SimRange } from './models/types.js';
import type { SimScheduler } from './scheduler.js';
import { HOST_PAGE_BYTES } from '../dext/contract.js';

/** Synthetic MSI doorbell address the sim's ConfigureInterrupts programs. */
const MSI_ADDRESS = 0xfee0_0000;

/** @internal What the function needs from a connected user client. */
export interface SimClientLink {
  readonly claimed: boolean;
  readonly irq: SimIrqState | undefined;
  /** Runs the user client's Stop (provider gone). */
  providerGone(): void;
}

/** @internal One implemented BAR. */
export interface SimBar {
  readonly index: number;
  /** Index among implemented BARs (`_CopyDeviceMemoryWithIndex`). */
  readonly memIdx: number;
  readonly sizeBytes: number;
  readonly type: number;
  /** Backing store, rounded up to 16 KiB (the mapping length). */
  readonly buffer: SharedArrayBuffer;
  readonly traps: readonly SimRange[];
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
}

/** Introspection view of a simulated function (device model + dext state). */
export interface SimFunction {
  readonly bdf: Bdf;
  /** Model name. */
  readonly kind: string;
  /** The device model (cast to EduModel etc. for model registers). */
  readonly device: DeviceModel;
  /** Live config bytes (4096). Read only. */
  readonly config: Uint8Array;
  /** DMA attempts that hit an unmapped bus address or a disabled bus master. */
  readonly dmaFaultCount: number;
  /** True after fallOffBus. */
  readonly fellOffBus: boolean;
  /** True while some client holds the claim (providerClaimed). */
  readonly providerClaimed: boolean;
  /** Number of claimed clients. */
  readonly refs: number;
  /** Connected user clients. */
  readonly clientCount: number;
  /** Live DART mappings (DMA regions' chunks and DMA buffers of every client). */
  readonly dartMappings: number;
  /** Resets done, in order. */
  readonly resetLog: readonly ('flr' | 'hot')[];
  /** Interrupts the model signalled (before routing). */
  readonly signalCount: number;
  /** Signals the device model: raises `vector` as the device would (through MSI-X/MSI/INTx routing). */
  raise(vector: number): void;
  /** The pending bits of the MSI-X PBA (MSI-X only), as 4 words. */
  msixPending(): IrqWords;
  /** Resets the function as an FLR or a secondary-bus (hot) reset would (what ResetDevice does to it). */
  reset(kind: 'flr' | 'hot'): void;
}

/** @internal */
export interface SimFunctionInit {
  bdf: Bdf;
  model: DeviceModel;
  barAddress: (index: number) => bigint;
  scheduler: SimScheduler;
  timing: { factorialDelayMs: number; dmaDelayMs: number };
  multiFunction: boolean;
}

interface MsixLayout {
  cap: number;
  entries: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** @internal Implementation of {@link SimFunction}. */
export class SimFunctionImpl implements SimFunction {
  readonly bdf: Bdf;
  readonly device: DeviceModel;
  readonly cfg = new SimConfigSpace();
  readonly dart = new SimDart();
  readonly bars = new Map<number, SimBar>();
  readonly clients: SimClientLink[] = [];
  readonly resetLog: ('flr' | 'hot')[] = [];
  readonly #powerOn: Uint8Array;
  readonly #scheduler: SimScheduler;
  readonly #msix: MsixLayout | undefined;
  #intxLevel = false;
  dmaFaultCount = 0;
  signalCount = 0;
  fellOffBus = false;
  terminated = false;
  providerClaimed = false;
  opener: SimClientLink | undefined;
  refs = 0;
  /** BARs whose descriptor has been copied once (the dext's BAR descriptor cache, per function here). */
  readonly barDescCache = new Set<number>();

  constructor(init: SimFunctionInit) {
    this.bdf = init.bdf;
    this.device = init.model;
    this.#scheduler = init.scheduler;
    this.device.buildConfig(this.cfg, init.barAddress);
    if (init.multiFunction) this.cfg.set(Cfg.HEADER_TYPE, 1, this.cfg.bytes[Cfg.HEADER_TYPE]! | 0x80);
    this.#msix = this.#findMsix();
    let memIdx = 0;
    for (const spec of this.device.bars) {
      const lengthBytes = Math.ceil(spec.sizeBytes / HOST_PAGE_BYTES) * HOST_PAGE_BYTES;
      const buffer = new SharedArrayBuffer(lengthBytes);
      const traps = [...spec.traps];
      const m = this.#msix;
      if (m !== undefined && m.tableBar === spec.index) traps.push({ offsetBytes: m.tableOffset, lengthBytes: m.entries * 16 });
      if (m !== undefined && m.pbaBar === spec.index) {
        traps.push({ offsetBytes: m.pbaOffset, lengthBytes: Math.ceil(m.entries / 64) * 8 });
      }
      this.bars.set(spec.index, {
        index: spec.index,
        memIdx: memIdx++,
        sizeBytes: spec.sizeBytes,
        type: spec.type,
        buffer,
        traps,
        u8: new Uint8Array(buffer),
        u16: new Uint16Array(buffer),
        u32: new Uint32Array(buffer),
        u64: new BigUint64Array(buffer),
      });
    }
    this.#powerOn = this.cfg.snapshot();
    this.#resetMsixTable();
    this.device.attach(this.#host(init.timing));
  }

  get kind(): string {
    return this.device.kind;
  }
  get config(): Uint8Array {
    return this.cfg.bytes;
  }
  get clientCount(): number {
    return this.clients.length;
  }
  get dartMappings(): number {
    return this.dart.size;
  }

  /** Selector 0's answer, read from config space as the dext does. */
  identity(): DextIdentity {
    const p = parseBdf(this.bdf);
    return {
      bus: p.bus,
      device: p.device,
      function: p.function,
      vendorId: this.configRead(Cfg.VENDOR_ID, 2),
      deviceId: this.configRead(Cfg.DEVICE_ID, 2),
      classCode: this.configRead(Cfg.REVISION_ID, 4) >>> 8,
    };
  }

  raise(vector: number): void {
    this.#signal(vector);
  }

  // ---- config space -------------------------------------------------------

  /** Raw config read: all ones when off the bus or past 4096. */
  configRead(offsetBytes: number, width: number): number {
    if (this.fellOffBus || offsetBytes < 0 || offsetBytes + width > PCIE_CONFIG_BYTES) {
      return width === 4 ? 0xffff_ffff : (1 << (8 * width)) - 1;
    }
    return this.cfg.read(offsetBytes, width);
  }

  /** Raw config write (selector 9) with the device's side effects. */
  configWrite(offsetBytes: number, width: number, value: number): void {
    if (this.fellOffBus) fail(IOReturn.NoDevice, 'device fell off the bus');
    if (offsetBytes < 0 || offsetBytes + width > PCIE_CONFIG_BYTES) fail(IOReturn.BadArgument, 'offset past 4096');
    const oldCommand = this.cfg.read(Cfg.COMMAND, 2);
    this.cfg.write(offsetBytes, width, value);
    const newCommand = this.cfg.read(Cfg.COMMAND, 2);
    if ((oldCommand & Command.INTX_DISABLE) !== 0 && (newCommand & Command.INTX_DISABLE) === 0 && this.#intxLevel) {
      this.#deliver(0);
    }
    const m = this.#msix;
    if (m !== undefined && offsetBytes <= m.cap + 3 && offsetBytes + width > m.cap + 2) this.#msixFlushPending();
  }

  // ---- BARs ---------------------------------------------------------------

  /** GetBARInfo: BadArgument for bar > 5, NotFound for an unimplemented BAR or a 64-bit upper half. */
  barInfo(bar: number): SimBar {
    if (!Number.isInteger(bar) || bar < 0 || bar > 5) fail(IOReturn.BadArgument, 'bar out of range');
    const b = this.bars.get(bar);
    if (b === undefined) fail(IOReturn.NotFound, 'BAR not implemented');
    return b;
  }

  /** BAR by memIdx (MMIORead/MMIOWrite). */
  barByMemIdx(memIdx: number): SimBar | undefined {
    for (const b of this.bars.values()) if (b.memIdx === memIdx) return b;
    return undefined;
  }

  /** Width-exact MMIO read (offset and alignment already checked). */
  mmioRead(bar: SimBar, offsetBytes: number, width: AccessWidth): bigint {
    if (this.fellOffBus) return width === 8 ? 0xffff_ffff_ffff_ffffn : BigInt((2 ** (8 * width)) - 1);
    const m = this.#msix;
    if (m !== undefined && this.#inMsix(m, bar.index, offsetBytes)) return plainRead(bar, offsetBytes, width);
    if (isTrapped(this.device.bars.find((s) => s.index === bar.index)?.traps ?? [], offsetBytes, width)) {
      return this.device.mmioRead(bar.index, offsetBytes, width);
    }
    return plainRead(bar, offsetBytes, width);
  }

  /** Width-exact MMIO write (offset and alignment already checked). Dropped when off the bus. */
  mmioWrite(bar: SimBar, offsetBytes: number, width: AccessWidth, value: bigint): void {
    if (this.fellOffBus) return;
    const m = this.#msix;
    if (m !== undefined && this.#inMsix(m, bar.index, offsetBytes)) {
      this.#msixWrite(m, bar, offsetBytes, width, value);
      return;
    }
    if (isTrapped(this.device.bars.find((s) => s.index === bar.index)?.traps ?? [], offsetBytes, width)) {
      this.device.mmioWrite(bar.index, offsetBytes, width, value);
      return;
    }
    plainWrite(bar, offsetBytes, width, value);
  }

  // ---- interrupts ---------------------------------------------------------

  /**
   * The host side of ConfigureInterrupts for `n` requested vectors: enables
   * MSI-X (programming and unmasking entries 0..n-1) or MSI (Multiple Message
   * Enable = log2 of what fits), else uses INTx. Returns how many vectors
   * registered (0 when the function has no interrupt at all).
   */
  configureInterrupts(n: number): number {
    const m = this.#msix;
    if (m !== undefined) {
      const count = Math.min(n, m.entries);
      const bar = this.bars.get(m.tableBar)!;
      for (let i = 0; i < count; i++) {
        const e = m.tableOffset + 16 * i;
        Atomics.store(bar.u32, e / 4, MSI_ADDRESS);
        Atomics.store(bar.u32, e / 4 + 1, 0);
        Atomics.store(bar.u32, e / 4 + 2, i);
        Atomics.store(bar.u32, e / 4 + 3, 0);
      }
      const flags = this.cfg.read(m.cap + Msix.FLAGS, 2);
      this.cfg.set(m.cap + Msix.FLAGS, 2, (flags | Msix.FLAGS_ENABLE) & ~Msix.FLAGS_MASKALL);
      this.#msixFlushPending();
      return count;
    }
    const msi = this.cfg.findCapability(CapId.MSI);
    if (msi !== 0) {
      const flags = this.cfg.read(msi + Msi.FLAGS, 2);
      const capable = Math.min(1 << ((flags & Msi.FLAGS_QMASK) >> 1), 32);
      let mme = 0;
      while (1 << (mme + 1) <= Math.min(n, capable)) mme++;
      const is64 = (flags & Msi.FLAGS_64BIT) !== 0;
      this.cfg.set(msi + Msi.ADDRESS_LO, 4, MSI_ADDRESS);
      if (is64) this.cfg.set(msi + 8, 4, 0);
      this.cfg.set(msi + (is64 ? 0x0c : 0x08), 2, 0);
      this.cfg.set(msi + Msi.FLAGS, 2, (flags & ~Msi.FLAGS_QSIZE) | (mme << 4) | Msi.FLAGS_ENABLE);
      return 1 << mme;
    }
    return this.cfg.bytes[Cfg.INTERRUPT_PIN] === 0 ? 0 : 1;
  }

  /** True when MSI or MSI-X is enabled. */
  msiEnabled(): boolean {
    const m = this.#msix;
    if (m !== undefined && (this.cfg.read(m.cap + Msix.FLAGS, 2) & Msix.FLAGS_ENABLE) !== 0) return true;
    const msi = this.cfg.findCapability(CapId.MSI);
    return msi !== 0 && (this.cfg.read(msi + Msi.FLAGS, 2) & Msi.FLAGS_ENABLE) !== 0;
  }

  msixPending(): IrqWords {
    const words: IrqWords = [0n, 0n, 0n, 0n];
    const m = this.#msix;
    if (m === undefined) return words;
    const bar = this.bars.get(m.pbaBar)!;
    for (let w = 0; w < Math.min(4, Math.ceil(m.entries / 64)); w++) words[w] = Atomics.load(bar.u64, m.pbaOffset / 8 + w);
    return words;
  }

  #signal(vector: number): void {
    this.signalCount++;
    if (this.fellOffBus) return;
    const m = this.#msix;
    if (m !== undefined) {
      const flags = this.cfg.read(m.cap + Msix.FLAGS, 2);
      if ((flags & Msix.FLAGS_ENABLE) !== 0) {
        if (vector < 0 || vector >= m.entries) return;
        const table = this.bars.get(m.tableBar)!;
        const masked = (flags & Msix.FLAGS_MASKALL) !== 0 || (Atomics.load(table.u32, (m.tableOffset + 16 * vector + 12) / 4) & 1) !== 0;
        if (masked) {
          const pba = this.bars.get(m.pbaBar)!;
          Atomics.or(pba.u64, m.pbaOffset / 8 + (vector >>> 6), 1n << BigInt(vector & 63));
          return;
        }
        this.#deliverMsi(vector);
        return;
      }
    }
    const msi = this.cfg.findCapability(CapId.MSI);
    if (msi !== 0) {
      const flags = this.cfg.read(msi + Msi.FLAGS, 2);
      if ((flags & Msi.FLAGS_ENABLE) !== 0) {
        if (vector >= 0 && vector < 1 << ((flags & Msi.FLAGS_QSIZE) >> 4)) this.#deliverMsi(vector);
        return;
      }
    }
    // Neither enabled: an INTx pulse on pin A.
    this.setIntx(true);
    this.setIntx(false);
  }

  /** INTx level: the rising edge delivers vector 0 unless COMMAND.INTX_DISABLE. */
  setIntx(level: boolean): void {
    if (this.fellOffBus || this.cfg.bytes[Cfg.INTERRUPT_PIN] === 0) return;
    const status = this.cfg.read(Cfg.STATUS, 2);
    if (level && !this.#intxLevel) {
      this.#intxLevel = true;
      this.cfg.set(Cfg.STATUS, 2, status | Status.INTERRUPT);
      if ((this.cfg.read(Cfg.COMMAND, 2) & Command.INTX_DISABLE) === 0) this.#deliver(0);
    } else if (!level && this.#intxLevel) {
      this.#intxLevel = false;
      this.cfg.set(Cfg.STATUS, 2, status & ~Status.INTERRUPT);
    }
  }

  #deliverMsi(vector: number): void {
    // An MSI is a memory write: it needs bus mastering.
    if ((this.cfg.read(Cfg.COMMAND, 2) & Command.MASTER) === 0) return;
    this.#deliver(vector);
  }

  #deliver(vector: number): void {
    trace('pcipt:irq:raise', { bdf: this.bdf, vector });
    for (const c of this.clients) c.irq?.occurred(vector);
  }

  #findMsix(): MsixLayout | undefined {
    const cap = this.cfg.findCapability(CapId.MSIX);
    if (cap === 0) return undefined;
    const table = this.cfg.read(cap + Msix.TABLE, 4);
    const pba = this.cfg.read(cap + Msix.PBA, 4);
    const layout = {
      cap,
      entries: (this.cfg.read(cap + Msix.FLAGS, 2) & Msix.FLAGS_QSIZE) + 1,
      tableBar: table & Msix.BIR_MASK,
      tableOffset: table & ~Msix.BIR_MASK,
      pbaBar: pba & Msix.BIR_MASK,
      pbaOffset: pba & ~Msix.BIR_MASK,
    };
    const ok = (bar: number, end: number) => {
      const spec = this.device.bars.find((b) => b.index === bar);
      return spec !== undefined && end <= spec.sizeBytes;
    };
    if (!ok(layout.tableBar, layout.tableOffset + 16 * layout.entries) || !ok(layout.pbaBar, layout.pbaOffset + 8)) return undefined;
    return layout;
  }

  #inMsix(m: MsixLayout, bar: number, off: number): boolean {
    if (bar === m.tableBar && off >= m.tableOffset && off < m.tableOffset + 16 * m.entries) return true;
    return bar === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + Math.ceil(m.entries / 64) * 8;
  }

  #msixWrite(m: MsixLayout, bar: SimBar, off: number, width: AccessWidth, value: bigint): void {
    if (bar.index === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + Math.ceil(m.entries / 64) * 8) return; // PBA is read-only
    plainWrite(bar, off, width, value);
    this.#msixFlushPending();
  }

  /** Delivers pending PBA vectors whose entries are now unmasked (function enabled, not masked). */
  #msixFlushPending(): void {
    const m = this.#msix;
    if (m === undefined) return;
    const flags = this.cfg.read(m.cap + Msix.FLAGS, 2);
    if ((flags & Msix.FLAGS_ENABLE) === 0 || (flags & Msix.FLAGS_MASKALL) !== 0) return;
    const pba = this.bars.get(m.pbaBar)!;
    const table = this.bars.get(m.tableBar)!;
    for (let w = 0; w < Math.ceil(m.entries / 64); w++) {
      let bits = Atomics.load(pba.u64, m.pbaOffset / 8 + w);
      while (bits !== 0n) {
        const b = ctz64(bits);
        bits &= bits - 1n;
        const v = 64 * w + b;
        if ((Atomics.load(table.u32, (m.tableOffset + 16 * v + 12) / 4) & 1) !== 0) continue;
        Atomics.and(pba.u64, m.pbaOffset / 8 + w, ~(1n << BigInt(b)) & 0xffff_ffff_ffff_ffffn);
        this.#deliverMsi(v);
      }
    }
  }

  #resetMsixTable(): void {
    const m = this.#msix;
    if (m === undefined) return;
    const table = this.bars.get(m.tableBar)!;
    for (let i = 0; i < m.entries; i++) {
      const e = (m.tableOffset + 16 * i) / 4;
      Atomics.store(table.u32, e, 0);
      Atomics.store(table.u32, e + 1, 0);
      Atomics.store(table.u32, e + 2, 0);
      Atomics.store(table.u32, e + 3, 1); // masked at power-on
    }
    const pba = this.bars.get(m.pbaBar)!;
    for (let w = 0; w < Math.ceil(m.entries / 64); w++) Atomics.store(pba.u64, m.pbaOffset / 8 + w, 0n);
  }

  // ---- DMA ----------------------------------------------------------------

  #dmaAllowed(): boolean {
    return !this.fellOffBus && (this.cfg.read(Cfg.COMMAND, 2) & Command.MASTER) !== 0;
  }

  /** Device reads host memory through the DART. */
  dmaRead(busAddr: bigint, lengthBytes: number): Uint8Array | undefined {
    const pieces = this.#dmaAllowed() ? this.dart.translate(busAddr, lengthBytes) : undefined;
    if (pieces === undefined) {
      this.dmaFaultCount++;
      return undefined;
    }
    const out = new Uint8Array(lengthBytes);
    let at = 0;
    for (const p of pieces) {
      out.set(new Uint8Array(p.buffer, p.bufferOffsetBytes, p.lengthBytes), at);
      at += p.lengthBytes;
    }
    return out;
  }

  /** Device writes host memory through the DART. */
  dmaWrite(busAddr: bigint, data: Uint8Array): boolean {
    const pieces = this.#dmaAllowed() ? this.dart.translate(busAddr, data.length) : undefined;
    if (pieces === undefined) {
      this.dmaFaultCount++;
      return false;
    }
    let at = 0;
    for (const p of pieces) {
      new Uint8Array(p.buffer, p.bufferOffsetBytes, p.lengthBytes).set(data.subarray(at, at + p.lengthBytes));
      at += p.lengthBytes;
    }
    return true;
  }

  // ---- reset and removal ----------------------------------------------------

  /**
   * Resets the device model and config space to power-on, then restores what
   * IOPCIDevice::Reset saves around a reset (header: COMMAND, cache line,
   * latency, BARs, ROM, interrupt line; MSI/MSI-X and PCIe DevCtl state; the
   * MSI-X table). Device registers, scratch and the PBA come back at power-on.
   */
  reset(kind: 'flr' | 'hot'): void {
    const saved = this.cfg.snapshot();
    const m = this.#msix;
    const table = m === undefined ? undefined : this.bars.get(m.tableBar)!.u8.slice(m.tableOffset, m.tableOffset + 16 * m.entries);
    this.device.reset();
    this.cfg.load(this.#powerOn);
    const keep = (off: number, len: number) => this.cfg.bytes.set(saved.subarray(off, off + len), off);
    keep(Cfg.COMMAND, 2);
    keep(Cfg.CACHE_LINE_SIZE, 2);
    keep(Cfg.BAR0, 24);
    keep(Cfg.ROM_ADDRESS, 4);
    keep(Cfg.INTERRUPT_LINE, 1);
    this.cfg.bytes[Cfg.HEADER_TYPE] = saved[Cfg.HEADER_TYPE]!;
    const msi = this.cfg.findCapability(CapId.MSI);
    if (msi !== 0) keep(msi + 2, 22);
    if (m !== undefined) keep(m.cap + 2, 2);
    const exp = this.cfg.findCapability(CapId.EXP);
    if (exp !== 0) keep(exp + 8, 2);
    this.#intxLevel = false;
    this.#resetMsixTable();
    if (m !== undefined && table !== undefined) this.bars.get(m.tableBar)!.u8.set(table, m.tableOffset);
    this.resetLog.push(kind);
  }

  /** Surprise removal: config and MMIO read all ones, writes dropped, DMA and interrupts stop. */
  fallOff(): void {
    this.fellOffBus = true;
    for (const b of this.bars.values()) b.u8.fill(0xff);
  }

  #host(timing: { factorialDelayMs: number; dmaDelayMs: number }): ModelHost {
    return {
      bdf: this.bdf,
      config: this.cfg,
      timing,
      signal: (v) => this.#signal(v),
      setIntx: (level) => this.setIntx(level),
      msiEnabled: () => this.msiEnabled(),
      dmaRead: (a, n) => this.dmaRead(a, n),
      dmaWrite: (a, d) => this.dmaWrite(a, d),
      schedule: (ms, fn) => this.#scheduler.after(ms, fn),
      barBuffer: (i) => this.bars.get(i)!.buffer,
    };
  }
}

/** BAR type bits GetBARInfo reports (what ConfigRead synthesises at 0x10–0x24). */
export function barTypeBits(type: number): number {
  return type & (BarType.io | BarType.mem64 | BarType.prefetch);
}

function isTrapped(traps: readonly SimRange[], off: number, width: number): boolean {
  for (const t of traps) if (off < t.offsetBytes + t.lengthBytes && off + width > t.offsetBytes) return true;
  return false;
}

/** @internal Plain little-endian load from a BAR's store (naturally aligned). */
export function plainRead(bar: SimBar, off: number, width: AccessWidth): bigint {
  switch (width) {
    case 1:
      return BigInt(Atomics.load(bar.u8, off));
    case 2:
      return BigInt(Atomics.load(bar.u16, off >> 1));
    case 4:
      return BigInt(Atomics.load(bar.u32, off >> 2));
    default:
      return Atomics.load(bar.u64, off >> 3);
  }
}

/** @internal Plain little-endian store to a BAR's store (naturally aligned). */
export function plainWrite(bar: SimBar, off: number, width: AccessWidth, value: bigint): void {
  switch (width) {
    case 1:
      Atomics.store(bar.u8, off, Number(value & 0xffn));
      return;
    case 2:
      Atomics.store(bar.u16, off >> 1, Number(value & 0xffffn));
      return;
    case 4:
      Atomics.store(bar.u32, off >> 2, Number(value & 0xffff_ffffn));
      return;
    default:
      Atomics.store(bar.u64, off >> 3, BigInt.asUintN(64, value));
  }
}

/** Count of trailing zeros of a non-zero 64-bit word. */
function ctz64(x: bigint): number {
  const lo = Number(x & 0xffff_ffffn);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Number((x >> 32n) & 0xffff_ffffn);
  return 32 + 31 - Math.clz32(hi & -hi);
}
