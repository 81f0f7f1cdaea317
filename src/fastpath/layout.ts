/**
 * The device control block: one SharedArrayBuffer per attached device,
 * created by the supervisor, handed to the device worker at spawn and to any
 * embedding thread, and kept across worker restarts.
 *
 * This file is the ONLY place that knows an index or an offset into it
 * (piscina's `symbols.ts` owns `kRequestCountField` the same way). Every
 * other fastpath module reads `k…Index` constants from here and builds its
 * views through {@link controlWords}.
 *
 * Shape (all words are Int32, little endian, accessed only with Atomics):
 *
 * | cache line | contents                                                    |
 * |------------|-------------------------------------------------------------|
 * | 0          | layout version, block size, BAR count                       |
 * | 1          | IRQ sequence word (the doorbell), waiters; IRQ pending bitmap, 8 × Int32 = 256 vectors |
 * | 2          | (unused)                                                    |
 * | 3          | IRQ enabled bitmap, 8 × Int32                               |
 * | 4          | IRQ producer counters: raised, coalesced, masked            |
 * | 5          | IRQ consumer counter: delivered                             |
 * | 6–11       | one BAR lease per line: epoch, holders                      |
 * | 12         | mailbox lock word                                           |
 * | 13         | mailbox request: seq, op, a, b, c, d; server waiters        |
 * | 14         | mailbox response: seq, status, lo, hi, error, offset, width, region; client waiters; errno, kernReturn, error flags |
 * | 15         | mailbox server: state, generation; liveness word (liveness.ts) |
 * | 16–19      | mailbox error message (UTF-16 code units, length first)      |
 *
 * Hot words sit on their own 64-byte line (eco §3.5): the IRQ doorbell is
 * spun on by waiters, the pending bitmap is hammered by the pump, the
 * counters are written on every raise, and the mailbox request and response
 * are written by different threads. The producer's counters and the
 * consumer's `delivered` are on different lines too: each side then only
 * writes lines it already owns. The sequence word and the pending bitmap
 * share ONE line on purpose: they are written together by every raise and
 * read together by every wake-up, so a raise moves a single line to the
 * consumer's core (the consumer's spin already holds it when the sequence
 * changes, and its drain finds the bits there). Apart, they cost a spinning
 * consumer twice the cross-core transfers of a raw doorbell (issue 17: the
 * spin mode measured 2.04× a raw spin with them on two lines). Likewise a mailbox
 * round trip moves two lines: the request line (client → server) and the
 * response line (server → client). Each waiter count sits on the line of the
 * word its waiters park on, so the side that posts reads it from the line it
 * just wrote.
 */
import { invalidArgument, PassthroughError } from '../errors.js';

/** Bump when any index below changes meaning; checked by {@link checkLayout}. */
export const kLayoutVersion = 0x7063_0006;

/** Cache line size the layout separates hot words by, in bytes. */
export const kCacheLineBytes = 64;
const kWordBytes = 4;
const kWordsPerLine = kCacheLineBytes / kWordBytes;
const line = (n: number): number => n * kWordsPerLine;

/** Number of BARs a PCI function has (BAR0–BAR5). */
export const kBarCount = 6;
/** Vectors an IRQ bitmap describes (the dext's `u64 pending[4]`). */
export const kIrqVectors = 256;
/** Int32 words per IRQ bitmap. */
export const kIrqBitmapWords = kIrqVectors / 32;

// ---- line 0: header -------------------------------------------------------
/** Word 0: {@link kLayoutVersion}. */
export const kVersionIndex = 0;
/** Block size in bytes, written at creation (a cross-check for {@link checkLayout}). */
export const kSizeIndex = 1;
/** Number of BAR leases (always {@link kBarCount}). */
export const kBarCountIndex = 2;

// ---- line 1: IRQ doorbell ---------------------------------------------------
/** IRQ sequence word: bumped once per raise that set a new pending bit, then notified. */
export const kIrqSeqIndex = line(1);
/**
 * Waiters parked (or about to park) on {@link kIrqSeqIndex}. A raise notifies
 * only when it is non-zero, so a spinning consumer costs the producer no
 * futex call. Same line as the sequence word: both sides touch it together.
 */
export const kIrqWaitersIndex = line(1) + 1;

// ---- line 1 (second half), line 3: IRQ bitmaps ----------------------------
/**
 * First of the 8 pending words; vector v is bit (v & 31) of word (v >>> 5).
 * On the doorbell's line (words 8–15): see the module comment.
 */
export const kIrqPendingIndex = line(1) + 8;
/** First of the 8 enabled words; a clear bit masks the vector (raises are dropped, not latched). */
export const kIrqEnabledIndex = line(3);

// ---- lines 4–5: IRQ counters ----------------------------------------------
/** Raises accepted (not masked), including coalesced ones. */
export const kIrqRaisedIndex = line(4);
/** Raises of a vector already pending: delivered once, counted here. */
export const kIrqCoalescedIndex = line(4) + 1;
/** Vectors handed out by drains. Invariant: raised = delivered + coalesced + pending. */
export const kIrqDeliveredIndex = line(5);
/** Raises dropped because the vector was masked. */
export const kIrqMaskedIndex = line(4) + 2;

// ---- lines 6–11: BAR leases -------------------------------------------------
const kBarLeaseFirstLine = 6;
/**
 * Lease epoch word of a BAR. Odd = mapped (windows may be opened and used),
 * even = revoked. Every revoke or reinstate adds 1, so a window remembers
 * the odd value it opened at and any change means "not yours any more".
 */
export function barEpochIndex(bar: number): number {
  return line(kBarLeaseFirstLine + bar);
}
/** Number of open windows on the BAR across all threads. */
export function barHoldersIndex(bar: number): number {
  return line(kBarLeaseFirstLine + bar) + 1;
}

// ---- lines 12–19: mailbox ---------------------------------------------------
/** Client lock: 0 free, 1 held, 2 held with waiters (Drepper's futex mutex). */
export const kMboxLockIndex = line(12);
/** Request sequence (a seqlock): odd while a client writes the fields, even once posted. */
export const kMboxReqSeqIndex = line(13);
/** Request opcode ({@link MailboxOp}). */
export const kMboxReqOpIndex = line(13) + 1;
/** Request arguments a, b, c, d (uint32 each). */
export const kMboxReqArgIndex = line(13) + 2;
/**
 * Server threads parked (or about to park) on {@link kMboxReqSeqIndex}. A
 * client notifies only when it is non-zero, so a request that finds the
 * server awake (lingering between two waits, or spinning) costs no futex call.
 */
export const kMboxReqWaitersIndex = line(13) + 6;
/** Response sequence: the request sequence it answers, stored last. */
export const kMboxRespSeqIndex = line(14);
/** Response status: 0 ok, 1 error. */
export const kMboxRespStatusIndex = line(14) + 1;
/** Response value, low 32 bits. */
export const kMboxRespLoIndex = line(14) + 2;
/** Response value, high 32 bits. */
export const kMboxRespHiIndex = line(14) + 3;
/** Error reply: index into ERROR_CODES. */
export const kMboxRespErrCodeIndex = line(14) + 4;
/** Error reply: context.offsetBytes (−1 when absent). */
export const kMboxRespErrOffsetIndex = line(14) + 5;
/** Error reply: context.width (0 when absent). */
export const kMboxRespErrWidthIndex = line(14) + 6;
/** Error reply: context.region (−1 when absent). */
export const kMboxRespErrRegionIndex = line(14) + 7;
/**
 * Client threads parked (or about to park) on {@link kMboxRespSeqIndex}. The
 * server notifies only when it is non-zero, so answering a client that is
 * still spinning costs no futex call.
 */
export const kMboxRespWaitersIndex = line(14) + 8;
/** Error reply: context.errno as 1 + its index in the mailbox's errno table (0 when absent). */
export const kMboxRespErrErrnoIndex = line(14) + 9;
/** Error reply: context.kernReturn (the IOReturn, unsigned, stored as int32) when {@link kMboxErrHasKernReturn} is set. */
export const kMboxRespErrKernReturnIndex = line(14) + 10;
/** Error reply: flag bits ({@link kMboxErrHasKernReturn}). */
export const kMboxRespErrFlagsIndex = line(14) + 11;
/** Flag bit of {@link kMboxRespErrFlagsIndex}: the error carries a kernReturn. */
export const kMboxErrHasKernReturn = 0x1;
/** Server state ({@link ServerState}). */
export const kMboxServerStateIndex = line(15);
/** Server generation: bumped by every markServerAlive, so a restart is visible to a waiting client. */
export const kMboxServerGenIndex = line(15) + 1;
/** Error message: first word is its length in UTF-16 code units, then 2 code units per word. */
export const kMboxErrTextIndex = line(16);
/** Longest error message carried, in UTF-16 code units (the rest is cut). */
export const kMboxErrTextMaxChars = (4 * kWordsPerLine - 1) * 2;

/**
 * Liveness word: `generation << 3 | state` ({@link Liveness}). Written
 * rarely (worker start and exit, detach, device gone) and read by every
 * mailbox call and by every waiter when it parks or wakes, so it shares the
 * server's line (also written only at start and stop), which every client
 * reads already. Any change bumps the generation, so a waiter compares the
 * whole word it saw when it started waiting.
 */
export const kLivenessIndex = line(15) + 2;
/** Bits of {@link kLivenessIndex} that hold the state; the rest is the generation. */
export const kLivenessStateMask = 0x7;

/** States of the liveness word. */
export const Liveness = {
  /** Nothing has run yet (a fresh block): waiters wait up to their timeout. */
  NONE: 0,
  /** A worker serves the device. */
  ALIVE: 1,
  /** The device worker exited: waiters fail at once with PT_ERR_WORKER_EXITED. */
  WORKER_EXITED: 2,
  /** The device was detached: waiters fail at once with PT_ERR_NOT_ATTACHED (final). */
  DETACHED: 3,
  /** The function fell off the bus: waiters fail at once with PT_ERR_DEVICE_GONE. */
  DEVICE_GONE: 4,
} as const;
/** A state of the liveness word. */
export type LivenessState = (typeof Liveness)[keyof typeof Liveness];

/** Mailbox server states. */
export const ServerState = {
  /** No server has started yet: clients wait (up to their timeout) for one. */
  NONE: 0,
  /** A server is serving. */
  ALIVE: 1,
  /** The worker exited: clients fail at once with PT_ERR_WORKER_EXITED. */
  GONE: 2,
  /** The server was stopped cleanly: clients fail at once with PT_ERR_CLOSED. */
  STOPPED: 3,
} as const;

/** Total size of the control block in bytes (20 lines used, rounded up to 32 lines). */
export const kControlBlockBytes = 32 * kCacheLineBytes;

/** Options of {@link createDeviceControlBlock}. */
export interface ControlBlockOptions {
  /**
   * Whether the 256 vectors start enabled (default true). Masked vectors
   * are dropped on raise, so a block created with `false` delivers nothing
   * until the device worker unmasks what setIrqs triggered.
   */
  irqsEnabled?: boolean;
}

/**
 * Creates a zeroed device control block with the version word set, every
 * BAR lease at epoch 1 (mapped), no server yet.
 * @returns a {@link kControlBlockBytes}-byte SharedArrayBuffer
 */
export function createDeviceControlBlock(opts: ControlBlockOptions = {}): SharedArrayBuffer {
  if (opts === null || typeof opts !== 'object') throw invalidArgument('opts', opts, 'control block options must be an object');
  const sab = new SharedArrayBuffer(kControlBlockBytes);
  const w = new Int32Array(sab);
  w[kSizeIndex] = kControlBlockBytes;
  w[kBarCountIndex] = kBarCount;
  for (let bar = 0; bar < kBarCount; bar++) w[barEpochIndex(bar)] = 1;
  if (opts.irqsEnabled !== false) for (let i = 0; i < kIrqBitmapWords; i++) w[kIrqEnabledIndex + i] = -1;
  // The version goes last: a reader that sees it sees the initialised block.
  Atomics.store(w, kVersionIndex, kLayoutVersion);
  return sab;
}

/**
 * Checks that `sab` is a control block of this layout version.
 * Throws PT_ERR_INVALID_ARGUMENT on a non-shared buffer, a size mismatch or a version mismatch.
 */
export function checkLayout(sab: unknown): asserts sab is SharedArrayBuffer {
  if (!(sab instanceof SharedArrayBuffer)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'device control block must be a SharedArrayBuffer', {
      type: typeof sab,
    });
  }
  if (sab.byteLength !== kControlBlockBytes) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'device control block has the wrong size', {
      sizeBytes: sab.byteLength,
      expectedBytes: kControlBlockBytes,
    });
  }
  const w = new Int32Array(sab);
  const version = Atomics.load(w, kVersionIndex);
  if (version !== kLayoutVersion || w[kSizeIndex] !== kControlBlockBytes) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'device control block has another layout version', {
      version,
      expectedVersion: kLayoutVersion,
    });
  }
}

/** Checks the layout and returns the Int32 view every fastpath module works on. */
export function controlWords(sab: SharedArrayBuffer): Int32Array {
  checkLayout(sab);
  return new Int32Array(sab);
}
