/**
 * The VFIOUserPCIDriver dext contract (spec/dext-protocol.md §2–6): selector
 * numbers, memory types, IOReturn codes, the IRQ page layout, the identity
 * record, the DMA limits, and the {@link DextClient} interface every dext
 * backend implements (simulated, IOKit through koffi, the C stand-in).
 *
 * Plain tables, no logic, no I/O. koffi is never imported here.
 */
import type { Bdf } from '../types.js';
import type { MappedMemory } from '../vfio/device-io-ops.js';

export type { MappedMemory } from '../vfio/device-io-ops.js';

/** Selector numbers of `IOConnectCallMethod` (spec §2). */
export const Selector = {
  GetIdentity: 0,
  Claim: 1,
  Terminate: 2,
  AllocateDMABuffer: 3,
  FreeDMABuffer: 4,
  RegisterDMARegion: 5,
  UnregisterDMARegion: 6,
  ProbeDMARegion: 7,
  ConfigRead: 8,
  ConfigWrite: 9,
  GetBARInfo: 10,
  MMIORead: 11,
  MMIOWrite: 12,
  SetupInterrupts: 13,
  CheckInterrupt: 14,
  WaitInterrupt: 15,
  SetIRQMask: 16,
  ResetDevice: 17,
} as const;
/** Selector names by number. */
export const SELECTOR_NAMES: readonly string[] = Object.keys(Selector);

/** Selectors gated on "some client holds the claim" (else NotOpen). */
export const GATED_SELECTORS: ReadonlySet<number> = new Set([
  Selector.AllocateDMABuffer,
  Selector.RegisterDMARegion,
  Selector.SetupInterrupts,
  Selector.ResetDevice,
]);

/** Memory types of `IOConnectMapMemory64` (spec §3). */
export const MemoryType = {
  DmaBuffer: 0,
  Bar0: 1,
  Bar1: 2,
  Bar2: 3,
  Bar3: 4,
  Bar4: 5,
  Bar5: 6,
  IrqPage: 7,
} as const;
/** Memory type for BAR `bar` (type = 1 + bar, not memIdx). */
export function memoryTypeForBar(bar: number): number {
  return 1 + bar;
}

/** IOReturn values the dext answers (spec §2), as unsigned 32-bit numbers. */
export const IOReturn = {
  Success: 0,
  Error: 0xe00002bc,
  NoMemory: 0xe00002bd,
  NoDevice: 0xe00002c0,
  BadArgument: 0xe00002c2,
  Unsupported: 0xe00002c7,
  NotOpen: 0xe00002cd,
  NotAligned: 0xe00002d0,
  StillOpen: 0xe00002d2,
  Timeout: 0xe00002d6,
  NotReady: 0xe00002d8,
  NotAttached: 0xe00002d9,
  NoSpace: 0xe00002db,
  NotPermitted: 0xe00002e2,
  Overrun: 0xe00002e8,
  Aborted: 0xe00002eb,
  NotFound: 0xe00002f0,
} as const;
/** Name of an IOReturn value, or its hex when unknown. */
export function ioReturnName(kr: number): string {
  for (const [name, value] of Object.entries(IOReturn)) if (value === kr >>> 0) return name;
  return `0x${(kr >>> 0).toString(16)}`;
}

/** The IRQ state page (memory type 7, spec §4). */
export const IrqPage = {
  /** Size of the page in bytes. */
  sizeBytes: 16384,
  /** Byte offset of `pending[4]` (u64, set by the dext, cleared by reading). */
  pendingOffsetBytes: 0x00,
  /** Byte offset of `enabled[4]` (u64, written by the client). */
  enabledOffsetBytes: 0x20,
  /** Number of 64-bit words in each bitmap. */
  words: 4,
  /** Vectors the page can describe. */
  maxVectors: 256,
} as const;

/** Host page size on Apple Silicon: HVF maps at this granularity; the sim maps at it too. */
export const HOST_PAGE_BYTES = 16384;

/** DMA registry limits per user client (spec §6). */
export interface DmaLimits {
  /** Region slots (linear scan). */
  maxRegions: number;
  /** Bytes per chunk. */
  chunkBytes: number;
  /** Chunks per region. */
  maxChunks: number;
  /** Segments per PrepareForDMA. */
  maxSegments: number;
}
/**
 * The real dext's limits: the later original's ([G]) 64 chunks per region
 * (the RFC's dext [D] allows 128; spec §6), so a region is at most 96 GiB.
 */
export const DEFAULT_DMA_LIMITS: Readonly<DmaLimits> = Object.freeze({
  maxRegions: 65536,
  chunkBytes: 1.5 * 1024 * 1024 * 1024,
  maxChunks: 64,
  maxSegments: 32,
});
/** Largest AllocateDMABuffer size (1.5 GiB). */
export const MAX_DMA_BUFFER_BYTES = 1.5 * 1024 * 1024 * 1024;

/** PCI BAR type bits as returned in the `type` of GetBARInfo and synthesised in config reads 0x10–0x24. */
export const BarType = {
  /** Bit 0: I/O space. */
  io: 0x1,
  /** Bits 1–2 = 0b10: 64-bit memory BAR. */
  mem64: 0x4,
  /** Bit 3: prefetchable. */
  prefetch: 0x8,
} as const;
/** `kIOMapWriteCombineCache`, added by the client when the BAR type has the prefetch bit. */
export const kIOMapWriteCombineCache = 0x400;
/** `kIOMapAnywhere`. */
export const kIOMapAnywhere = 0x1;

/** Outputs of selector 0 (GetIdentity). The client matches bus/device/function as u8. */
export interface DextIdentity {
  bus: number;
  device: number;
  function: number;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code (class << 16 | subclass << 8 | prog-if). */
  classCode: number;
}

/** Outputs of selector 10 (GetBARInfo). */
export interface BarInfo {
  /** Index for `_CopyDeviceMemoryWithIndex` / MMIORead. */
  memIdx: number;
  /** BAR size in bytes (bigint: 64-bit BARs may exceed 2^53). */
  sizeBytes: bigint;
  /** PCI BAR type bits ({@link BarType}). */
  type: number;
}

/** Outputs of selector 3 (AllocateDMABuffer). */
export interface DmaBufferInfo {
  sizeBytes: bigint;
  dmaFlags: bigint;
  segmentCount: number;
  seg0Addr: bigint;
  seg0Len: bigint;
  /** The output the dext labels "class". */
  class: bigint;
}

/** Outputs of selector 5 (RegisterDMARegion): `[1, chunk0 bus, chunk0 len]`. */
export interface DmaRegionInfo {
  /** Always 1 (number of reported segments). */
  count: number;
  /** Bus (DART) address of chunk 0. */
  busAddr: bigint;
  /** Length of chunk 0 in bytes. */
  busLen: bigint;
}

/** The four 64-bit words of a 256-vector bitmap (pending or enabled). */
export type IrqWords = [bigint, bigint, bigint, bigint];


/** A pending one-shot WaitInterrupt (selector 15). */
export interface InterruptWait {
  /** Settles with the dext's completion status when an interrupt is pending (at once if one already is). */
  readonly completion: Promise<number>;
  /** Cancels the wait: the completion settles with `IOReturn.Aborted`. Idempotent. */
  cancel(): void;
}

/**
 * One user-client connection to the dext instance of one PCI function
 * (`IOServiceOpen` type 0). Every method is one selector or one map call;
 * failures throw a PassthroughError whose context carries `bdf`, `selector`,
 * `selectorName` and `kernReturn` (see kern-return.ts for the code table).
 * Methods are synchronous, as IOConnectCallMethod is.
 */
export interface DextClient {
  /** The function this connection reaches. */
  readonly bdf: Bdf;
  /** True until {@link close}. */
  readonly connected: boolean;
  /** Selector 0. */
  getIdentity(): DextIdentity;
  /** Selector 1. The first claim opens the function and sets COMMAND memory + bus master. */
  claim(): void;
  /** Selector 2. Always succeeds. */
  terminate(): void;
  /** Selector 3 (gated). size 0 or > 1.5 GiB → BadArgument; align 0 means 4096. */
  allocateDmaBuffer(sizeBytes: bigint, alignBytes: bigint): DmaBufferInfo;
  /** Selector 4. Always succeeds. */
  freeDmaBuffer(): void;
  /** Selector 5 (gated). See spec §6. */
  registerDmaRegion(key: bigint, clientVa: bigint, sizeBytes: bigint): DmaRegionInfo;
  /** Selector 6. Unknown key → NotFound. */
  unregisterDmaRegion(key: bigint): void;
  /** Selector 7. Debug read of 8 bytes at `offsetBytes` into the region. */
  probeDmaRegion(key: bigint, offsetBytes: bigint): bigint;
  /** Selector 8. width 1, 2 or 4. Failed reads give all ones. BAR synthesis at 0x10–0x24. */
  configRead(offsetBytes: number, width: number): number;
  /** Selector 9. width 1, 2 or 4. Raw write, nothing filtered. */
  configWrite(offsetBytes: number, width: number, value: number): void;
  /** Selector 10. */
  getBarInfo(bar: number): BarInfo;
  /** Selector 11. width 1, 2, 4 or 8. */
  mmioRead(memIdx: number, offsetBytes: bigint, width: number): bigint;
  /** Selector 12. width 1, 2, 4 or 8. */
  mmioWrite(memIdx: number, offsetBytes: bigint, width: number, value: bigint): void;
  /** Selector 13 (gated). Returns the vector count. Already set up → StillOpen. */
  setupInterrupts(): number;
  /** Selector 14. Reads and clears the pending words. Not set up → NotReady. */
  checkInterrupt(): IrqWords;
  /** Selector 15 (async, one-shot). Not set up → NotReady. */
  waitInterrupt(): InterruptWait;
  /** Selector 16. Not set up → NotReady. */
  setIrqMask(mask: IrqWords): void;
  /** Selector 17 (gated). FLR, then hot reset if that fails. */
  resetDevice(): void;
  /** IOConnectMapMemory64 of a memory type (0 DMA buffer, 1–6 BARs, 7 IRQ page). */
  mapMemory(type: number): MappedMemory;
  /** IOConnectUnmapMemory64. Address 0 → BadArgument. */
  unmapMemory(type: number, address: bigint): void;
  /** IOServiceClose: the user client's Stop runs (interrupts, DMA regions, buffer, claim released). Idempotent. */
  close(): void;
}

/** One dext instance the driver side can see (an `IOUserService` of class VFIOUserPCIDriver). */
export interface DextService {
  /** Full address, domain included (the dext identity has none; it comes from the registry). */
  readonly bdf: Bdf;
  /** Selector 0's answer. */
  readonly identity: DextIdentity;
  /**
   * The host root the instance hangs under ([G] `host-root`: the registry
   * name of its topmost IOPCIDevice, e.g. `pcic0-bridge`), when known.
   */
  readonly hostRoot?: string;
}

/** Options of {@link DextDriver.connect}. */
export interface DextConnectOptions {
  /**
   * Which host root's instance to open when the same BDF exists under
   * several ([G] `apple_dext_connect_with_root`, `host-root=`). Without it a
   * BDF found under two roots is refused.
   */
  hostRoot?: string;
}

/**
 * The dext as a whole: enumeration and connect (spec §2 "Client / Connect").
 * Connections are matched by domain:bus:device.function, not bus alone.
 */
export interface DextDriver {
  /** Every dext-bound function. */
  listServices(): DextService[];
  /**
   * Opens a user client on the function. No match → PT_ERR_CONNECT_FAILED
   * (kernReturn NotFound). The same BDF under several host roots without
   * `hostRoot`, or none under `hostRoot`, → PT_ERR_CONNECT_FAILED with the
   * later original's text and `context.hostRoots` (the roots found).
   */
  connect(bdf: Bdf, options?: DextConnectOptions): DextClient;
}
