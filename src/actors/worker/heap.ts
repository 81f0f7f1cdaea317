/**
 * A device worker's own V8 heap figures (the `worker.heap` command): Node 20
 * cannot read a worker's heap from outside, and with one worker per device
 * this is where a device's memory goes.
 */
import v8 from 'node:v8';
import type { WorkerHeap } from '../protocol.js';

/** This thread's V8 heap figures. */
export function workerHeap(): WorkerHeap {
  const h = v8.getHeapStatistics();
  const spaces: Record<string, number> = {};
  for (const s of v8.getHeapSpaceStatistics()) if (s.physical_space_size > 0) spaces[s.space_name] = s.physical_space_size;
  return { heapUsedBytes: h.used_heap_size, heapPhysicalBytes: h.total_physical_size, mallocedBytes: h.malloced_memory, externalBytes: h.external_memory, spaces };
}
