/**
 * The demo's embedding thread: a worker standing in for an emulator's vCPU
 * thread. It receives DeviceHandle descriptors (plain data over
 * SharedArrayBuffers), rebuilds the fast path with openFastPath, and
 * measures MMIO (fast and slow path) and interrupt delivery with the
 * blocking IrqLine.waitSync, then posts the summaries back. Never touches
 * the supervisor: everything goes through shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toPassthroughError } from '../../errors.js';
import { openFastPath, type DeviceHandleDescriptor, type FastPath } from '../../fastpath/index.js';
import { measureFastPath, measureIrqSync, measureSlowPath, type DemoLatencies } from './workload.js';

/** What the demo posts to the worker. */
export interface EmbedderInput {
  iterations: number;
  /** The MSI-X test function: BAR2 is plain RAM, BAR0 +0x08 is the doorbell. */
  msix?: { descriptor: DeviceHandleDescriptor; ramBar: number; vectors: number };
  /** An edu device (BAR0 fully trapped). */
  edu?: { descriptor: DeviceHandleDescriptor };
}

/** What the worker posts back. */
export type EmbedderOutput = { ok: true; latency: DemoLatencies } | { ok: false; error: ReturnType<ReturnType<typeof toPassthroughError>['toJSON']> };

function run(input: EmbedderInput): DemoLatencies {
  const latency: DemoLatencies = {};
  const opened: FastPath[] = [];
  try {
    if (input.msix !== undefined) {
      const fp = openFastPath(input.msix.descriptor);
      opened.push(fp);
      latency.mmioFastPath = measureFastPath(fp.bar(input.msix.ramBar), input.iterations);
      latency.irqDelivery = measureIrqSync(fp.bar(0), fp.irq, input.msix.vectors, fp.bdf, Math.max(50, Math.floor(input.iterations / 4)));
    }
    if (input.edu !== undefined) {
      const fp = openFastPath(input.edu.descriptor);
      opened.push(fp);
      latency.mmioSlowPath = measureSlowPath(fp.bar(0), fp.bdf, Math.max(50, Math.floor(input.iterations / 4)));
    }
    return latency;
  } finally {
    // Release this thread's BAR leases so the supervisor can unmap at detach.
    for (const fp of opened) fp.close();
  }
}

try {
  parentPort!.postMessage({ ok: true, latency: run(workerData as EmbedderInput) } satisfies EmbedderOutput);
} catch (e) {
  parentPort!.postMessage({ ok: false, error: toPassthroughError(e).toJSON() } satisfies EmbedderOutput);
}
