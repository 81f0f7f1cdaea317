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

/** Callbacks the emulator gives the function. Called in the vCPU thread. */
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
  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void;
  mmioRead64(gpa: number): bigint;
  mmioWrite64(gpa: number, value: bigint): void;
  /** Port I/O inside a decoding I/O BAR. */
  ioRead(port: number, size: 1 | 2 | 4): number;
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
}
