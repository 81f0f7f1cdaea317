/**
 * One simulated PCI function: the device model, its config space and BARs
 * (bar-store.ts), interrupt routing (MSI, INTx; the MSI-X table and PBA in
 * msix-emulation.ts), DMA through the function's DART, reset, surprise
 * removal, and the per-function dext state (claim, opener, refs, connected
 * user clients).
 */
import { IOReturn, type DextIdentity, type IrqWords } from '../dext/contract.js';
import { Cfg, CapId, Command, Msi, PCIE_CONFIG_BYTES, Status } from '../pci/config-space.js';
import { trace } from '../trace.js';
import type { AccessWidth, Bdf } from '../types.js';
import { parseBdf } from '../types.js';
import { allocateBarStore, plainRead, plainWrite, type SimBar } from './bar-store.js';
import { SimConfigSpace } from './config-space.js';
import { MSI_ADDRESS, SimMsix } from './msix-emulation.js';
import { SimDart } from './dart.js';
import { fail } from './fail.js';
import type { SimIrqState } from './irq-state.js';
import type { DeviceModel, ModelHost, SimRange } from './models/types.js';
import type { SimScheduler } from './scheduler.js';
import { HOST_PAGE_BYTES } from '../dext/contract.js';


/** @internal What the function needs from a connected user client. */
export interface SimClientLink {
  readonly claimed: boolean;
  readonly irq: SimIrqState | undefined;
  /** Runs the user client's Stop (provider gone). */
  providerGone(): void;
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
  readonly #msix: SimMsix | undefined;
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
    const layout = SimMsix.layout(this.cfg, this.device.bars);
    let memIdx = 0;
    for (const spec of this.device.bars) {
      const lengthBytes = Math.ceil(spec.sizeBytes / HOST_PAGE_BYTES) * HOST_PAGE_BYTES;
      this.bars.set(spec.index, {
        index: spec.index,
        memIdx: memIdx++,
        sizeBytes: spec.sizeBytes,
        type: spec.type,
        traps: [...spec.traps, ...SimMsix.traps(layout, spec.index)],
        ...allocateBarStore(this.bdf, spec.index, lengthBytes),
      });
    }
    this.#msix = layout === undefined ? undefined : SimMsix.create(this.cfg, layout, this.bars, (v) => this.#deliverMsi(v));
    this.#powerOn = this.cfg.snapshot();
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
    if (m !== undefined && offsetBytes <= m.controlOffset + 1 && offsetBytes + width > m.controlOffset) m.flush();
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
    if (this.#msix?.contains(bar.index, offsetBytes) === true) return plainRead(bar, offsetBytes, width);
    if (isTrapped(this.device.bars.find((s) => s.index === bar.index)?.traps ?? [], offsetBytes, width)) {
      return this.device.mmioRead(bar.index, offsetBytes, width);
    }
    return plainRead(bar, offsetBytes, width);
  }

  /** Width-exact MMIO write (offset and alignment already checked). Dropped when off the bus. */
  mmioWrite(bar: SimBar, offsetBytes: number, width: AccessWidth, value: bigint): void {
    if (this.fellOffBus) return;
    const m = this.#msix;
    if (m !== undefined && m.contains(bar.index, offsetBytes)) {
      m.write(bar, offsetBytes, width, value);
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
    if (this.#msix !== undefined) return this.#msix.configure(n);
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
    if (this.#msix?.enabled === true) return true;
    const msi = this.cfg.findCapability(CapId.MSI);
    return msi !== 0 && (this.cfg.read(msi + Msi.FLAGS, 2) & Msi.FLAGS_ENABLE) !== 0;
  }

  msixPending(): IrqWords {
    return this.#msix?.pending() ?? [0n, 0n, 0n, 0n];
  }

  #signal(vector: number): void {
    this.signalCount++;
    if (this.fellOffBus) return;
    if (this.#msix?.enabled === true) {
      this.#msix.signal(vector);
      return;
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
    const table = m?.tableBytes();
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
    if (m !== undefined) keep(m.controlOffset, 2);
    const exp = this.cfg.findCapability(CapId.EXP);
    if (exp !== 0) keep(exp + 8, 2);
    this.#intxLevel = false;
    m?.reset();
    if (m !== undefined && table !== undefined) m.restoreTable(table);
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

function isTrapped(traps: readonly SimRange[], off: number, width: number): boolean {
  for (const t of traps) if (off < t.offsetBytes + t.lengthBytes && off + width > t.offsetBytes) return true;
  return false;
}
