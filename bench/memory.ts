/**
 * Memory of device workers, for the scale suite: RSS per worker of a bare
 * worker and of a device worker at each stage (modules loaded, backend
 * loaded), measured in the same process as the attached devices, plus a
 * heap probe that says where a worker's memory goes.
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
import { DEVICE_WORKER_RESOURCE_LIMITS, spawnWorker, type DeviceWorker } from '../src/actors/supervisor/workers.js';
import { benchWorkerUrl } from './worker-url.js';

const execFileAsync = promisify(execFile);

/** A stage's RSS per worker, one figure per round (bytes). */
export interface StageRss {
  stage: 'bare' | 'modules' | 'backend';
  rssPerWorkerBytes: number[];
}

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

/** RSS growth per worker while `count` workers of `stage` start (they stay up until measured). */
export async function stageRss(stage: StageRss['stage'], count: number): Promise<number> {
  const bare: Worker[] = [];
  const device: DeviceWorker[] = [];
  try {
    await settle();
    const before = process.memoryUsage.rss();
    for (let i = 0; i < count; i++) {
      if (stage === 'bare') {
        const w = new Worker(benchWorkerUrl('bare-worker'));
        bare.push(w);
        await once(w, 'message');
      } else {
        const d = spawnWorker({ callTimeoutMs: 20_000, preload: stage === 'backend' ? ['sim'] : [] });
        device.push(d);
        await d.booted;
      }
    }
    await settle();
    return Math.round((process.memoryUsage.rss() - before) / count);
  } finally {
    await Promise.all([...bare.map((w) => w.terminate()), ...device.map((d) => d.terminate())]);
  }
}

/**
 * RSS per worker of each stage, `rounds` rounds of `perRound` workers, the
 * stages interleaved round by round. Each measurement runs in a child
 * process of its own (memory-child.ts): nothing else there allocates or
 * frees meanwhile, so the growth is the workers' alone.
 */
export async function measureStages(rounds: number, perRound: number): Promise<StageRss[]> {
  const stages: StageRss[] = [
    { stage: 'bare', rssPerWorkerBytes: [] },
    { stage: 'modules', rssPerWorkerBytes: [] },
    { stage: 'backend', rssPerWorkerBytes: [] },
  ];
  const child = fileURLToPath(benchWorkerUrl('memory-child'));
  for (let r = 0; r < rounds; r++) {
    for (const s of stages) {
      const { stdout } = await execFileAsync(process.execPath, [child, s.stage, String(perRound)], { timeout: 120_000 });
      s.rssPerWorkerBytes.push(Number(JSON.parse(stdout).rssPerWorkerBytes));
    }
  }
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
