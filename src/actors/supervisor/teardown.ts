/**
 * Teardown, supervisor side: the orderly stop of a device's worker, and what
 * happens when a worker dies on its own.
 *
 * Stop (crosvm-style): drop our own BAR windows (we are holders too), send
 * `shutdown` (the worker acks only after its ordered teardown, attach.ts),
 * wait for its last notification, terminate the thread, release ownership
 * and the backend's hold.
 *
 * Death (exit or uncaught error), before the restart policy decides: mark
 * the mailbox gone (blocked embedders get PT_ERR_WORKER_EXITED), reject the
 * pending control calls (PT_ERR_WORKER_EXITED), revoke the BAR leases and
 * drop our own windows, release ownership and the backend's resources.
 */
import { PassthroughError, type SerializedError } from '../../errors.js';
import { markServerGone, requestUnmapAsync } from '../../fastpath/index.js';
import type { TracePoint } from '../../trace.js';
import type { Bdf } from '../../types.js';
import type { BackendHost } from '../../vfio/backend.js';
import type { ActivateResult, TeardownReport } from '../protocol.js';
import type { ResolvedOptions } from './options.js';
import type { Ownership } from './ownership.js';
import type { DeviceWorker } from './workers.js';

/** What teardown touches of a supervised device (device.ts's SupervisedDevice). */
export interface TeardownSubject {
  readonly id: string;
  readonly bdf: Bdf;
  readonly control: SharedArrayBuffer;
  readonly activation: ActivateResult | undefined;
  worker: DeviceWorker | undefined;
  deviceState: string;
  onStopped: (() => void) | undefined;
  releaseWindows(): void;
  readonly ctx: {
    readonly opts: ResolvedOptions;
    readonly host: BackendHost;
    readonly ownership: Ownership;
    readonly teardowns: Record<string, TeardownReport>;
    publish(name: TracePoint, payload: Record<string, unknown>): void;
    emit(event: 'restart' | 'faulted' | 'worker-exit', payload: unknown): void;
  };
}

/** How long stop waits for the worker's last notification after its shutdown ack. */
const LAST_NOTICE_MS = 250;

/** The machine's `workerLost`: the worker is gone; runs before the restart decision. */
export function workerLost(d: TeardownSubject, exitCode: number, error: SerializedError | undefined): void {
  markServerGone(d.control);
  d.worker?.rpc.failAll(
    new PassthroughError('PT_ERR_WORKER_EXITED', `device worker of ${d.id} exited (code ${exitCode})`, { deviceId: d.id, bdf: d.bdf, exitCode }),
  );
  d.releaseWindows();
  for (let bar = 0; bar < 6; bar++) {
    if (d.activation?.bars[bar] === undefined) continue;
    // Revoke now so other threads' windows stop at their next access; holders that
    // never access again keep a count the restarted worker does not wait for.
    requestUnmapAsync(d.control, bar, 0).catch(() => {});
  }
  d.worker = undefined;
  d.deviceState = 'restarting';
  d.ctx.ownership.drop(d.bdf, d.id);
  d.ctx.host.release(d.bdf);
  const payload = { deviceId: d.id, bdf: d.bdf, exitCode, error: error?.message };
  d.ctx.publish('pcipt:supervisor:worker-exit', payload);
  d.ctx.emit('worker-exit', { deviceId: d.id, bdf: d.bdf, exitCode });
}

/** The machine's `stopWorker`: ordered shutdown, then terminate; never rejects for a dead worker. */
export async function stopWorker(d: TeardownSubject): Promise<void> {
  d.releaseWindows();
  const worker = d.worker;
  let clean = false;
  if (worker !== undefined && worker.alive) {
    try {
      // The ack comes on the control port, the worker's last notifications on parentPort:
      // wait (briefly) for its `stopped` so no forwarded trace record is cut off by terminate.
      const stopped = new Promise<void>((resolve) => {
        d.onStopped = resolve;
        setTimeout(resolve, LAST_NOTICE_MS).unref();
      });
      d.ctx.teardowns[d.id] = await worker.rpc.call({ type: 'shutdown' }, d.ctx.opts.callTimeoutMs);
      await stopped;
      clean = true;
    } catch (e) {
      // A dead or stuck worker: terminate below still frees the thread.
      d.ctx.publish('pcipt:actor:error', {
        deviceId: d.id,
        code: PassthroughError.is(e) ? e.code : 'PT_ERR_INTERNAL',
        message: e instanceof Error ? e.message : String(e),
        context: { step: 'shutdown' },
      });
    }
    d.worker = undefined; // the exit that follows is expected, not a crash
    await worker.terminate();
  } else {
    d.worker = undefined;
  }
  // A clean shutdown stopped the mailbox (embedders get PT_ERR_CLOSED); otherwise say the worker is gone.
  if (!clean) markServerGone(d.control);
  d.ctx.ownership.drop(d.bdf, d.id);
  d.ctx.host.release(d.bdf);
}
