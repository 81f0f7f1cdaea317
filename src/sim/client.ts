/**
 * The simulated dext's user client (one per connect(), like one
 * `IOServiceOpen`): all 18 selectors, memory maps, and Stop. Each client has
 * its own claimed flag, DMA registry, DMA buffer and IRQ state; claim state
 * shared by the clients of one function lives in SimFunctionImpl.
 *
 * DEVIATION from the real dext (see DEVIATIONS.md): when the opener closes
 * while other clients still hold claims, the function stays open and the
 * opener role passes to the oldest remaining claimed client. The real dext
 * closes the provider and strands them (spec §5, §9).
 */
import {
  GATED_SELECTORS,
  IOReturn,
  IrqPage,
  MAX_DMA_BUFFER_BYTES,
  MemoryType,
  SELECTOR_NAMES,
  Selector,
  type BarInfo,
  type DextClient,
  type DextIdentity,
  type DmaBufferInfo,
  type DmaLimits,
  type DmaRegionInfo,
  type InterruptWait,
  type IrqWords,
  type MappedMemory,
} from '../dext/contract.js';
import { closedConnectionError, dextError, mapMemoryError } from '../dext/kern-return.js';
import { BarBits, CapId, Cfg, Msi, Msix } from '../pci/config-space.js';
import { trace } from '../trace.js';
import type { AccessWidth, Bdf } from '../types.js';
import type { DartEntry } from './dart.js';
import { SimDmaRegistry } from './dma-registry.js';
import { fail, SimFail } from './fail.js';
import type { SimFaultsImpl } from './faults.js';
import type { SimClientLink, SimFunctionImpl } from './function.js';
import type { SimHostMemoryImpl } from './host-memory.js';
import { SimIrqState } from './irq-state.js';
import { plainStore, SimMapping } from './mapping.js';

/** `kIOMemoryDirectionInOut`: the DMA flags the sim reports for AllocateDMABuffer. */
const kDmaFlagsInOut = 3n;

/** @internal What a client needs from its dext. */
export interface SimDextContext {
  readonly hostMemory: SimHostMemoryImpl;
  readonly faults: SimFaultsImpl;
  readonly dmaLimits: DmaLimits;
  /** Every instantiated function of the slot (domain:bus:device) of `bdf`, for hot reset. */
  slotFunctions(bdf: Bdf): SimFunctionImpl[];
  /** A hot reset of `bdf`'s slot happened (after the instantiated functions were reset). */
  slotReset(bdf: Bdf): void;
  /** Called by close(). */
  forget(client: SimDextClientImpl): void;
}

/** @internal Implementation of {@link DextClient}. */
export class SimDextClientImpl implements DextClient, SimClientLink {
  readonly bdf: Bdf;
  connected = true;
  claimed = false;
  irq: SimIrqState | undefined;
  readonly #fn: SimFunctionImpl;
  readonly #ctx: SimDextContext;
  readonly #registry: SimDmaRegistry;
  #dmaBuffer: { buffer: SharedArrayBuffer; entry: DartEntry } | undefined;
  readonly #mappings = new Map<bigint, SimMapping>();

  constructor(fn: SimFunctionImpl, ctx: SimDextContext) {
    this.bdf = fn.bdf;
    this.#fn = fn;
    this.#ctx = ctx;
    this.#registry = new SimDmaRegistry(ctx.dmaLimits, ctx.hostMemory, fn.dart);
    fn.clients.push(this);
  }

  /** The DMA registry (introspection). */
  get dmaRegistry(): SimDmaRegistry {
    return this.#registry;
  }

  /** True when this client is the function's opener. */
  get isOpener(): boolean {
    return this.#fn.opener === this;
  }

  // ---- selectors ----------------------------------------------------------

  getIdentity(): DextIdentity {
    return this.#call(Selector.GetIdentity, () => this.#fn.identity());
  }

  claim(): void {
    this.#call(Selector.Claim, () => {
      if (this.claimed) return;
      const fn = this.#fn;
      this.#touch();
      if (!fn.providerClaimed) {
        // Opener: IOPCIDevice::Open, then COMMAND |= memory + bus master, written only if changed.
        const cmd = fn.cfg.read(Cfg.COMMAND, 2);
        if ((cmd | 0x06) !== cmd) fn.configWrite(Cfg.COMMAND, 2, cmd | 0x06);
        fn.providerClaimed = true;
        fn.opener = this;
      }
      fn.refs++;
      this.claimed = true;
    });
  }

  terminate(): void {
    this.#call(Selector.Terminate, () => {
      // Driver Terminate(0): the service goes away; every user client's Stop runs.
      const fn = this.#fn;
      fn.terminated = true;
      for (const c of [...fn.clients]) c.providerGone();
    });
  }

  allocateDmaBuffer(sizeBytes: bigint, alignBytes: bigint): DmaBufferInfo {
    return this.#call(Selector.AllocateDMABuffer, () => {
      this.#touch();
      if (sizeBytes === 0n || sizeBytes > BigInt(MAX_DMA_BUFFER_BYTES)) fail(IOReturn.BadArgument, 'size');
      const align = alignBytes === 0n ? 4096n : alignBytes;
      if ((align & (align - 1n)) !== 0n || align > 1n << 32n) fail(IOReturn.BadArgument, 'align');
      this.#freeDmaBuffer();
      let buffer: SharedArrayBuffer;
      try {
        buffer = new SharedArrayBuffer(Math.ceil(Number(sizeBytes) / IrqPage.sizeBytes) * IrqPage.sizeBytes);
      } catch {
        fail(IOReturn.NoMemory, 'allocation failed');
      }
      const entry = this.#fn.dart.map(buffer, 0, Number(sizeBytes), 0, Number(align));
      if (entry === undefined) fail(IOReturn.NoMemory, 'IOVA space exhausted');
      this.#dmaBuffer = { buffer, entry };
      return {
        sizeBytes,
        dmaFlags: kDmaFlagsInOut,
        segmentCount: 1,
        seg0Addr: entry.busAddr,
        seg0Len: sizeBytes,
        class: BigInt(this.#fn.identity().classCode), // the real dext answers the identity's class code here
      };
    });
  }

  freeDmaBuffer(): void {
    this.#call(Selector.FreeDMABuffer, () => this.#freeDmaBuffer());
  }

  // pcipt:dma:map / pcipt:dma:unmap belong to the ops layer (apple-iommu-ops, dma-companion), as in QEMU;
  // the sim reports these selectors on pcipt:dext:call only, like the real client.
  registerDmaRegion(key: bigint, clientVa: bigint, sizeBytes: bigint): DmaRegionInfo {
    return this.#call(Selector.RegisterDMARegion, () => {
      this.#touch();
      return this.#registry.register(key, clientVa, sizeBytes);
    });
  }

  unregisterDmaRegion(key: bigint): void {
    this.#call(Selector.UnregisterDMARegion, () => this.#registry.unregister(key));
  }

  probeDmaRegion(key: bigint, offsetBytes: bigint): bigint {
    return this.#call(Selector.ProbeDMARegion, () => this.#registry.probe(key, offsetBytes));
  }

  configRead(offsetBytes: number, width: number): number {
    return this.#call(Selector.ConfigRead, () => {
      if (width !== 1 && width !== 2 && width !== 4) fail(IOReturn.BadArgument, 'width');
      // BAR synthesis: an aligned dword at 0x10–0x24 answers the BAR type bits only.
      if (width === 4 && offsetBytes >= Cfg.BAR0 && offsetBytes <= Cfg.BAR5 && offsetBytes % 4 === 0) {
        const bar = this.#fn.bars.get((offsetBytes - Cfg.BAR0) / 4);
        return bar === undefined || bar.sizeBytes === 0 ? 0 : bar.type & (BarBits.IO_SPACE | BarBits.MEM_TYPE_64 | BarBits.MEM_PREFETCH);
      }
      return this.#fn.configRead(offsetBytes, width);
    });
  }

  configWrite(offsetBytes: number, width: number, value: number): void {
    this.#call(Selector.ConfigWrite, () => {
      if (width !== 1 && width !== 2 && width !== 4) fail(IOReturn.BadArgument, 'width');
      this.#fn.configWrite(offsetBytes, width, value >>> 0);
    });
  }

  getBarInfo(bar: number): BarInfo {
    return this.#call(Selector.GetBARInfo, () => {
      const b = this.#fn.barInfo(bar);
      return { memIdx: b.memIdx, sizeBytes: BigInt(b.sizeBytes), type: b.type };
    });
  }

  mmioRead(memIdx: number, offsetBytes: bigint, width: number): bigint {
    return this.#call(Selector.MMIORead, () => {
      const { bar, off } = this.#mmioTarget(memIdx, offsetBytes, width);
      return this.#fn.mmioRead(bar, off, width as AccessWidth);
    });
  }

  mmioWrite(memIdx: number, offsetBytes: bigint, width: number, value: bigint): void {
    this.#call(Selector.MMIOWrite, () => {
      const { bar, off } = this.#mmioTarget(memIdx, offsetBytes, width);
      this.#fn.mmioWrite(bar, off, width as AccessWidth, value);
    });
  }

  setupInterrupts(): number {
    return this.#call(Selector.SetupInterrupts, () => {
      this.#touch();
      if (this.irq !== undefined) fail(IOReturn.StillOpen, 'already set up');
      const cfg = this.#fn.cfg;
      let n = 1;
      const msix = cfg.findCapability(CapId.MSIX);
      const msi = cfg.findCapability(CapId.MSI);
      if (msix !== 0) n = (cfg.read(msix + Msix.FLAGS, 2) & Msix.FLAGS_QSIZE) + 1;
      else if (msi !== 0) n = 1 << ((cfg.read(msi + Msi.FLAGS, 2) >> 1) & 7);
      if (n === 0 || n > 256) n = 256;
      const registered = this.#fn.configureInterrupts(n);
      if (registered === 0) fail(IOReturn.NotFound, 'no interrupt registered');
      this.irq = new SimIrqState(registered);
      return registered;
    });
  }

  checkInterrupt(): IrqWords {
    return this.#call(Selector.CheckInterrupt, () => this.#irq().check());
  }

  waitInterrupt(): InterruptWait {
    return this.#call(Selector.WaitInterrupt, () => this.#irq().wait());
  }

  setIrqMask(mask: IrqWords): void {
    this.#call(Selector.SetIRQMask, () => {
      const irq = this.#irq();
      if (!Array.isArray(mask) || mask.length !== 4 || mask.some((w) => typeof w !== 'bigint')) {
        fail(IOReturn.BadArgument, 'mask must be 4 bigint words');
      }
      irq.setMask(mask); // pcipt:irq:mask is the ops layer's (apple_vfio_update_irq_mask)
    });
  }

  resetDevice(): void {
    this.#call(Selector.ResetDevice, () => {
      this.#touch();
      const fn = this.#fn;
      const faults = this.#ctx.faults;
      const flrFault = faults.take('reset', fn.bdf, 'flr');
      if (fn.device.flr && flrFault === undefined) {
        fn.reset('flr');
        return;
      }
      // Reset(HotReset): a secondary bus reset reaches every function of the slot.
      const hotFault = faults.take('reset', fn.bdf, 'hot');
      if (hotFault !== undefined) fail(hotFault, 'hot reset failed');
      for (const f of this.#ctx.slotFunctions(fn.bdf)) f.reset('hot');
      this.#ctx.slotReset(fn.bdf);
    });
  }

  // ---- memory maps --------------------------------------------------------

  mapMemory(type: number): MappedMemory {
    this.#checkOpen(-1);
    try {
      if (this.#fn.terminated) fail(IOReturn.NotAttached, 'provider gone');
      const injected = this.#ctx.faults.take('map', this.bdf, type);
      if (injected !== undefined) fail(injected, 'injected');
      const mapping = this.#map(type);
      this.#mappings.set(mapping.address, mapping); // pcipt:region:map is the ops layer's (by BAR index)
      return mapping;
    } catch (e) {
      if (e instanceof SimFail) throw mapMemoryError(e.kr, 'MapMemory', type, this.bdf);
      throw e;
    }
  }

  unmapMemory(type: number, address: bigint): void {
    this.#checkOpen(-1);
    let kr = 0;
    const m = this.#mappings.get(address);
    if (address === 0n) kr = IOReturn.BadArgument;
    else if (m === undefined || m.type !== type) kr = IOReturn.NotFound;
    if (kr !== 0) throw mapMemoryError(kr, 'UnmapMemory', type, this.bdf);
    this.#release(m!); // pcipt:region:unmap is the ops layer's
  }

  #map(type: number): SimMapping {
    const fn = this.#fn;
    const host = this.#ctx.hostMemory;
    if (type === MemoryType.DmaBuffer) {
      if (this.#dmaBuffer === undefined) fail(IOReturn.NotReady, 'no DMA buffer');
      const buffer = this.#dmaBuffer.buffer;
      return new SimMapping({ type, address: host.expose(buffer), bdf: this.bdf, store: plainStore(buffer), writeCombined: false });
    }
    if (type >= MemoryType.Bar0 && type <= MemoryType.Bar5) {
      const barIndex = type - MemoryType.Bar0;
      if (fn.fellOffBus) fail(IOReturn.NoDevice, 'device fell off the bus');
      const bar = fn.barInfo(barIndex);
      // Claimed clients copy the descriptor from the opener; unclaimed ones get the cached copy.
      const claimedNow = this.claimed && fn.providerClaimed;
      if (!claimedNow && !fn.barDescCache.has(barIndex)) fail(IOReturn.NotOpen, 'no claim and no cached descriptor');
      fn.barDescCache.add(barIndex);
      return new SimMapping({
        type,
        address: host.expose(bar.buffer),
        bdf: this.bdf,
        store: bar,
        writeCombined: (bar.type & BarBits.MEM_PREFETCH) !== 0,
        fn,
      });
    }
    if (type === MemoryType.IrqPage) {
      if (this.irq === undefined) fail(IOReturn.NotReady, 'interrupts not set up');
      const page = this.irq.page;
      return new SimMapping({ type, address: host.expose(page), bdf: this.bdf, store: plainStore(page), writeCombined: false });
    }
    fail(IOReturn.Unsupported, 'unknown memory type');
  }

  #release(m: SimMapping): void {
    if (m.released) return;
    m.released = true;
    this.#mappings.delete(m.address);
    try {
      this.#ctx.hostMemory.unexpose(m.address as never);
    } catch {
      // already gone
    }
  }

  // ---- teardown -----------------------------------------------------------

  close(): void {
    if (!this.connected) return;
    this.#stop();
    for (const m of [...this.#mappings.values()]) this.#release(m);
    this.connected = false;
    const list = this.#fn.clients;
    const i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
    this.#ctx.forget(this);
  }

  providerGone(): void {
    this.#stop();
    const list = this.#fn.clients;
    const i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
  }

  /** User-client Stop: interrupts → DMA regions → DMA buffer → claim. */
  #stop(): void {
    if (this.irq !== undefined) {
      this.irq.teardown();
      this.irq = undefined;
    }
    this.#registry.releaseAll();
    this.#freeDmaBuffer();
    if (!this.claimed) return;
    this.claimed = false;
    const fn = this.#fn;
    fn.refs = Math.max(0, fn.refs - 1);
    if (fn.refs === 0) {
      fn.providerClaimed = false; // IOPCIDevice::Close
      fn.opener = undefined;
    } else if (fn.opener === this) {
      // DEVIATION: hand the opener role to the oldest remaining claimed client instead of stranding it.
      fn.opener = fn.clients.find((c) => c !== this && c.claimed);
    }
  }

  #freeDmaBuffer(): void {
    if (this.#dmaBuffer === undefined) return;
    this.#fn.dart.unmap(this.#dmaBuffer.entry);
    this.#dmaBuffer = undefined;
  }

  // ---- helpers ------------------------------------------------------------

  #irq(): SimIrqState {
    if (this.irq === undefined) fail(IOReturn.NotReady, 'interrupts not set up');
    return this.irq;
  }

  /** Device-touching selectors fail with NoDevice once the function fell off the bus. */
  #touch(): void {
    if (this.#fn.fellOffBus) fail(IOReturn.NoDevice, 'device fell off the bus');
  }

  #mmioTarget(memIdx: number, offsetBytes: bigint, width: number) {
    if (width !== 1 && width !== 2 && width !== 4 && width !== 8) fail(IOReturn.BadArgument, 'width');
    this.#touch();
    const bar = this.#fn.barByMemIdx(memIdx);
    if (bar === undefined) fail(IOReturn.BadArgument, 'memIdx');
    if (offsetBytes < 0n || offsetBytes + BigInt(width) > BigInt(bar.sizeBytes)) fail(IOReturn.BadArgument, 'offset');
    const off = Number(offsetBytes);
    if (off % width !== 0) fail(IOReturn.NotAligned, 'unaligned');
    return { bar, off };
  }

  #checkOpen(selector: number): void {
    if (this.connected) return;
    throw closedConnectionError(selector, this.bdf);
  }

  /** Runs one selector: closed check, provider check, gate, injected fault, then `body`. */
  #call<T>(selector: number, body: () => T): T {
    this.#checkOpen(selector);
    try {
      if (this.#fn.terminated) fail(IOReturn.NotAttached, 'provider gone');
      if (GATED_SELECTORS.has(selector) && !this.#fn.providerClaimed) fail(IOReturn.NotOpen, 'not claimed');
      const injected = this.#ctx.faults.take('selector', this.bdf, selector);
      if (injected !== undefined) fail(injected, 'injected');
      const out = body();
      trace('pcipt:dext:call', { bdf: this.bdf, selector, selectorName: SELECTOR_NAMES[selector], kernReturn: 0 });
      return out;
    } catch (e) {
      if (!(e instanceof SimFail)) throw e;
      trace('pcipt:dext:call', { bdf: this.bdf, selector, selectorName: SELECTOR_NAMES[selector], kernReturn: e.kr });
      throw dextError(e.kr, selector, { bdf: this.bdf });
    }
  }
}
