/**
 * The fault campaign's vCPU thread (a worker): opens a device's fast path
 * from its descriptor (loadFastPath, as an embedder's vCPU thread does) and
 * makes synchronous calls on it: config reads, trapped BAR reads through the
 * mailbox slow path, plain BAR reads. It never drains the interrupt line (the
 * campaign's storms own it). After each call it bumps `progress[0]`, so the
 * campaign can tell a slow machine from a stuck call. Every failure is
 * sorted by its PassthroughError code, or reported as untyped.
 */
import { parentPort } from 'node:worker_threads';
import { PassthroughError } from '../src/errors.js';
import { loadFastPath, type DeviceHandleDescriptor } from '../src/fastpath/index.js';

/** A job for the vCPU thread. */
export interface VcpuJob {
  job: number;
  descriptor: DeviceHandleDescriptor;
  /** Calls to make. */
  calls: number;
  /** The vendor id config offset 0 must read (0xffff is accepted too: a function that fell off the bus); -1: unknown. */
  vendorId: number;
  /** Per-call timeout of the fast path, ms. */
  timeoutMs: number;
  /** Int32Array over a SharedArrayBuffer: [0] counts calls made. */
  progress: SharedArrayBuffer;
}

/** What the vCPU thread reports for a job. */
export interface VcpuResult {
  job: number;
  ok: number;
  /** Typed failures by code. */
  codes: Record<string, number>;
  /** Untyped failures (each is a campaign violation). */
  untyped: string[];
  /** Config reads of offset 0 that returned neither the vendor id nor 0xffff. */
  wrongValues: string[];
}

async function run(j: VcpuJob): Promise<VcpuResult> {
  const progress = new Int32Array(j.progress);
  const out: VcpuResult = { job: j.job, ok: 0, codes: {}, untyped: [], wrongValues: [] };
  const fail = (e: unknown) => {
    if (PassthroughError.is(e)) out.codes[e.code] = (out.codes[e.code] ?? 0) + 1;
    else out.untyped.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  };
  let fp;
  try {
    fp = await loadFastPath(j.descriptor, { timeoutMs: j.timeoutMs });
  } catch (e) {
    fail(e);
    return out;
  }
  try {
    for (let i = 0; i < j.calls; i++) {
      try {
        switch (i % 3) {
          case 0: {
            const v = fp.config.read16(0);
            if (j.vendorId >= 0 && v !== j.vendorId && v !== 0xffff) out.wrongValues.push(`config[0] = 0x${v.toString(16)}`);
            break;
          }
          case 1: {
            // BAR0 register 0 of every campaign function is trapped: a mailbox round trip.
            const w = fp.bars[0];
            if (w !== undefined) w.read32(0);
            break;
          }
          default:
            fp.config.read32(4);
        }
        out.ok++;
      } catch (e) {
        fail(e);
      }
      Atomics.add(progress, 0, 1);
    }
  } finally {
    fp.close();
  }
  return out;
}

parentPort!.on('message', (j: VcpuJob) => {
  run(j).then(
    (r) => parentPort!.postMessage(r),
    (e: unknown) => parentPort!.postMessage({ job: j.job, ok: 0, codes: {}, untyped: [String(e)], wrongValues: [] } satisfies VcpuResult),
  );
});
