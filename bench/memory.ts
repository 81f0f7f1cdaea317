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
import { Worker } from 'node:worker_threads';
import { createSupervisor } from '../src/actors/supervisor/supervisor.js';
import { spawnWorker, type DeviceWorker } from '../src/actors/supervisor/workers.js';
import type { WorkerHeap } from '../src/actors/protocol.js';
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
export type HeapProbe = WorkerHeap;

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
 *
 * The figure is the marginal cost of one more worker: one worker of the
 * stage starts before the baseline is read (for every stage alike), so what
 * the process pays once (the main thread compiling its spawn and attach
 * paths, the supervisor's first lazy imports) is not spread over the count
 * (~0.1 MiB per device at 8 per round on the dev VM). Counts are kept small
 * on purpose: starting 96 devices one after another takes long enough that
 * the first ones settle before the figure is read (9.7 MiB each at 96 against
 * 11.5 at 8 and 32).
 */
export async function stageRss(stage: MemoryStage, count: number, settledAfterMs: number): Promise<{ freshBytes: number; settledBytes: number }> {
  const bare: Worker[] = [];
  const device: DeviceWorker[] = [];
  const adapter = { physicalFunctions: 1, vfsPerPf: count + 1, options: { vectors: 64, ramBarBytes: 16384 } };
  const vfs = sriovLayout(adapter)[0]!.vfs;
  const sup = stage === 'attached' ? await createSupervisor({ machine: sriovMachine(adapter), presenceCheckMs: 0, callTimeoutMs: 20_000 }) : undefined;
  const start = async (i: number): Promise<void> => {
    if (stage === 'bare') {
      const w = new Worker(benchWorkerUrl('bare-worker'));
      bare.push(w);
      await once(w, 'message');
    } else if (stage === 'attached') {
      await sup!.attach(vfs[i]!);
    } else {
      const d = spawnWorker({ callTimeoutMs: 20_000, preload: stage === 'backend' ? ['sim'] : [] });
      device.push(d);
      await d.booted;
    }
  };
  try {
    await start(count);
    await settle();
    const before = process.memoryUsage.rss();
    for (let i = 0; i < count; i++) await start(i);
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
 * measurement runs in a child process of its own (memory-child.ts): RSS is
 * per process, so nothing else allocates or frees in the process measured.
 * The four stages of a round run at once, so their workers age alike; the
 * rounds run one after another. (All rounds at once put ~140 threads on the
 * 2-core dev VM, and V8's memory reducer, which runs on the idle workers'
 * timers, then gave back less within the 20 s: the settled ratio read 1.7–1.8×
 * where a round alone reads 1.44×.)
 */
export async function measureStages(rounds: number, perRound: number, settledAfterMs = kSettledAfterMs, onStage?: (done: number, of: number) => void): Promise<StageRss[]> {
  const names: MemoryStage[] = ['bare', 'modules', 'backend', 'attached'];
  const stages: StageRss[] = names.map((stage) => ({ stage, freshBytes: [], settledBytes: [] }));
  const child = fileURLToPath(benchWorkerUrl('memory-child'));
  let done = 0;
  for (let r = 0; r < rounds; r++) {
    await Promise.all(
      stages.map(async (s) => {
        const { stdout } = await execFileAsync(process.execPath, [child, s.stage, String(perRound), String(settledAfterMs)], { timeout: 300_000 });
        const got = JSON.parse(stdout) as { freshBytes: number; settledBytes: number };
        s.freshBytes[r] = got.freshBytes;
        s.settledBytes[r] = got.settledBytes;
        onStage?.(++done, rounds * stages.length);
      }),
    );
  }
  return stages;
}

/** A bare worker's heap figures, from the probe worker. */
async function probeBare(): Promise<HeapProbe> {
  const w = new Worker(benchWorkerUrl('memory-probe-worker'));
  try {
    const [m] = (await once(w, 'message')) as [HeapProbe];
    return m;
  } finally {
    await w.terminate();
  }
}

/**
 * V8 heap figures of a bare worker and of a device worker as the supervisor
 * starts it (the bundled entry, its resource limits, the sim backend loaded),
 * read inside it with the `worker.heap` command.
 */
export async function probeHeaps(): Promise<{ bare: HeapProbe; device: HeapProbe }> {
  const bare = await probeBare();
  const d = spawnWorker({ callTimeoutMs: 20_000, preload: ['sim'] });
  try {
    await d.booted;
    await settle();
    return { bare, device: await d.rpc.call({ type: 'worker.heap' }) };
  } finally {
    await d.terminate();
  }
}
