/**
 * The device worker's side of the control block's mailbox (src/fastpath/mailbox.ts
 * owns the wire format and the client): the server loop that answers
 * requests in the worker's thread, and the handler that maps mailbox ops
 * onto the backend's DeviceIoOps.
 */
import { PassthroughError } from '../../errors.js';
import {
  controlWords,
  kMboxLockIndex,
  kMboxReqArgIndex,
  kMboxReqOpIndex,
  kMboxReqSeqIndex,
  kMboxReqWaitersIndex,
  kMboxRespHiIndex,
  kMboxRespLoIndex,
  kMboxRespSeqIndex,
  kMboxRespStatusIndex,
  kMboxRespWaitersIndex,
  kMboxServerStateIndex,
  ServerState,
} from '../../fastpath/layout.js';
import {
  kDefaultServerSpinIterations,
  markServerAlive,
  MailboxOp,
  writeMailboxError,
} from '../../fastpath/mailbox.js';
import { atomicsWaitAsync } from '../../fastpath/wait-async.js';
import type { DeviceIoOps } from '../../vfio/device-io-ops.js';

/** Longest single wait of the async server before it re-arms, in ms. */
const kServerWaitSliceMs = 1000;


/**
 * What the device worker does with a request. Runs synchronously on the
 * worker's thread. Throw a PassthroughError to answer with an error: its code,
 * message and context offsetBytes/width/region reach the client.
 */
export interface MailboxHandler {
  /** @returns the result (uint32 as number, or up to 64 bits as bigint) */
  handle(op: number, a: number, b: number, c: number, d: number): number | bigint;
}

/** Default {@link MailboxServerOptions.lingerMs}, in ms. */
export const kDefaultLingerMs = 5;
/** Default {@link MailboxServerOptions.maxHoldMs}, in ms. */
export const kDefaultMaxHoldMs = 5;

/** Options of {@link serveMailbox}. */
export interface MailboxServerOptions {
  /**
   * Atomics.load polls of the request sequence before each park, in every
   * mode (default {@link kDefaultServerSpinIterations}; 0 parks at once).
   * A request that comes within the spin is served without either side
   * making a futex call. The spin burns the core and holds the event loop for
   * its length (about 4 ns a poll), so keep it short.
   */
  spinIterations?: number;
  /**
   * Default mode only: after answering a request, keep waiting for the next
   * one with a synchronous, finite Atomics.wait for this many ms before
   * going back to Atomics.waitAsync (default {@link kDefaultLingerMs};
   * 0 turns lingering off).
   *
   * Why: a waitAsync wake-up takes an extra event-loop hop. Config cycles
   * come in bursts (a guest enumerating or programming a device, a vCPU loop),
   * and while the server lingers every request of the burst after the first
   * is served at blocking-wait latency. Bench config suite on the 2-vCPU dev
   * VM (p50 of ConfigPort.read32 over a raw Atomics wait/notify ping-pong
   * between the same threads, same run), measured when clients parked at
   * once and every request notified: lingering 5 ms 1.08–1.13×, no
   * lingering 1.45–1.63×. (Since the waiter counts and the client/server
   * spins, a burst is served in ~0.4 µs; lingering is what keeps the server
   * awake between the requests of a burst.)
   *
   * Why 5 ms and not 0.5: on the 2-vCPU dev VM (Firecracker, HZ=250, TSC
   * deadline timer) a futex wait whose timeout falls before the next
   * scheduler tick (4 ms) makes the kernel reprogram the timer when it arms
   * it and again when the wait ends early, each a VM exit: lingering with
   * 0.5–2 ms measured SLOWER than not lingering (p50 14–21 µs against 11 µs),
   * 4–6 ms measured 7.9–8.3 µs, as fast as blocking slices (9.3 µs) and the
   * raw ping-pong. On bare metal or HZ=1000 kernels 1 ms does as well; pick
   * a value above the kernel tick (a shorter one still works, just slower).
   *
   * The price, and its bound: while lingering the worker's event loop
   * (control-plane messages, timers, an async IRQ pump) does not run. It is
   * held at most `lingerMs` after the last request of a burst, and at most
   * {@link maxHoldMs} (plus one gap between requests) in one go during a
   * continuous burst. An idle server holds nothing: it waits with waitAsync.
   * Keep `lingerMs` well below the latency the worker's other duties
   * tolerate. A negative or non-finite value is PT_ERR_INVALID_ARGUMENT.
   */
  lingerMs?: number;
  /**
   * Longest the lingering server holds the event loop in one go while a
   * continuous burst keeps it busy, in ms (default {@link kDefaultMaxHoldMs});
   * after the first request served past it, the server yields to the event
   * loop (setImmediate: pending messages and immediates run, timers at the
   * latest on the next hold's yield) and lingers again. Each yield costs the
   * request waiting meanwhile one event-loop turn. Must be finite and > 0
   * (PT_ERR_INVALID_ARGUMENT otherwise).
   */
  maxHoldMs?: number;
  /**
   * When > 0, serve in blocking slices: Atomics.wait (not waitAsync) for up
   * to this many ms, then yield to the event loop once, and repeat. Replaces
   * lingering.
   *
   * Trade-off, measured on the 2-vCPU dev VM (bench config suite, p50 of a
   * ConfigPort.read32 round trip against a raw Atomics.wait/notify ping-pong
   * between the same threads): the waitAsync server without lingering costs
   * 1.4–1.5× the raw round trip (each wake-up takes an extra event-loop hop,
   * ~3 µs); blocking slices cost 1.13–1.17×. The price: everything else on
   * this worker's event loop (control-plane messages, timers, and an async
   * IRQ pump!) waits up to one slice even when no request comes. Prefer the
   * default lingering mode, which holds the event loop only during bursts.
   * (These ratios predate the waiter counts that let both sides skip
   * notifying a peer that is not parked; both modes now measure ~0.4 µs.)
   * Default 0 (waitAsync with lingering: the event loop stays free when idle).
   */
  blockingSliceMs?: number;
  /** Keep the thread alive while serving (a ref'd timer; default true). */
  keepAlive?: boolean;
}

/** A running mailbox server. */
export interface MailboxServer {
  /** Requests answered (errors included). */
  readonly served: number;
  /** Stops serving; later client calls fail with PT_ERR_CLOSED. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Serves the mailbox of `control` in the calling thread (the device worker)
 * until stopped. Marks the server alive.
 * Throws PT_ERR_INVALID_ARGUMENT for a wrong control block or options.
 */
export function serveMailbox(
  control: SharedArrayBuffer,
  handler: MailboxHandler,
  opts: MailboxServerOptions = {},
): MailboxServer {
  const w = controlWords(control);
  const spin = opts.spinIterations ?? kDefaultServerSpinIterations;
  const sliceMs = opts.blockingSliceMs ?? 0;
  const lingerMs = opts.lingerMs ?? kDefaultLingerMs;
  const maxHoldMs = opts.maxHoldMs ?? kDefaultMaxHoldMs;
  if (
    !(spin >= 0) ||
    !(sliceMs >= 0 && sliceMs < Infinity) ||
    !(lingerMs >= 0 && lingerMs < Infinity) ||
    !(maxHoldMs > 0 && maxHoldMs < Infinity)
  ) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'bad mailbox server options', {
      spin,
      sliceMs,
      lingerMs,
      maxHoldMs,
    });
  }
  // Requests posted before this server started belong to a previous one
  // (their clients fail on the generation change): never execute them.
  let last = Atomics.load(w, kMboxReqSeqIndex);
  if ((last & 1) === 1) last = (last - 1) | 0;
  markServerAlive(control);

  let stopping = false;
  let served = 0;
  const keepAlive = opts.keepAlive === false ? undefined : setInterval(noop, 1 << 30);

  /** Serves the request at sequence `seq` (even) unless it was overwritten meanwhile. */
  const serveOne = (seq: number): void => {
    const op = Atomics.load(w, kMboxReqOpIndex);
    const a = Atomics.load(w, kMboxReqArgIndex) >>> 0;
    const b = Atomics.load(w, kMboxReqArgIndex + 1) >>> 0;
    const c = Atomics.load(w, kMboxReqArgIndex + 2) >>> 0;
    const d = Atomics.load(w, kMboxReqArgIndex + 3) >>> 0;
    if (Atomics.load(w, kMboxReqSeqIndex) !== seq) return; // torn: a newer request is in flight
    last = seq;
    try {
      const result = handler.handle(op, a, b, c, d);
      if (typeof result === 'bigint') {
        Atomics.store(w, kMboxRespLoIndex, Number(BigInt.asUintN(32, result)) | 0);
        Atomics.store(w, kMboxRespHiIndex, Number(BigInt.asUintN(32, result >> 32n)) | 0);
      } else {
        Atomics.store(w, kMboxRespLoIndex, result | 0);
        Atomics.store(w, kMboxRespHiIndex, 0);
      }
      Atomics.store(w, kMboxRespStatusIndex, 0);
    } catch (e) {
      writeMailboxError(w, e);
    }
    served++;
    Atomics.store(w, kMboxRespSeqIndex, seq);
    // Dekker with the client's waiter count: see the module comment.
    if (Atomics.load(w, kMboxRespWaitersIndex) !== 0) Atomics.notify(w, kMboxRespSeqIndex);
  };

  /**
   * Spins up to `spin` polls for a request word other than `s`, then
   * Atomics.wait on it, counted in kMboxReqWaitersIndex so clients notify.
   * `timeoutMs` is always finite here.
   */
  const waitSync = (s: number, timeoutMs: number): void => {
    for (let i = 0; i < spin; i++) if (Atomics.load(w, kMboxReqSeqIndex) !== s) return;
    Atomics.add(w, kMboxReqWaitersIndex, 1);
    Atomics.wait(w, kMboxReqSeqIndex, s, timeoutMs);
    Atomics.sub(w, kMboxReqWaitersIndex, 1);
  };

  /** Serves what is posted; returns the sequence value it last saw. */
  const poll = (): number => {
    for (;;) {
      const s = Atomics.load(w, kMboxReqSeqIndex);
      if (s === last || (s & 1) === 1) return s;
      serveOne(s);
    }
  };

  /**
   * Lingering: serves the requests that follow synchronously until none came
   * for `lingerMs`. Returns true when it stopped because a request was served
   * after `maxHoldMs` (the burst is still going: the caller yields one turn).
   * Each wait's timeout is a whole `lingerMs` from the last request, never cut
   * short to the hold's end: a short futex timeout is what costs (see
   * lingerMs), so the hold may run over by one request gap.
   */
  const linger = (s: number): boolean => {
    let now = performance.now();
    const holdEnd = now + maxHoldMs;
    let idleEnd = now + lingerMs;
    for (;;) {
      waitSync(s, idleEnd - now); // finite: at most lingerMs
      const before = served;
      s = poll();
      now = performance.now();
      if (served !== before) {
        if (now >= holdEnd) return true;
        idleEnd = now + lingerMs;
      } else if (now >= idleEnd) {
        return false;
      }
    }
  };

  const loop = async (): Promise<void> => {
    // true after a hold ran out mid-burst: linger again once the loop has had its turn.
    let hot = false;
    while (!stopping) {
      const before = served;
      let s = poll();
      if (sliceMs > 0) {
        const deadline = performance.now() + sliceMs;
        for (;;) {
          const remainingMs = deadline - performance.now();
          if (remainingMs <= 0 || stopping) break;
          waitSync(s, remainingMs);
          s = poll();
        }
        await yieldToEventLoop();
        continue;
      }
      if (lingerMs > 0 && (hot || served !== before)) {
        hot = linger(s);
        if (hot) {
          await yieldToEventLoop();
          continue;
        }
        s = Atomics.load(w, kMboxReqSeqIndex);
        if (s !== last && (s & 1) === 0) continue;
      }
      for (let i = 0; i < spin; i++) if (Atomics.load(w, kMboxReqSeqIndex) !== s) break;
      if (Atomics.load(w, kMboxReqSeqIndex) !== s) continue;
      // Counted while parked, like waitSync: the count stays up across the await.
      Atomics.add(w, kMboxReqWaitersIndex, 1);
      const r = atomicsWaitAsync(w, kMboxReqSeqIndex, s, kServerWaitSliceMs);
      if (r.async) await r.value;
      Atomics.sub(w, kMboxReqWaitersIndex, 1);
    }
  };
  const done = loop();

  return {
    get served() {
      return served;
    },
    async stop() {
      if (!stopping) {
        stopping = true;
        Atomics.store(w, kMboxServerStateIndex, ServerState.STOPPED);
        Atomics.notify(w, kMboxReqSeqIndex); // wakes our own waitAsync
        Atomics.notify(w, kMboxRespSeqIndex); // and clients, who now see STOPPED
        Atomics.notify(w, kMboxLockIndex);
      }
      try {
        await done;
      } finally {
        if (keepAlive !== undefined) clearInterval(keepAlive);
      }
    },
  };
}


function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function noop(): void {}

/**
 * The device worker's mailbox handler: CONFIG_* go to the ops' numeric config
 * accessors, REGION_* (the trapped BAR ranges) to their BAR accessors. Values
 * stay numbers end to end; the width and range were validated once, at the
 * public edge (ConfigPort, BarWindow), and the ops apply their own contract
 * (the original's rules, with errno). Errors thrown by the ops travel back to
 * the client with their code and context; an unknown op answers
 * PT_ERR_NOT_SUPPORTED.
 */
export function createConfigServerHandler(ops: Pick<DeviceIoOps, 'configRead' | 'configWrite' | 'barRead' | 'barWrite'>): MailboxHandler {
  return {
    handle(op, a, b, c, d) {
      switch (op) {
        case MailboxOp.CONFIG_READ:
          return ops.configRead(a, b as 1 | 2 | 4);
        case MailboxOp.CONFIG_WRITE:
          ops.configWrite(a, b as 1 | 2 | 4, c >>> 0);
          return b;
        case MailboxOp.REGION_READ:
          return ops.barRead(a & 0xff, b, (a >>> 8) as 1 | 2 | 4 | 8);
        case MailboxOp.REGION_WRITE:
          ops.barWrite(a & 0xff, b, (a >>> 8) as 1 | 2 | 4 | 8, (BigInt(d >>> 0) << 32n) | BigInt(c >>> 0));
          return a >>> 8;
        default:
          throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `unknown mailbox op ${op}`, { op });
      }
    },
  };
}
