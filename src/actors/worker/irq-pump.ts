/**
 * The IRQ pump of a device worker: waits on the backend's interrupt source
 * and lets its deliveries reach the shared IrqLine. The backend's setIrqs
 * sinks are {@link irqSinkFor}(line), so a delivery is a line.raise (which
 * honours the mask); the pump only keeps the source turning and can be
 * stopped at any point (source.wake/close end a pending wait).
 */
import { PassthroughError, toPassthroughError } from '../../errors.js';
import type { InterruptSource, IrqSink } from '../../vfio/device-io-ops.js';
import type { IrqLine } from '../../fastpath/irq-line.js';

/** The sink to give setIrqs: each delivered vector is raised on `line`. */
export function irqSinkFor(line: IrqLine): IrqSink {
  return {
    deliver(vector: number): void {
      line.raise(vector);
    },
  };
}

/** Options of {@link startIrqPump}. */
export interface IrqPumpOptions {
  /** Called once when the source fails; the pump then stops. */
  onError?: (error: PassthroughError) => void;
}

/** Pump counters. */
export interface IrqPumpStats {
  /** Waits completed (next/nextSync returned). */
  iterations: number;
  /** Vectors the source reported delivered. */
  delivered: number;
  /** Source failures (the pump stops at the first one). */
  errors: number;
}

/** A running pump. */
export interface IrqPump {
  /** True until stopped or failed. */
  readonly running: boolean;
  /** Counters so far. */
  readonly stats: Readonly<IrqPumpStats>;
  /** Settles when the loop has ended (stopped or failed); never rejects. */
  readonly done: Promise<void>;
  /** Stops the pump (wakes and closes the source) and resolves when the loop has ended. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts pumping `source` in the calling thread (the device worker) with
 * `await source.next()`, so the worker's event loop stays free. Backends
 * whose interrupts come from the OS wait in a dedicated pump thread instead
 * (irq-pump-thread.ts).
 */
export function startIrqPump(source: InterruptSource, opts: IrqPumpOptions = {}): IrqPump {
  const stats: IrqPumpStats = { iterations: 0, delivered: 0, errors: 0 };
  let stopping = false;
  let running = true;

  const loop = async (): Promise<void> => {
    try {
      while (!stopping) {
        const n = await source.next();
        stats.iterations++;
        stats.delivered += n;
      }
    } catch (e) {
      stats.errors++;
      if (!stopping) opts.onError?.(toPassthroughError(e, { where: 'irq-pump' }));
    } finally {
      running = false;
    }
  };
  const done = loop();

  return {
    get running() {
      return running;
    },
    stats,
    done,
    async stop() {
      if (!stopping) {
        stopping = true;
        source.wake();
        source.close();
      }
      await done;
    },
  };
}
