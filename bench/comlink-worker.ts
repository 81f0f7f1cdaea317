/**
 * Bench worker for the comlink baselines: exposes `read32(offset)` over a
 * MessagePort handed in by the parent (comlink's node adapter, eco §2.2).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

const { buffer, port } = workerData as { buffer: SharedArrayBuffer; port: MessagePort };
const u32 = new Uint32Array(buffer);

const api = {
  read32(offsetBytes: number): number {
    return Atomics.load(u32, offsetBytes >>> 2);
  },
};
export type ComlinkBenchApi = typeof api;

Comlink.expose(api, nodeEndpoint(port as unknown as Parameters<typeof nodeEndpoint>[0]));
parentPort!.postMessage('ready');
