/**
 * Runs test/fixtures/descriptor-reader (compiled) in a fresh worker thread
 * over a descriptor: the way an embedder's vCPU thread opens a device.
 * Works from the TypeScript sources (vitest) and compiled (inside the VM tier's guest).
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DeviceHandleDescriptor } from '../../src/fastpath/index.js';
import type { Access, AccessError } from '../fixtures/descriptor-reader.js';

export type { Access, AccessError } from '../fixtures/descriptor-reader.js';

/** The reader's answer. */
export type ReaderResult = { ok: true; results: (number | AccessError)[] } | { ok: false; code: string; message: string };

function readerUrl(): URL {
  const compiled = new URL('../fixtures/descriptor-reader.js', import.meta.url);
  return existsSync(fileURLToPath(compiled)) ? compiled : new URL('../../dist/test/fixtures/descriptor-reader.js', import.meta.url);
}

/** Opens `descriptor` in a new worker, runs `accesses`, returns what it posted. */
export async function readInFreshWorker(descriptor: DeviceHandleDescriptor, accesses: Access[]): Promise<ReaderResult> {
  const w = new Worker(readerUrl(), { workerData: { descriptor, accesses } });
  try {
    const [msg] = (await once(w, 'message')) as [ReaderResult];
    return msg;
  } finally {
    await w.terminate();
  }
}
