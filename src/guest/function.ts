/**
 * The guest-facing PCI function: what QEMU's hw/vfio/pci.c makes of a VFIO
 * device, in the vCPU thread, over the fast path. It composes the emulated
 * config space (config-space.ts, capabilities.ts, pcie.ts), the BARs and
 * routing (bars.ts, access.ts), the ROM (rom.ts), MSI (msi.ts), MSI-X
 * (msix.ts) and INTx (intx.ts), and talks to the host side through a
 * {@link GuestHostControl} off the hot path.
 *
 * Threading: every method runs in the calling (vCPU) thread and is
 * synchronous except the DMA calls and the waits; sink callbacks are called
 * from inside poll(), eoi(), configWrite() and the MMIO writes (an unmask
 * that releases a latched interrupt sends it at once, as msix.c does).
 * Host-control calls are queued in order and never awaited on the hot path;
 * their failures go to `onError` and `stats.controlErrors`. A sink callback
 * that throws is reported the same way (`stats.sinkErrors`) and does not
 * stop the deliveries after it.
 */
import { PassthroughError, toPassthroughError } from '../errors.js';
import { Cfg, CapId, Command } from '../pci/config-space.js';
import { parseInterruptCapabilities, parseMsix, type MsixCapability } from '../vfio/pci-caps.js';
import { GuestAccess } from './access.js';
import { BarEmulation, kRomIndex, msixFits, probeBarTypes, type BarSpec } from './bars.js';
import { kDefaultHiddenCapabilities, kDefaultHiddenExtendedCapabilities, setupCapabilities, setupHeader } from './capabilities.js';
import { VirtualConfig } from './config-space.js';
import type {
  GuestBar,
  GuestDmaMapping,
  GuestFunctionSink,
  GuestFunctionStats,
  GuestHostControl,
  GuestPciFunction,
  HostIrqMode,
} from './contract.js';
import type { GuestDevice } from './device.js';
import { HostQueue } from './host-queue.js';
import { IntxEmulation } from './intx.js';
import { MsiEmulation, type MsiHost } from './msi.js';
import { MsixEmulation } from './msix.js';
import { setupPcie, type PcieEmulation } from './pcie.js';
import { RomImage, type RomSource } from './rom.js';

/** Options of a guest function. */
export interface GuestFunctionOptions {
  /** Where MSI writes, INTx levels and BAR changes go (also settable later with setSink). */
  sink?: GuestFunctionSink;
  /** The host side (interrupt mode, reset, DMA). Without it the host is left as attached. */
  control?: GuestHostControl;
  /** Expansion ROM: the device's (default, when it has one), an image, or 'off'. */
  rom?: RomSource;
  /** Multi-function bit of the header type as the guest sees it (default: the device's). */
  multiFunction?: boolean;
  /** Standard capability ids to hide (default {@link kDefaultHiddenCapabilities}). */
  hideCapabilities?: readonly number[];
  /** Extended capability ids to hide (default {@link kDefaultHiddenExtendedCapabilities}). */
  hideExtendedCapabilities?: readonly number[];
  /** End a pending INTx on the guest's next BAR access, as vfio-pci does (default true). */
  eoiOnBarAccess?: boolean;
  /** Failures off the hot path (host control, ROM load). Default: counted only. */
  onError?: (e: PassthroughError) => void;
}

/** The guest-facing function the layer builds: the contract plus the layer's extras. */
export interface GuestFunction extends GuestPciFunction {
  busReset(): void;
  waitAsync(timeoutMs: number): Promise<boolean>;
  /** Blocks until host interrupts wait for poll() (true) or `timeoutMs` passes (false). For worker threads. */
  waitSync(timeoutMs: number, opts?: { spinIterations?: number }): boolean;
  /** Replaces the sink. */
  setSink(sink: GuestFunctionSink): void;
  /**
   * Maps guest RAM (`ram` holds guest-physical `[gpaBase, gpaBase + ram.byteLength)`)
   * for device DMA through the host's container. Rejects PT_ERR_NOT_SUPPORTED
   * without a host control, PT_ERR_INVALID_ARGUMENT for a bad range or an
   * overlap, or with the host's error.
   */
  mapGuestMemory(ram: SharedArrayBuffer, gpaBase: number): Promise<GuestDmaMapping>;
  /** Unmaps the mapping that starts at `gpaBase`. Rejects PT_ERR_NOT_FOUND. */
  unmapGuestMemory(gpaBase: number): Promise<void>;
  /** The bus address the device must use for guest-physical `gpa`, or undefined when it is not mapped. */
  dmaAddress(gpa: number): bigint | undefined;
  /** Resolves when every queued host-control call has finished. */
  whenIdle(): Promise<void>;
  /** A snapshot of the counters. */
  readonly stats: GuestFunctionStats;
}

interface DmaEntry extends GuestDmaMapping {
  key: bigint;
}

/**
 * Builds a guest function over `device`. Reads the device's config space
 * (a few dozen config cycles) to set up the guest's view, and asks the host
 * for INTx mode (the guest's power-on state).
 * Throws PT_ERR_INVALID_ARGUMENT for bad options, or the device's error.
 */
export function createGuestFunction(device: GuestDevice, opts: GuestFunctionOptions = {}): GuestFunction {
  return new GuestFunctionImpl(device, opts);
}

class GuestFunctionImpl implements GuestFunction {
  readonly #device: GuestDevice;
  readonly #control: GuestHostControl | undefined;
  readonly #onError: ((e: PassthroughError) => void) | undefined;
  readonly #vc: VirtualConfig;
  readonly #bars: BarEmulation;
  readonly #access: GuestAccess;
  readonly #intx: IntxEmulation;
  readonly #msi: MsiEmulation | undefined;
  readonly #msix: MsixEmulation | undefined;
  readonly #pcie: PcieEmulation | undefined;
  readonly #stats: GuestFunctionStats = {
    msiSent: 0,
    intxAsserts: 0,
    latched: 0,
    dropped: 0,
    unrouted: 0,
    controlErrors: 0,
    sinkErrors: 0,
    resets: 0,
  };
  readonly #scratch = new Uint16Array(256);
  readonly #dma: DmaEntry[] = [];
  #sink: GuestFunctionSink;
  #lastSeq: number;
  readonly #queue: HostQueue;
  #requestedMode = '';
  /**
   * The mode the host raises the line's vectors in, as the control reported
   * it (setIrqs' `switched`); undefined until a control reports a switch:
   * vectors are then read in the guest's mode.
   */
  #lineMode: HostIrqMode | undefined;
  /** False while the line's vectors are of another mode than the guest's: they are dropped, counted. */
  #lineOk = true;
  #closed = false;

  constructor(device: GuestDevice, opts: GuestFunctionOptions) {
    this.#device = device;
    this.#control = opts.control;
    this.#onError = opts.onError;
    this.#queue = new HostQueue((e) => this.#report(e));
    this.#sink = opts.sink ?? {};
    // Interrupts raised before the guest's function existed belong to no guest state: discarded.
    this.#lastSeq = device.irq.seq;
    device.irq.drainInto(this.#scratch);
    const port = device.config;
    const vc = new VirtualConfig(port);
    this.#vc = vc;
    const reportError = (e: PassthroughError) => this.#report(e);

    // Interrupt capabilities first: an MSI-X whose table or PBA lies outside its BAR is hidden.
    const read = (off: number, w: 1 | 2 | 4): number => (w === 4 ? port.read32(off) >>> 0 : w === 2 ? port.read16(off) : port.read8(off));
    const sizes = probeBarTypes(device.bars, read);
    let msixCap: MsixCapability | undefined = parseInterruptCapabilities(read).msix;
    if (msixCap !== undefined && !msixFits(msixCap, sizes)) msixCap = undefined;
    const hide = [...(opts.hideCapabilities ?? kDefaultHiddenCapabilities)];
    if (msixCap === undefined) hide.push(CapId.MSIX);

    const rom = new RomImage(device, opts.rom, reportError);
    const specs: (BarSpec | undefined)[] = [];
    for (let i = 0; i < 6; i++) {
      const t = sizes[i];
      if (t === undefined) {
        specs.push(undefined);
        continue;
      }
      const special = msixCap !== undefined && (msixCap.tableBar === i || msixCap.pbaBar === i);
      specs.push({ index: i, ...t, port: device.bars[i], ram: special ? undefined : device.ram?.(i), special });
    }
    if (rom.sizeBytes > 0) {
      specs.push({ index: kRomIndex, kind: 'memory', mem64: false, prefetch: false, sizeBytes: rom.sizeBytes, port: undefined, ram: undefined, special: true });
    }

    setupHeader(vc, port, {
      hasIo: specs.some((s) => s?.kind === 'io'),
      hasMemory: specs.some((s) => s?.kind === 'memory'),
      ...(opts.multiFunction === undefined ? {} : { multiFunction: opts.multiFunction }),
    });
    const caps = setupCapabilities(vc, port, hide, opts.hideExtendedCapabilities ?? kDefaultHiddenExtendedCapabilities);
    const msiHost: MsiHost = {
      send: (address, data) => {
        this.#stats.msiSent++;
        try {
          this.#sink.msi?.(address, data);
        } catch (e) {
          this.#sinkFailed('msi', e);
        }
      },
      beforeModeChange: () => this.#drainLine(),
      onModeChange: () => this.#modeChanged(),
      latched: () => void this.#stats.latched++,
      dropped: () => void this.#stats.dropped++,
    };
    const msiAt = caps.find(CapId.MSI);
    this.#msi = msiAt === undefined ? undefined : new MsiEmulation(vc, port, msiAt.offsetBytes, msiHost);
    const msixAt = caps.find(CapId.MSIX);
    this.#msix = msixAt === undefined || msixCap === undefined ? undefined : new MsixEmulation(vc, parseMsix(read, msixAt.offsetBytes), msiHost);
    const exp = caps.find(CapId.EXP);
    this.#pcie = exp === undefined ? undefined : setupPcie(vc, port, exp.offsetBytes, exp.maxBytes, () => this.#reset('flr'));

    this.#bars = new BarEmulation(vc, specs, (bars) => {
      try {
        this.#sink.barsChanged?.(bars);
      } catch (e) {
        this.#sinkFailed('barsChanged', e);
      }
    });
    this.#intx = new IntxEmulation(port, port.read8(Cfg.INTERRUPT_PIN), {
      setLevel: (asserted) => {
        if (asserted) this.#stats.intxAsserts++;
        try {
          this.#sink.intx?.(asserted);
        } catch (e) {
          this.#sinkFailed('intx', e);
        }
      },
      sampleFailed: (e) => this.#report(toPassthroughError(e).prepend('INTx level sample failed')),
      ...(this.#control?.unmaskIntx === undefined ? {} : { unmaskHost: () => this.#control!.unmaskIntx!() }),
    });
    vc.onWrite(Cfg.COMMAND, Cfg.COMMAND + 2, () => this.#commandWritten());
    vc.onRead(Cfg.STATUS, Cfg.STATUS + 1, (off, _size, v) => {
      const shift = 8 * (Cfg.STATUS - off);
      const status = (v >>> shift) & 0xff;
      return ((v & ~(0xff << shift)) | (this.#intx.overlayStatus(status) << shift)) >>> 0;
    });
    this.#access = new GuestAccess({
      bars: this.#bars,
      msix: this.#msix,
      rom,
      intx: this.#intx,
      stats: this.#stats,
      eoiOnBarAccess: opts.eoiOnBarAccess ?? true,
    });
    // The guest starts from power-on: the forwarded COMMAND bits off on the host too (bus master is the host's).
    vc.write(Cfg.COMMAND, 2, 0);
    this.#requestHostMode();
  }

  // ---- config space -----------------------------------------------------------

  configRead(offset: number, size: 1 | 2 | 4): number {
    if (this.#closed) closed();
    return this.#vc.read(offset, size);
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (this.#closed) closed();
    this.#vc.write(offset, size, value);
  }

  // ---- MMIO and port I/O --------------------------------------------------------

  mmioRead(gpa: number, size: 1 | 2 | 4): number {
    if (this.#closed) closed();
    return this.#access.readMem(gpa, size);
  }

  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void {
    if (this.#closed) closed();
    this.#access.writeMem(gpa, size, value);
  }

  mmioRead64(gpa: number): bigint {
    if (this.#closed) closed();
    return this.#access.readMem64(gpa);
  }

  mmioWrite64(gpa: number, value: bigint): void {
    if (this.#closed) closed();
    this.#access.writeMem64(gpa, value);
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    if (this.#closed) closed();
    return this.#access.readIo(port, size);
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (this.#closed) closed();
    this.#access.writeIo(port, size, value);
  }

  route(space: 'memory' | 'io', address: number): { bar: number; offset: number } | undefined {
    const slot = space === 'io' ? this.#bars.findIo(address) : this.#bars.findMem(address);
    return slot === undefined ? undefined : { bar: slot.spec.index, offset: address - slot.base };
  }

  get bars(): readonly GuestBar[] {
    return this.#bars.bars;
  }

  // ---- interrupts -----------------------------------------------------------------

  poll(): number {
    if (this.#closed) return 0;
    return this.#drainLine();
  }

  eoi(): void {
    if (this.#closed) return;
    this.#intx.eoi();
  }

  async waitAsync(timeoutMs: number): Promise<boolean> {
    const seen = this.#lastSeq;
    return (await this.#device.irq.waitAsync(seen, timeoutMs)) !== seen;
  }

  waitSync(timeoutMs: number, opts?: { spinIterations?: number }): boolean {
    const seen = this.#lastSeq;
    return this.#device.irq.waitSync(seen, timeoutMs, opts) !== seen;
  }

  setSink(sink: GuestFunctionSink): void {
    this.#sink = sink;
  }

  // ---- reset, DMA, lifetime -------------------------------------------------------

  busReset(): void {
    if (this.#closed) closed();
    this.#reset('bus');
  }

  async mapGuestMemory(ram: SharedArrayBuffer, gpaBase: number): Promise<GuestDmaMapping> {
    if (this.#closed) closed();
    if (!(ram instanceof SharedArrayBuffer) || ram.byteLength === 0) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'guest RAM must be a non-empty SharedArrayBuffer');
    }
    if (!Number.isSafeInteger(gpaBase) || gpaBase < 0 || gpaBase + ram.byteLength > 2 ** 53) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'guest RAM base must be an integer in [0, 2^53 - size)', { gpaBase });
    }
    const end = gpaBase + ram.byteLength;
    if (this.#dma.some((m) => gpaBase < m.gpaBase + m.sizeBytes && end > m.gpaBase)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'guest RAM range overlaps a mapped one', { gpaBase, sizeBytes: ram.byteLength });
    }
    if (this.#control === undefined) {
      throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'DMA needs a host control', { gpaBase });
    }
    const r = await this.#control.dmaMap(ram, BigInt(gpaBase));
    const entry: DmaEntry = { gpaBase, sizeBytes: ram.byteLength, busAddr: r.busAddr, identity: r.busAddr === BigInt(gpaBase), key: r.key };
    this.#dma.push(entry);
    return { gpaBase, sizeBytes: entry.sizeBytes, busAddr: entry.busAddr, identity: entry.identity };
  }

  async unmapGuestMemory(gpaBase: number): Promise<void> {
    const i = this.#dma.findIndex((m) => m.gpaBase === gpaBase);
    if (i < 0) throw new PassthroughError('PT_ERR_NOT_FOUND', 'no guest RAM mapped at this base', { gpaBase });
    const [entry] = this.#dma.splice(i, 1);
    await this.#control!.dmaUnmap(entry!.key);
  }

  dmaAddress(gpa: number): bigint | undefined {
    for (const m of this.#dma) if (gpa >= m.gpaBase && gpa < m.gpaBase + m.sizeBytes) return m.busAddr + BigInt(gpa - m.gpaBase);
    return undefined;
  }

  whenIdle(): Promise<void> {
    return this.#queue.idle();
  }

  get stats(): GuestFunctionStats {
    return { ...this.#stats };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const control = this.#control;
    for (const m of this.#dma.splice(0)) this.#queue.run('DMA unmap', () => control!.dmaUnmap(m.key));
    this.#device.close();
  }

  // ---- internals ----------------------------------------------------------------------

  /**
   * Delivers what is on the host line: one Atomics.load of the sequence word
   * when nothing is. Also run just before the guest changes interrupt mode,
   * so what the host raised before is delivered in the mode it was raised in.
   */
  #drainLine(): number {
    const irq = this.#device.irq;
    const seq = irq.seq;
    if (seq === this.#lastSeq) return 0;
    this.#lastSeq = seq;
    const before = this.#stats.msiSent + this.#stats.intxAsserts;
    const n = irq.drainInto(this.#scratch);
    for (let i = 0; i < n; i++) this.#hostVector(this.#scratch[i]!);
    return this.#stats.msiSent + this.#stats.intxAsserts - before;
  }

  #hostVector(v: number): void {
    if (!this.#lineOk) {
      // Raised in the host's old mode after the guest left it: as QEMU's vfio_intx_disable deasserts a
      // pending INTx when MSI/MSI-X is enabled, it has no place in the guest's mode.
      this.#stats.dropped++;
      return;
    }
    if (this.#msix?.enabled) this.#msix.deliver(v);
    else if (this.#msi?.enabled) this.#msi.deliver(v);
    else if (v === 0 && this.#intx.pin !== 0) this.#intx.fire();
    else this.#stats.dropped++;
  }

  #commandWritten(): void {
    const command = this.#vc.get16(Cfg.COMMAND);
    this.#bars.setCommand(command);
    this.#intx.setDisabled((command & Command.INTX_DISABLE) !== 0);
  }

  #modeChanged(): void {
    this.#intx.setActive(!this.#msi?.enabled && !this.#msix?.enabled);
    this.#updateLineOk();
    this.#requestHostMode();
  }

  #updateLineOk(): void {
    const guest: HostIrqMode = this.#msix?.enabled ? 'msix' : this.#msi?.enabled ? 'msi' : 'intx';
    this.#lineOk = this.#lineMode === undefined || this.#lineMode === guest;
  }

  /** Asks the host for the mode the guest is in, unless it was the last one asked for. */
  #requestHostMode(): void {
    let mode: HostIrqMode = 'none';
    let vectors = 0;
    if (this.#msix?.enabled) [mode, vectors] = ['msix', this.#msix.entries];
    else if (this.#msi?.enabled) [mode, vectors] = ['msi', this.#msi.allocated];
    else if (this.#intx.pin !== 0) [mode, vectors] = ['intx', 1];
    const key = `${mode}:${vectors}`;
    if (key === this.#requestedMode) return;
    this.#requestedMode = key;
    const control = this.#control;
    if (control === undefined) return;
    // The host's old mode is off, the new one not yet on: what is on the line was raised in the old mode
    // (delivered if the guest is back in it, dropped otherwise); from now on it carries `mode`'s vectors.
    const switched = (): void => {
      if (this.#closed) return; // the line is gone with the device
      this.#drainLine();
      this.#lineMode = mode;
      this.#updateLineOk();
    };
    this.#queue.run(`setIrqs(${mode}, ${vectors})`, () => control.setIrqs(mode, vectors, switched));
  }

  /**
   * FLR or bus reset (QEMU vfio_pci_pre_reset / reset / post_reset): the
   * host stops DMA (COMMAND's forwarded bits cleared), the emulated state
   * returns to power-on, then the host resets and is put back in INTx mode.
   */
  #reset(kind: 'flr' | 'bus'): void {
    this.#stats.resets++;
    // As vfio_pci_pre_reset disables interrupts: what the host raised before the reset is dropped.
    this.#lastSeq = this.#device.irq.seq;
    this.#device.irq.drainInto(this.#scratch);
    this.#msi?.reset();
    this.#msix?.reset();
    this.#pcie?.reset();
    this.#intx.reset();
    try {
      this.#vc.write(Cfg.COMMAND, 2, 0);
    } catch (e) {
      this.#report(toPassthroughError(e).prepend(`${kind} reset: COMMAND write failed`));
    }
    this.#vc.set(Cfg.INTERRUPT_LINE, 1, 0);
    this.#bars.reset();
    this.#requestedMode = '';
    const control = this.#control;
    if (control !== undefined) this.#queue.run(`${kind} reset`, () => control.reset(kind));
    this.#requestHostMode();
  }

  #report(e: PassthroughError): void {
    this.#stats.controlErrors++;
    this.#tell(e);
  }

  /** A sink callback threw: reported, and the deliveries after it go on (none is lost to it). */
  #sinkFailed(which: string, e: unknown): void {
    this.#stats.sinkErrors++;
    this.#tell(toPassthroughError(e).prepend(`sink.${which} threw`));
  }

  #tell(e: PassthroughError): void {
    try {
      this.#onError?.(e);
    } catch {
      // An embedder's error callback must not break the guest's access.
    }
  }
}

function closed(): never {
  throw new PassthroughError('PT_ERR_CLOSED', 'guest function is closed');
}
