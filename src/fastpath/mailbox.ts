/**
 * A synchronous request/response mailbox in the device control block: a
 * vCPU thread (any thread, main included) makes a blocking call that the
 * device worker serves without blocking its event loop while idle (it waits
 * with Atomics.waitAsync), and with a bounded hold during bursts (it lingers
 * in a finite Atomics.wait for the next request, see
 * {@link MailboxServerOptions.lingerMs}).
 *
 * Protocol (all words in layout.ts):
 *  - Clients share the mailbox through a futex-style lock word (Drepper's
 *    three-state mutex: 0 free, 1 held, 2 held with waiters), so the unlock
 *    pays for a notify only when someone waits.
 *  - The request is a seqlock: the client bumps the request sequence to odd,
 *    writes op and arguments, bumps it to even and notifies the server if it
 *    is parked (see "Notify only a parked peer" below). The server reads
 *    the sequence, the fields, then the sequence again: if it moved, the
 *    fields may be torn (a client timed out and a newer one is writing), so
 *    that request is skipped and never executed half-read.
 *  - The server writes the response fields, then stores the request's
 *    sequence into the response sequence and notifies the client if it is
 *    parked. A client accepts only a response carrying its own sequence, so
 *    a late answer to a timed-out request is never taken for the next one.
 *  - Notify only a parked peer: each side counts its threads parked on the
 *    word it waits on (kMboxReqWaitersIndex for the server,
 *    kMboxRespWaitersIndex for clients), bumping the count BEFORE its
 *    Atomics.wait re-checks the word and dropping it after. The poster
 *    stores its sequence, then reads the count (Dekker with SC atomics):
 *    either it sees the waiter and notifies, or the waiter's re-check sees
 *    the new sequence and does not sleep. Why it matters: with an
 *    unconditional notify (which also takes V8's process-wide futex mutex,
 *    the one Atomics.wait registers under) the lingering server was found
 *    parked and notified on 96% of the requests of a back-to-back burst, so
 *    nearly every round trip paid a futex wake-up of the server's thread:
 *    ConfigPort.read32 p50 2.4–2.6 µs against 0.7 µs for a raw ping-pong
 *    between the same threads; with the counts (and the server's short spin,
 *    {@link kDefaultServerSpinIterations}) 0.37–0.41 µs. A thread killed
 *    while parked leaves its count up: peers then notify needlessly, which
 *    costs time, never a lost wake-up.
 *  - Int32 sequences wrap; every sequence computed here is brought back to
 *    int32 (`| 0`) before it is compared with a loaded word.
 *  - Liveness: every call reads the liveness word (liveness.ts) before it
 *    posts, and a parked client re-reads it whenever it wakes. The worker
 *    and the supervisor mark it as the worker exits, detaches or loses its
 *    function ({@link markServerGone} does both words), and a restarted
 *    server bumps it and the server generation ({@link markServerAlive}); a
 *    waiting client sees any of it and fails at once with
 *    PT_ERR_WORKER_EXITED, PT_ERR_NOT_ATTACHED or PT_ERR_DEVICE_GONE
 *    instead of waiting out its timeout.
 */
import { argumentValue, ERROR_CODES, invalidArgument, PassthroughError, type Errno, type ErrorCode } from '../errors.js';
import { livenessError, markWords } from './liveness.js';
import {
  controlWords,
  kLivenessIndex,
  kLivenessStateMask,
  Liveness,
  kMboxErrTextIndex,
  kMboxErrTextMaxChars,
  kMboxLockIndex,
  kMboxReqArgIndex,
  kMboxReqOpIndex,
  kMboxReqSeqIndex,
  kMboxReqWaitersIndex,
  kMboxErrHasKernReturn,
  kMboxRespErrCodeIndex,
  kMboxRespErrErrnoIndex,
  kMboxRespErrFlagsIndex,
  kMboxRespErrKernReturnIndex,
  kMboxRespErrOffsetIndex,
  kMboxRespErrRegionIndex,
  kMboxRespErrWidthIndex,
  kMboxRespHiIndex,
  kMboxRespLoIndex,
  kMboxRespSeqIndex,
  kMboxRespStatusIndex,
  kMboxRespWaitersIndex,
  kMboxServerGenIndex,
  kMboxServerStateIndex,
  ServerState,
} from './layout.js';

/**
 * Every errno an error may carry, in the order the error record numbers
 * them (1 + index; 0 means none). Append only: the order is wire format.
 */
export const kMailboxErrnos = ['EINVAL', 'ENODEV', 'EIO', 'ENOTSUP', 'ENOTTY', 'EBUSY', 'ENOMEM', 'EPERM', 'ENOENT'] as const satisfies readonly Errno[];
// Compile-time check that the table names every Errno (a new one must be appended above).
const kErrnoTableComplete: Exclude<Errno, (typeof kMailboxErrnos)[number]> extends never ? true : never = true;
void kErrnoTableComplete;

/** Mailbox opcodes. 64-bit values travel as two uint32 words (lo, hi). */
export const MailboxOp = {
  /** a = offsetBytes, b = width → value. */
  CONFIG_READ: 1,
  /** a = offsetBytes, b = width, c = value. */
  CONFIG_WRITE: 2,
  /** a = bar | width << 8, b = offsetBytes → value (lo, hi). */
  REGION_READ: 3,
  /** a = bar | width << 8, b = offsetBytes, c = value lo, d = value hi. */
  REGION_WRITE: 4,
} as const;
/** A mailbox opcode. */
export type MailboxOpCode = (typeof MailboxOp)[keyof typeof MailboxOp];

/** Default time a client call may take before PT_ERR_TIMEOUT, in ms. */
export const kDefaultMailboxTimeoutMs = 1000;
/**
 * Longest single Atomics.wait a client makes before re-checking liveness, in
 * ms: a backstop for a liveness change that lands between the client's check
 * and its park (the change notifies, so a parked client wakes at once).
 */
const kClientWaitSliceMs = 20;

/**
 * Default client spin: Atomics.load polls of the response word before the
 * client parks (~4 ns a poll here, so up to ~16 µs). The server answers
 * within that when it is lingering, and a client that has not parked is
 * answered without a futex call: on this 2-vCPU VM a ConfigPort read fell
 * from 42 µs (client parks, its vCPU halts, and waking it costs ~20 µs) to
 * 2.4 µs, and to ~0.4 µs once neither side notified a peer that was not
 * parked (see the module comment). Bounded, so a slow server costs at most
 * this much spinning per call.
 */
export const kDefaultClientSpinIterations = 4096;

/**
 * Default server spin: Atomics.load polls of the request word before the
 * server parks (~1 µs). In a burst the next request usually comes within
 * that, and then neither side makes a futex call. Bench config suite on the
 * 2-vCPU VM (p50 / p99 of ConfigPort.read32, server lingering, waiter
 * counts in place): no spin 0.49–1.08 µs / 2.5–4.9 µs (the server often
 * falls asleep just before the next request, which then pays a futex
 * wake-up); 128–2048 polls a steady 0.41–0.44 µs / 0.46–0.52 µs, and the
 * same p50 with a third thread keeping a core busy. The spin is paid once
 * per park (the last request of a burst, or each wake of an idle server),
 * so an idle server costs nothing.
 */
export const kDefaultServerSpinIterations = 256;

/** Options of a mailbox client. */
export interface MailboxClientOptions {
  /** Default timeout per call in ms (default {@link kDefaultMailboxTimeoutMs}). */
  timeoutMs?: number;
  /**
   * Atomics.load polls of the response before parking (default
   * {@link kDefaultClientSpinIterations}; 0 parks at once).
   */
  spinIterations?: number;
}

/**
 * The client side of the mailbox, usable from any thread. One object per
 * thread (it keeps the high word of the last result); any number of threads.
 */
export class MailboxClient {
  readonly #w: Int32Array;
  readonly #spin: number;
  /** Default timeout in ms. */
  readonly timeoutMs: number;
  #hi = 0;

  /** Throws PT_ERR_INVALID_ARGUMENT for a wrong control block. */
  constructor(control: SharedArrayBuffer, opts: MailboxClientOptions = {}) {
    this.#w = controlWords(control);
    if (opts === null || typeof opts !== 'object') throw invalidArgument('opts', opts, 'mailbox client options must be an object');
    const spin = opts.spinIterations;
    if (spin !== undefined && (typeof spin !== 'number' || !(spin >= 0))) throw invalidArgument('spinIterations', spin, 'spinIterations must be a non-negative number');
    this.timeoutMs = opts.timeoutMs ?? kDefaultMailboxTimeoutMs;
    this.#spin = opts.spinIterations ?? kDefaultClientSpinIterations;
    checkTimeout(this.timeoutMs);
  }

  /** High 32 bits (unsigned) of the last call's result. */
  get resultHi(): number {
    return this.#hi;
  }

  /**
   * One synchronous request. Arguments are uint32.
   * @returns the low 32 bits of the result, unsigned ({@link resultHi} has the rest)
   * Throws PT_ERR_TIMEOUT when no answer comes within `timeoutMs`,
   * PT_ERR_WORKER_EXITED when the server is gone or restarted during the call,
   * PT_ERR_CLOSED when the server was stopped, or the server's own error
   * (code, message and the offset/width/region/errno/kernReturn context carried across).
   */
  call(op: number, a: number, b: number, c: number, timeoutMs: number = this.timeoutMs, d = 0): number {
    const w = this.#w;
    if (!(timeoutMs >= 0 && timeoutMs < Infinity)) checkTimeout(timeoutMs);
    const live = Atomics.load(w, kLivenessIndex);
    if ((live & kLivenessStateMask) !== Liveness.ALIVE) checkNotAlive(w, op, live);
    // The clock is read only once the call has to block (lock busy, or no
    // answer within the spin): a round trip served within the spin never
    // pays for it. The timeout therefore runs from that moment, at most one
    // spin (a few µs) after the call began.
    const held = Atomics.compareExchange(w, kMboxLockIndex, 0, 1);
    const deadline = held === 0 ? -1 : this.#lockSlow(held, op, timeoutMs, live);
    try {
      const gen = Atomics.load(w, kMboxServerGenIndex);
      const seq = (Atomics.load(w, kMboxReqSeqIndex) + 2) | 0; // the lock makes us its only writer
      Atomics.store(w, kMboxReqSeqIndex, (seq - 1) | 0); // odd: fields being written
      Atomics.store(w, kMboxReqOpIndex, op);
      Atomics.store(w, kMboxReqArgIndex, a | 0);
      Atomics.store(w, kMboxReqArgIndex + 1, b | 0);
      Atomics.store(w, kMboxReqArgIndex + 2, c | 0);
      Atomics.store(w, kMboxReqArgIndex + 3, d | 0);
      Atomics.store(w, kMboxReqSeqIndex, seq); // even: posted
      // Dekker with the server's waiter count: see the module comment.
      if (Atomics.load(w, kMboxReqWaitersIndex) !== 0) Atomics.notify(w, kMboxReqSeqIndex);
      let r = Atomics.load(w, kMboxRespSeqIndex);
      for (let i = 0; r !== seq && i < this.#spin; i++) r = Atomics.load(w, kMboxRespSeqIndex);
      if (r !== seq) this.#park(op, seq, r, gen, timeoutMs, deadline, live);
      if (Atomics.load(w, kMboxRespStatusIndex) !== 0) throw readError(w, op);
      this.#hi = Atomics.load(w, kMboxRespHiIndex) >>> 0;
      return Atomics.load(w, kMboxRespLoIndex) >>> 0;
    } finally {
      this.#unlock();
    }
  }

  /** {@link call} returning the whole 64-bit result. */
  callBig(op: number, a: number, b: number, c: number, timeoutMs: number = this.timeoutMs, d = 0): bigint {
    const lo = this.call(op, a, b, c, timeoutMs, d);
    return (BigInt(this.#hi) << 32n) | BigInt(lo);
  }

  /**
   * Waits for the answer to `seq` after the spin found none (`r` is the
   * response word last seen). Counted in kMboxRespWaitersIndex while it
   * waits, so the server notifies. `deadline` is a performance.now() time,
   * or -1 when the clock has not been read yet.
   */
  #park(op: number, seq: number, r: number, gen: number, timeoutMs: number, deadline: number, live: number): void {
    const w = this.#w;
    if (deadline < 0) deadline = performance.now() + timeoutMs;
    Atomics.add(w, kMboxRespWaitersIndex, 1);
    try {
      // Atomics.wait re-checks the word after our count is visible: an answer
      // stored before the server read the count makes it return at once.
      while (r !== seq) {
        checkLive(w, op, live);
        checkServer(w, op);
        if (Atomics.load(w, kMboxServerGenIndex) !== gen) throw exited(op);
        const remainingMs = deadline - performance.now();
        if (remainingMs <= 0) {
          throw new PassthroughError('PT_ERR_TIMEOUT', `mailbox call timed out after ${timeoutMs} ms`, { op, timeoutMs });
        }
        Atomics.wait(w, kMboxRespSeqIndex, r, remainingMs < kClientWaitSliceMs ? remainingMs : kClientWaitSliceMs);
        r = Atomics.load(w, kMboxRespSeqIndex);
      }
    } finally {
      Atomics.sub(w, kMboxRespWaitersIndex, 1);
    }
  }

  /**
   * The contended lock path, after the fast CAS found the lock word at `c`
   * (1 or 2). Checks the server while it waits (a GONE or STOPPED server
   * fails the call at once).
   * @returns the call's deadline (performance.now() time, ms)
   */
  #lockSlow(c: number, op: number, timeoutMs: number, live: number): number {
    const w = this.#w;
    const deadline = performance.now() + timeoutMs;
    do {
      if (c === 2 || Atomics.compareExchange(w, kMboxLockIndex, 1, 2) !== 0) {
        checkLive(w, op, live);
        checkServer(w, op);
        const remainingMs = deadline - performance.now();
        if (remainingMs <= 0) {
          throw new PassthroughError('PT_ERR_TIMEOUT', `mailbox busy for ${timeoutMs} ms`, { op, timeoutMs });
        }
        Atomics.wait(w, kMboxLockIndex, 2, remainingMs < kClientWaitSliceMs ? remainingMs : kClientWaitSliceMs);
      }
    } while ((c = Atomics.compareExchange(w, kMboxLockIndex, 0, 2)) !== 0);
    return deadline;
  }

  #unlock(): void {
    const w = this.#w;
    if (Atomics.sub(w, kMboxLockIndex, 1) !== 1) {
      Atomics.store(w, kMboxLockIndex, 0);
      Atomics.notify(w, kMboxLockIndex, 1);
    }
  }
}

function checkTimeout(timeoutMs: unknown): void {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs < Infinity)) {
    throw invalidArgument('timeoutMs', timeoutMs, 'timeoutMs must be a finite non-negative number', { timeoutMs: argumentValue(timeoutMs) });
  }
}

function exited(op: number): PassthroughError {
  return new PassthroughError('PT_ERR_WORKER_EXITED', 'device worker exited during a mailbox call', { op });
}

/** The slow branch of a call's liveness check: fails for a dead device; NONE falls back to the server state. */
function checkNotAlive(w: Int32Array, op: number, live: number): void {
  const e = livenessError(live, live, { op });
  if (e !== undefined) throw e;
  checkServer(w, op);
}

/** Fails when the liveness word moved away from `live` (what the call saw when it began). */
function checkLive(w: Int32Array, op: number, live: number): void {
  const now = Atomics.load(w, kLivenessIndex);
  if (now === live) return;
  const e = livenessError(now, live, { op });
  if (e !== undefined) throw e;
}

function checkServer(w: Int32Array, op: number): void {
  const state = Atomics.load(w, kMboxServerStateIndex);
  if (state === ServerState.GONE) throw exited(op);
  if (state === ServerState.STOPPED) {
    throw new PassthroughError('PT_ERR_CLOSED', 'device mailbox server has stopped', { op });
  }
}

function readError(w: Int32Array, op: number): PassthroughError {
  const code: ErrorCode = ERROR_CODES[Atomics.load(w, kMboxRespErrCodeIndex)] ?? 'PT_ERR_INTERNAL';
  const offsetBytes = Atomics.load(w, kMboxRespErrOffsetIndex);
  const width = Atomics.load(w, kMboxRespErrWidthIndex);
  const region = Atomics.load(w, kMboxRespErrRegionIndex);
  const length = Math.min(Atomics.load(w, kMboxErrTextIndex), kMboxErrTextMaxChars);
  const chars: number[] = [];
  for (let i = 0; i < length; i++) {
    const word = Atomics.load(w, kMboxErrTextIndex + 1 + (i >>> 1));
    chars.push((i & 1) === 0 ? word & 0xffff : word >>> 16);
  }
  const errno = kMailboxErrnos[Atomics.load(w, kMboxRespErrErrnoIndex) - 1];
  const flags = Atomics.load(w, kMboxRespErrFlagsIndex);
  const context: Record<string, unknown> = { op };
  if (offsetBytes >= 0) context.offsetBytes = offsetBytes;
  if (width > 0) context.width = width;
  if (region >= 0) context.region = region;
  if (errno !== undefined) context.errno = errno;
  if ((flags & kMboxErrHasKernReturn) !== 0) context.kernReturn = Atomics.load(w, kMboxRespErrKernReturnIndex) >>> 0;
  return new PassthroughError(code, String.fromCharCode(...chars) || 'mailbox call failed', context);
}

// ---------------------------------------------------------------- liveness --

/**
 * The worker serving this block exited (called by the supervisor, and by
 * the worker itself as it goes). Waiting and later clients fail at once with
 * PT_ERR_WORKER_EXITED (or the more precise liveness state already set:
 * PT_ERR_NOT_ATTACHED, PT_ERR_DEVICE_GONE). Safe from any thread, any number of times.
 */
export function markServerGone(control: SharedArrayBuffer): void {
  const w = controlWords(control);
  Atomics.store(w, kMboxServerStateIndex, ServerState.GONE);
  markWords(w, Liveness.WORKER_EXITED);
  Atomics.notify(w, kMboxRespSeqIndex);
  Atomics.notify(w, kMboxLockIndex);
}

/**
 * A server (re)starts: bumps the generation (so a client still waiting on
 * the previous server fails with PT_ERR_WORKER_EXITED) and marks it alive.
 * Called by {@link serveMailbox}; the supervisor may call it too.
 */
export function markServerAlive(control: SharedArrayBuffer): void {
  const w = controlWords(control);
  Atomics.add(w, kMboxServerGenIndex, 1);
  Atomics.store(w, kMboxServerStateIndex, ServerState.ALIVE);
  markWords(w, Liveness.ALIVE);
  Atomics.notify(w, kMboxRespSeqIndex);
}

/**
 * Server side of the wire format: encodes `e` as the response error (code,
 * offset/width/region/errno/kernReturn context, message) and sets the status word.
 */
export function writeMailboxError(w: Int32Array, e: unknown): void {
  const err =
    e instanceof PassthroughError
      ? e
      : new PassthroughError('PT_ERR_INTERNAL', e instanceof Error ? e.message : String(e));
  const ctx = err.context;
  Atomics.store(w, kMboxRespErrCodeIndex, Math.max(0, ERROR_CODES.indexOf(err.code)));
  Atomics.store(w, kMboxRespErrOffsetIndex, typeof ctx.offsetBytes === 'number' ? ctx.offsetBytes | 0 : -1);
  Atomics.store(w, kMboxRespErrWidthIndex, typeof ctx.width === 'number' ? ctx.width | 0 : 0);
  Atomics.store(w, kMboxRespErrRegionIndex, typeof ctx.region === 'number' ? ctx.region | 0 : -1);
  Atomics.store(w, kMboxRespErrErrnoIndex, ctx.errno === undefined ? 0 : kMailboxErrnos.indexOf(ctx.errno as (typeof kMailboxErrnos)[number]) + 1);
  const hasKr = typeof ctx.kernReturn === 'number';
  Atomics.store(w, kMboxRespErrKernReturnIndex, hasKr ? (ctx.kernReturn as number) | 0 : 0);
  Atomics.store(w, kMboxRespErrFlagsIndex, hasKr ? kMboxErrHasKernReturn : 0);
  const text = err.message.slice(0, kMboxErrTextMaxChars);
  Atomics.store(w, kMboxErrTextIndex, text.length);
  for (let i = 0; i < text.length; i += 2) {
    const lo = text.charCodeAt(i);
    const hi = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    Atomics.store(w, kMboxErrTextIndex + 1 + (i >>> 1), lo | (hi << 16));
  }
  Atomics.store(w, kMboxRespStatusIndex, 1);
}

