/**
 * The campaign's vCPU threads: a few long-lived workers (soak-vcpu.ts) that
 * make synchronous fast-path calls on whichever device a job names, while
 * the main thread attaches, detaches, resets and kills around them.
 */
import { Worker } from 'node:worker_threads';
import type { DeviceHandle } from '../src/index.js';
import type { ScenarioContext } from './soak-ops.js';
import { Unsettled } from './soak-ops.js';
import type { VcpuJob, VcpuResult } from './soak-vcpu.js';
import { benchWorkerUrl } from './worker-url.js';

interface Slot {
  worker: Worker;
  busy: boolean;
}

/** A small pool of vCPU threads. */
export class VcpuPool {
  readonly #slots: Slot[] = [];
  #job = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const worker = new Worker(benchWorkerUrl('soak-vcpu'));
    worker.unref();
    return { worker, busy: false };
  }

  /**
   * Runs `calls` synchronous calls on `h`'s fast path in a free vCPU thread
   * (waits for one). Settles when the thread reports; a thread silent for
   * longer than one call's timeout plus `silenceMs` is replaced and the
   * scenario abandoned ({@link Unsettled}).
   */
  async run(ctx: ScenarioContext, h: DeviceHandle, calls: number): Promise<VcpuResult> {
    let slot: Slot | undefined;
    while ((slot = this.#slots.find((s) => !s.busy)) === undefined) await new Promise((r) => setTimeout(r, 2));
    slot.busy = true;
    const progress = new SharedArrayBuffer(4);
    const words = new Int32Array(progress);
    const job: VcpuJob = {
      job: ++this.#job,
      descriptor: h.descriptor(),
      calls,
      vendorId: vendorOf(h),
      timeoutMs: ctx.syncTimeoutMs,
      progress,
    };
    const result = new Promise<VcpuResult>((resolve) => {
      const onMessage = (r: VcpuResult) => {
        if (r.job !== job.job) return;
        slot!.worker.off('message', onMessage);
        resolve(r);
      };
      slot!.worker.on('message', onMessage);
    });
    slot.worker.postMessage(job);
    let done: VcpuResult | undefined;
    void result.then((r) => (done = r));
    let last = 0;
    let quietSince = performance.now();
    try {
      while (done === undefined) {
        await new Promise((r) => setTimeout(r, 5));
        const n = Atomics.load(words, 0);
        if (n !== last) {
          last = n;
          quietSince = performance.now();
          ctx.progress.n++;
        } else if (performance.now() - quietSince > ctx.silenceMs + ctx.syncTimeoutMs) {
          const dead = slot.worker;
          this.#slots[this.#slots.indexOf(slot)] = slot = this.#spawn();
          await dead.terminate();
          throw new Unsettled(`vcpu job on ${h.id}: a synchronous call did not return within its ${ctx.syncTimeoutMs} ms timeout + ${ctx.silenceMs} ms`);
        }
      }
      return done;
    } finally {
      slot.busy = false;
    }
  }

  /** Stops every vCPU thread. */
  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}

function vendorOf(h: DeviceHandle): number {
  try {
    return h.info.vendorId;
  } catch {
    return -1; // not ready: nothing to compare with
  }
}
