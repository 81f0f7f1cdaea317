/**
 * Spawning device workers and the warm pool.
 *
 * A {@link DeviceWorker} is one plain `Worker` running device.worker.js (never
 * piscina: a device actor is long-lived and stateful, eco §2.1) with its
 * control channel ({@link RpcClient} on a dedicated MessagePort) and its
 * notification stream (parentPort messages). A worker serves one device for
 * its whole life and is terminated after it; it is never reused for another
 * device, so nothing leaks from one device to the next.
 *
 * The warm pool keeps `size` booted idle workers (modules loaded, nothing
 * attached). Taking one skips the worker start and module loading, which is
 * most of a cold attach; the pool refills in the background. Idle workers
 * are unref'd so a forgotten supervisor does not hold the process open.
 */
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import { PassthroughError, type SerializedError } from '../../errors.js';
import { bundledEntry } from '../entry-url.js';
import { markServerGone } from '../../fastpath/index.js';
import { RpcClient } from '../rpc.js';
import type { WorkerEvent } from '../protocol.js';

/**
 * The device worker entry: dist/workers/device.worker.js, the bundle of
 * src/actors/worker/device.worker.ts and what it imports (a worker is paid
 * once per device, and each ES module costs an isolate ~25 KiB: see
 * scripts/bundle-workers.mjs).
 */
export function workerEntryUrl(): URL {
  return bundledEntry('device.worker.js', 'device worker');
}

/**
 * V8 limits of every device worker. The young generation is capped at 1 MiB:
 * V8 otherwise grows it to ~4 MiB of resident semi-spaces while the worker
 * loads its modules, though a device worker allocates little once attached
 * (the hot paths are allocation-free). Measured on the 2-vCPU dev VM
 * (runtime + comlink + sim backend loaded, 12 workers, RSS delta per worker):
 * 11.7–12.8 MiB by default, 10.0–10.2 MiB with this cap; lower caps gain
 * nothing more. Since the entry is bundled (less garbage while loading),
 * caps of 0.5, 1 and 2 MiB measure the same; the cap stays as a bound. The
 * old generation keeps V8's default.
 */
export const DEVICE_WORKER_RESOURCE_LIMITS: Readonly<ResourceLimits> = { maxYoungGenerationSizeMb: 1 };

/** One device worker. */
export interface DeviceWorker {
  readonly worker: Worker;
  readonly rpc: RpcClient;
  /** Settles when the worker has booted (modules loaded); rejects if it dies first. */
  readonly booted: Promise<void>;
  /** Settles with the exit code when the thread has ended. */
  readonly exited: Promise<number>;
  /** True until the thread exits. */
  readonly alive: boolean;
  /** Receives worker notifications; replaced by the owner. */
  onEvent: (event: WorkerEvent) => void;
  /** Called once when the thread exits (error = the uncaught error that killed it, if any). */
  onExit: (exitCode: number, error: SerializedError | undefined) => void;
  /**
   * The control block of the device this worker serves (set at activation).
   * Its liveness word is marked WORKER_EXITED on the `exit` event, and
   * already when anyone calls terminate() on the thread: a terminated thread
   * runs no exit handler, and a vCPU blocked in a sync call on this thread
   * would never see the `exit` event.
   */
  control: SharedArrayBuffer | undefined;
  /** Terminates the thread and waits for its exit. Idempotent. */
  terminate(): Promise<number>;
  /**
   * From now on the thread holds the process only while a control call is
   * pending (ref'd then, unref'd when idle): an attached device that nobody
   * talks to does not keep the process alive.
   */
  holdWhileBusy(): void;
}

/** Options of {@link spawnWorker}. */
export interface SpawnOptions {
  /** Deadline of each control call, ms. */
  callTimeoutMs: number;
  /** Backend names whose modules the worker loads at boot. */
  preload: string[];
  /** Run the dry-run attach at boot (warm-pool workers). */
  prewarm?: boolean;
}

/** Starts a device worker. */
export function spawnWorker(opts: SpawnOptions): DeviceWorker {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerEntryUrl(), {
    workerData: { rpcPort: port2, preload: opts.preload, prewarm: opts.prewarm ?? false },
    transferList: [port2],
    resourceLimits: { ...DEVICE_WORKER_RESOURCE_LIMITS },
  });
  const rpc = new RpcClient(port1, { timeoutMs: opts.callTimeoutMs });
  let alive = true;
  let error: SerializedError | undefined;
  let bootedResolve!: () => void;
  let bootedReject!: (e: unknown) => void;
  const booted = new Promise<void>((resolve, reject) => {
    bootedResolve = resolve;
    bootedReject = reject;
  });
  booted.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  let exitedResolve!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exitedResolve = resolve));

  const slot: DeviceWorker = {
    worker,
    rpc,
    booted,
    exited,
    get alive() {
      return alive;
    },
    onEvent: () => {},
    onExit: () => {},
    control: undefined,
    async terminate() {
      if (alive) await worker.terminate();
      return exited;
    },
    holdWhileBusy() {
      const hold = (busy: boolean): void => {
        if (busy) {
          worker.ref();
          rpc.ref();
        } else {
          worker.unref();
          rpc.unref();
        }
      };
      rpc.onBusyChange = hold;
      hold(rpc.pendingCount > 0);
    },
  };
  // Every terminate of this thread, whoever holds the Worker, marks the device first.
  const terminate = worker.terminate.bind(worker);
  worker.terminate = () => {
    if (slot.control !== undefined) markServerGone(slot.control);
    return terminate();
  };
  worker.on('message', (event: WorkerEvent) => {
    if (event.type === 'booted') bootedResolve();
    else slot.onEvent(event);
  });
  worker.on('error', (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    error = new PassthroughError('PT_ERR_WORKER_EXITED', `device worker failed: ${err.message}`, {}, { cause: err }).toJSON();
  });
  worker.on('exit', (code: number) => {
    alive = false;
    if (slot.control !== undefined) markServerGone(slot.control);
    const exitError = new PassthroughError('PT_ERR_WORKER_EXITED', `device worker exited (code ${code})`, {
      exitCode: code,
      ...(error === undefined ? {} : { workerError: error.message }),
    });
    // comlink never settles calls to a dead worker (#601): do it here.
    rpc.failAll(exitError);
    rpc.close();
    bootedReject(exitError);
    exitedResolve(code);
    slot.onExit(code, error);
  });
  return slot;
}

/** A pool of booted idle workers. */
export class WarmPool {
  readonly #size: number;
  readonly #opts: SpawnOptions;
  readonly #idle: DeviceWorker[] = [];
  #closed = false;

  constructor(size: number, opts: SpawnOptions) {
    this.#size = size;
    this.#opts = opts;
    this.refill();
  }

  /** Idle workers (booted or booting). */
  get idle(): number {
    return this.#idle.length;
  }

  /** Resolves when every idle worker has booted. */
  async ready(): Promise<void> {
    // Idle workers are unref'd: hold the loop open while someone waits for them.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await Promise.all(this.#idle.map((s) => s.booted.catch(() => {})));
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * Takes an idle worker, or undefined when none. Call {@link refill} once the
   * attach that took it is done: a replacement booting meanwhile would
   * compete for the CPU with that very attach.
   */
  take(): DeviceWorker | undefined {
    const slot = this.#idle.shift();
    if (slot === undefined) return undefined;
    slot.worker.ref();
    slot.rpc.ref();
    return slot;
  }

  /** Spawns replacements up to the pool size (in the background). */
  refill(): void {
    while (!this.#closed && this.#idle.length < this.#size) this.#add();
  }

  /** Terminates every idle worker. */
  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((s) => s.terminate()));
  }

  #add(): void {
    if (this.#closed || this.#idle.length >= this.#size) return;
    const slot = spawnWorker({ ...this.#opts, prewarm: true });
    slot.worker.unref();
    slot.rpc.unref();
    slot.onExit = () => {
      // An idle worker that died is dropped; a replacement is not spawned (avoids a crash loop).
      const i = this.#idle.indexOf(slot);
      if (i >= 0) this.#idle.splice(i, 1);
    };
    this.#idle.push(slot);
  }
}
