/**
 * The scale suite's heap probe of a bare worker: lets the loader's garbage
 * settle and posts its own V8 heap figures (a worker's heap cannot be read
 * from outside on Node 20; a device worker answers the same figures to the
 * `worker.heap` command).
 */
import { parentPort } from 'node:worker_threads';
import { workerHeap } from '../src/actors/worker/heap.js';

for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
parentPort!.postMessage(workerHeap());
