/**
 * Memory of device workers, for the scale suite: RSS per worker of a bare
 * worker and of a device worker at each stage (modules loaded, backend
 * loaded, device attached), plus a heap probe that says where a worker's
 * memory goes.
 *
 * RSS is process-wide, so a stage is measured as the RSS growth while k
 * workers of that kind start, in a child process where nothing else runs
 * (workers that age shrink: V8's memory reducer gives back a third of a
 * worker's heap some seconds after it goes idle, so workers left up beside
 * the devices would make the devices look smaller). Each stage runs in
 * rounds for a spread.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { createSupervisor } from '../src/actors/supervisor/supervisor.js';
import { DEVICE_WORKER_RESOURCE_LIMITS, spawnWorker, type DeviceWorker } from '../src/actors/supervisor/workers.js';
import { sriovLayout, sriovMachine } from '../src/sim/sriov.js';
import { benchWorkerUrl } from './worker-url.js';

const execFileAsync = promisify(execFile);

/** Boot stages of a device, and the bare worker they are compared with. */
export type MemoryStage = 'bare' | 'modules' | 'backend' | 'attached';

/** A stage's RSS per worker (bytes), one figure per round: fresh, and settled. */
export interface StageRss {
  stage: MemoryStage;
  /** Right after the workers started (300 ms of settling). */
  freshBytes: number[];
  /** After {@link kSettledAfterMs} idle: V8's memory reducer has given back what it will. */
  settledBytes: number[];
}

/**
 * How long a stage idles before its settled figure: V8's memory reducer
 * starts some seconds after an isolate goes idle (measured here: a worker's
 * RSS holds for ~6 s, then drops by a third within ~20 s).
 */
export const kSettledAfterMs = 20_000;

/** What the heap probe reports of one worker (bytes). */
export interface HeapProbe {
  heapUsedBytes: number;
  heapPhysicalBytes: number;
  mallocedBytes: number;
  externalBytes: number;
  /** Resident bytes per V8 space (new_space, old_space, code_space, …). */
  spaces: Record<string, number>;
}

/** Lets timers and the allocator settle (and collects, when the process runs with --expose-gc). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/**
 * RSS growth per worker while `count` workers of `stage` start (and, for
 * `attached`, each gets a device: VFs of a one-PF SR-IOV adapter, attached
 * through a supervisor created beforehand), fresh and after `settledAfterMs`.
 */
export async function stageRss(stage: MemoryStage, count: number, settledAfterMs: number): Promise<{ freshBytes: number; settledBytes: number }> {
  const bare: Worker[] = [];
  const device: DeviceWorker[] = [];
  const adapter = { physicalFunctions: 1, vfsPerPf: count, options: { vectors: 64, ramBarBytes: 16384 } };
  const sup = stage === 'attached' ? await createSupervisor({ machine: sriovMachine(adapter), presenceCheckMs: 0, callTimeoutMs: 20_000 }) : undefined;
  try {
    await settle();
    const before = process.memoryUsage.rss();
    for (let i = 0; i < count; i++) {
      if (stage === 'bare') {
        const w = new Worker(benchWorkerUrl('bare-worker'));
        bare.push(w);
        await once(w, 'message');
      } else if (stage === 'attached') {
        await sup!.attach(sriovLayout(adapter)[0]!.vfs[i]!);
      } else {
        const d = spawnWorker({ callTimeoutMs: 20_000, preload: stage === 'backend' ? ['sim'] : [] });
        device.push(d);
        await d.booted;
      }
    }
    await settle();
    const freshBytes = Math.round((process.memoryUsage.rss() - before) / count);
    await new Promise((resolve) => setTimeout(resolve, settledAfterMs));
    const settledBytes = Math.round((process.memoryUsage.rss() - before) / count);
    return { freshBytes, settledBytes };
  } finally {
    await Promise.all([...bare.map((w) => w.terminate()), ...device.map((d) => d.terminate()), sup?.close()]);
  }
}

/**
 * RSS per worker of each stage, `rounds` rounds of `perRound` workers. Each
 * measurement runs in a child process of its own (memory-child.ts), all of
 * them at once: RSS is per process, so nothing else allocates or frees in
 * the process measured, and workers of every stage age alike.
 */
export async function measureStages(rounds: number, perRound: number, settledAfterMs = kSettledAfterMs, onStage?: (done: number, of: number) => void): Promise<StageRss[]> {
  const names: MemoryStage[] = ['bare', 'modules', 'backend', 'attached'];
  const stages: StageRss[] = names.map((stage) => ({ stage, freshBytes: [], settledBytes: [] }));
  const child = fileURLToPath(benchWorkerUrl('memory-child'));
  let done = 0;
  const runs = stages.flatMap((s) =>
    Array.from({ length: rounds }, async (_, r) => {
      const { stdout } = await execFileAsync(process.execPath, [child, s.stage, String(perRound), String(settledAfterMs)], { timeout: 300_000 });
      const got = JSON.parse(stdout) as { freshBytes: number; settledBytes: number };
      s.freshBytes[r] = got.freshBytes;
      s.settledBytes[r] = got.settledBytes;
      onStage?.(++done, rounds * stages.length);
    }),
  );
  await Promise.all(runs);
  return stages;
}

async function probe(modules: string[], resourceLimits: ResourceLimits | undefined): Promise<HeapProbe> {
  const w = new Worker(benchWorkerUrl('memory-probe-worker'), { workerData: { modules }, ...(resourceLimits === undefined ? {} : { resourceLimits }) });
  try {
    const [m] = (await once(w, 'message')) as [HeapProbe];
    return m;
  } finally {
    await w.terminate();
  }
}

/**
 * V8 heap figures of a bare worker and of one that loaded what a device
 * worker loads at boot (its runtime, the control plane, the sim backend),
 * with the device workers' resource limits.
 */
export async function probeHeaps(): Promise<{ bare: HeapProbe; device: HeapProbe }> {
  const src = (path: string) => new URL(`../src/${path}`, benchWorkerUrl('x')).href;
  const bare = await probe([], undefined);
  const device = await probe([src('actors/worker/runtime.js'), src('actors/rpc.js'), src('sim/backend.js')], { ...DEVICE_WORKER_RESOURCE_LIMITS });
  return { bare, device };
}
