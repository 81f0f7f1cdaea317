/**
 * Starts the comlink bench worker and wraps its `read32`: the baseline "one
 * comlink call per access" (what a TypeScript user would otherwise write).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { ComlinkBenchApi } from './comlink-worker.js';
import { benchWorkerUrl } from './worker-url.js';

/** A running comlink worker. */
export interface ComlinkBench {
  read32(offsetBytes: number): Promise<number>;
  close(): Promise<void>;
}

/** Spawns the worker over `buffer` and waits until it is ready. */
export async function startComlinkBench(buffer: SharedArrayBuffer): Promise<ComlinkBench> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(benchWorkerUrl('comlink-worker'), {
    workerData: { buffer, port: port2 },
    transferList: [port2],
  });
  await once(worker, 'message');
  const remote = Comlink.wrap<ComlinkBenchApi>(nodeEndpoint(port1 as unknown as Parameters<typeof nodeEndpoint>[0]));
  return {
    read32: (offsetBytes) => remote.read32(offsetBytes),
    async close() {
      remote[Comlink.releaseProxy]();
      port1.close();
      await worker.terminate();
    },
  };
}
