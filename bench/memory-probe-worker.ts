/**
 * The scale suite's heap probe: imports the modules it is given (the device
 * worker's graph, or nothing for a bare worker), lets the loader's garbage
 * settle, and posts its own V8 heap figures (a worker's heap cannot be read
 * from outside on Node 20).
 */
import { parentPort, workerData } from 'node:worker_threads';
import v8 from 'node:v8';

const { modules } = workerData as { modules: string[] };
for (const m of modules) await import(m);
for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
const h = v8.getHeapStatistics();
const spaces: Record<string, number> = {};
for (const s of v8.getHeapSpaceStatistics()) if (s.physical_space_size > 0) spaces[s.space_name] = s.physical_space_size;
parentPort!.postMessage({
  heapUsedBytes: h.used_heap_size,
  heapPhysicalBytes: h.total_physical_size,
  mallocedBytes: h.malloced_memory,
  externalBytes: h.external_memory,
  spaces,
});
