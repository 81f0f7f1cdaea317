/**
 * The guest-facing PCI function: what an emulator's PCI bus, MMIO/port
 * dispatch and interrupt controller see of a passed-through function (what
 * QEMU's hw/vfio/pci.c gives `vfio-apple-pci` on top of the VFIO ops).
 *
 * This file is the contract between the guest layer (src/guest/, which
 * implements it on the fast path in the vCPU thread) and the emulator
 * adapters (src/adapters/, one file per emulator). Types only.
 *
 * Widths: config accesses are 1, 2 or 4 bytes; MMIO and port I/O are 1, 2,
 * 4 or 8 bytes (8 only for memory, through the `64` methods, as bigint).
 * Guest physical addresses are numbers (below 2^53).
 */

/** One BAR (or the expansion ROM, index 6) as the guest has programmed it. */
export interface GuestBar {
  /** 0–5, or 6 for the expansion ROM. */
  readonly index: number;
  readonly kind: 'memory' | 'io';
  /** A 64-bit memory BAR (it also occupies the next BAR register). */
  readonly mem64: boolean;
  readonly prefetch: boolean;
  /** Size in bytes (a power of two). */
  readonly sizeBytes: number;
  /**
   * Guest physical address (memory) or port (I/O) the guest programmed, or
   * undefined while the BAR is unprogrammed (all ones, or being sized).
   */
  readonly address: number | undefined;
  /** The address decodes: programmed and enabled in COMMAND (memory or I/O space enable; ROM enable bit for index 6). */
  readonly decoding: boolean;
  /**
   * A direct view of the BAR for RAM-like BARs (no trapped range in it), so
   * an emulator can map it without a call per access; undefined when the BAR
   * has trapped ranges (registers, the MSI-X table) or is not mapped.
   */
  readonly ram: Uint8Array | undefined;
}

/**
 * Callbacks the emulator gives the function. Called in the vCPU thread: from
 * poll() and guest accesses, and from its event loop when a host mode switch
 * lands (what the host raised in the old mode, if the guest is back in it).
 */
export interface GuestFunctionSink {
  /** An MSI or MSI-X message: the emulator performs the DWORD write of `data` at `address`. */
  msi?(address: bigint, data: number): void;
  /** INTx level change (true = asserted). */
  intx?(asserted: boolean): void;
  /** The guest moved, enabled or disabled a BAR (the emulator re-registers its MMIO/port handlers). */
  barsChanged?(bars: readonly GuestBar[]): void;
}

/** A guest-facing PCI function. */
export interface GuestPciFunction {
  /** Config space as the guest sees it (emulated fields merged over the device's). */
  configRead(offset: number, size: 1 | 2 | 4): number;
  /** Config write through the filter (the original's rules, plus the MSI / DevCtl / DevCtl2 refusal). */
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  /** Memory read at a guest physical address inside a decoding memory BAR. */
  mmioRead(gpa: number, size: 1 | 2 | 4): number;
  /** Memory write at a guest physical address inside a decoding memory BAR. */
  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void;
  /** 8-byte memory read (a 64-bit register or RAM). */
  mmioRead64(gpa: number): bigint;
  /** 8-byte memory write. */
  mmioWrite64(gpa: number, value: bigint): void;
  /** Port I/O inside a decoding I/O BAR. */
  ioRead(port: number, size: 1 | 2 | 4): number;
  /** Port write inside a decoding I/O BAR. */
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;
  /** Which BAR and offset a guest address falls in, or undefined. */
  route(space: 'memory' | 'io', address: number): { bar: number; offset: number } | undefined;
  /** The BARs as programmed now (index 0–5, then the ROM when present). */
  readonly bars: readonly GuestBar[];
  /**
   * Delivers the host interrupts that arrived since the last call to the
   * sink (MSI writes, INTx assert), from the emulator loop. Never blocks.
   * Returns the number of messages delivered.
   */
  poll(): number;
  /** INTx end of interrupt from the emulator's interrupt controller (vfio-pci's EOI: unmask the host line). */
  eoi(): void;
  /** Releases the function's windows and listeners. Idempotent. */
  close(): void;
  /**
   * Secondary bus reset of the function's bus: the adapter calls it when the
   * guest resets the bridge above the function. (Optional: added in issue 13.)
   */
  busReset?(): void;
  /**
   * Resolves true when host interrupts wait for {@link poll}, false after
   * `timeoutMs`, without blocking the thread: for an emulator on the main
   * thread. Holds the process alive while pending. (Optional: added in issue 13.)
   */
  waitAsync?(timeoutMs: number): Promise<boolean>;
}

// ---------------------------------------------------------------------------
// Additions of issue 13 part 1 (compatible: the two members added to
// GuestPciFunction above are optional, so existing implementations and fakes
// still satisfy it; the layer's own GuestFunction has them all).
// ---------------------------------------------------------------------------

/** Interrupt mode of the host function (what VFIO_DEVICE_SET_IRQS selects). */
export type HostIrqMode = 'msix' | 'msi' | 'intx' | 'none';

/**
 * What the guest layer asks of the host side, off the hot path (QEMU's
 * VFIO_DEVICE_SET_IRQS / VFIO_DEVICE_RESET / the container's DMA map). The
 * supervisor's VFIO-level view implements it; `hostControlForHandle`
 * (src/guest/handle-control.ts) implements it over a DeviceHandle on that view.
 * Calls are serialised by the layer: one finishes before the next starts.
 */
export interface GuestHostControl {
  /**
   * Puts the host function in `mode` with vectors `[0, vectors)` enabled and
   * the other modes disabled. Called when the guest enables or disables MSI
   * or MSI-X (or changes its MSI vector count), at open and after a reset.
   * Guest per-vector masks never reach the host: the dext drops masked
   * interrupts instead of latching them, so host vectors stay enabled and
   * the layer latches in its virtual PBA / MSI pending bits.
   *
   * Call `switched` once the host can raise only in `mode`: on a mode switch
   * when the old mode is off (before the new one is on), at once when the
   * host is in `mode` already; not for 'none'. The layer reads what is on the
   * IRQ line then as the old mode's (dropped, counted, unless the guest is
   * back in it) and what comes after as `mode`'s. A control that never calls
   * it leaves the layer reading every vector in the guest's current mode (an
   * INTx raised before a switch lands would read as MSI/MSI-X vector 0).
   */
  setIrqs(mode: HostIrqMode, vectors: number, switched?: () => void): Promise<void>;
  /** Resets the host function: `flr` for a guest Function Level Reset, `bus` for a secondary bus reset. */
  reset(kind: 'flr' | 'bus'): Promise<void>;
  /**
   * Maps `memory` (guest RAM) for device DMA, asking for IOVA `iova` (the
   * guest-physical base). Resolves with the bus address the device must use
   * (equal to `iova` where the IOMMU lets the caller choose; the DART picks
   * its own) and the key to unmap with.
   */
  dmaMap(memory: SharedArrayBuffer, iova: bigint): Promise<{ key: bigint; busAddr: bigint; sizeBytes: bigint }>;
  /** Unmaps a mapping made by {@link dmaMap}. */
  dmaUnmap(key: bigint): Promise<void>;
  /**
   * Optional, synchronous, must not go through a message queue: re-enables a
   * host INTx line the host masked when it fired (linux vfio-pci's automask;
   * VFIO_IRQ_SET_ACTION_UNMASK). The dext and the sim deliver INTx on the
   * rising edge and never mask it, so they leave this out.
   */
  unmaskIntx?(): void;
}

/** Guest RAM mapped for device DMA. */
export interface GuestDmaMapping {
  /** Guest-physical address of the first byte. */
  readonly gpaBase: number;
  readonly sizeBytes: number;
  /** Bus address the device uses for `gpaBase`. */
  readonly busAddr: bigint;
  /** True when `busAddr === gpaBase`: a guest driver's own addresses reach its RAM. */
  readonly identity: boolean;
}

/** Counters of a guest function (since open). */
export interface GuestFunctionStats {
  /** MSI / MSI-X messages handed to `sink.msi`. */
  msiSent: number;
  /** INTx assertions handed to `sink.intx(true)`. */
  intxAsserts: number;
  /** Host interrupts latched in the virtual PBA or MSI pending bits while the guest had them masked. */
  latched: number;
  /** Host interrupts with no place in the guest's mode (its MSI/MSI-X disabled, vector out of range, raised in a mode the guest has left). */
  dropped: number;
  /** Accesses at addresses no decoding BAR claims (reads answered all ones, writes ignored). */
  unrouted: number;
  /**
   * Failures off the hot path, each also reported to `onError`: host-control
   * calls, the device ROM read, a sample of the device's INTx level.
   */
  controlErrors: number;
  /** Sink callbacks that threw (reported to `onError`; the other deliveries went on). */
  sinkErrors: number;
  /** Resets (FLR and bus) the guest caused. */
  resets: number;
}
