/**
 * Config suite: a synchronous ConfigPort.read32 round trip (main thread →
 * mailbox → device worker → back) against a raw Atomics ping-pong round trip
 * and a comlink call, all between the same two threads. Rounds alternate the
 * three so they see the same load; the worker switches into its raw
 * ping-pong loop only for the baseline's turn.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ConfigPort, createDeviceControlBlock } from '../src/fastpath/index.js';
import { kDefaultClientSpinIterations } from '../src/fastpath/mailbox.js';
import type { ConfigBenchApi } from './config-worker.js';
import { kConfigBenchBytes, kPingIndex, kPingLoopIndex, kPingStopIndex, kPongIndex } from './config-shared.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport, type SuiteOptions } from './report.js';
import { runInterleaved } from './runner.js';
import { benchWorkerUrl } from './worker-url.js';
import { type MailboxServerOptions } from '../src/actors/worker/mailbox-server.js';

/** Round trips per sample. */
const kBatch = 10;
const kRounds = 4;

/** Options of the config suite beyond {@link SuiteOptions}. */
export interface ConfigSuiteOptions extends SuiteOptions {
  /** Mailbox server options in the worker (default: the server's defaults, lingering included). */
  server?: MailboxServerOptions;
  /** ConfigPort client spin budget (default: the port's, {@link kDefaultClientSpinIterations}). */
  clientSpinIterations?: number;
}

/**
 * Runs the config suite: config.read32 (server in its default mode: waitAsync
 * when idle, lingering in a finite Atomics.wait for `lingerMs` after each
 * request), config.read32.blocking (server in blocking slices,
 * `blockingSliceMs` 5), baseline.atomics.pingpong, rpc.comlink.call.
 */
export async function runConfigSuite(opts: ConfigSuiteOptions = {}): Promise<BenchReport> {
  const durationMs = opts.durationMs ?? 10_000;
  const control = createDeviceControlBlock();
  const shared = new SharedArrayBuffer(kConfigBenchBytes);
  const w = new Int32Array(shared);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(benchWorkerUrl('config-worker'), {
    workerData: { control, shared, port: port2, server: opts.server ?? {} },
    transferList: [port2],
  });
  const remote = Comlink.wrap<ConfigBenchApi>(nodeEndpoint(port1 as unknown as Parameters<typeof nodeEndpoint>[0]));
  const clientSpin = opts.clientSpinIterations ?? kDefaultClientSpinIterations;
  const port = new ConfigPort(control, { timeoutMs: 2000, spinIterations: clientSpin });
  let sink = 0;

  // The raw round trip; `spin` polls before parking, as the ConfigPort client
  // does, for the like-for-like baseline.atomics.pingpong.spin.
  const pingpongOnce = (spin = 0): void => {
    const seq = Atomics.add(w, kPingIndex, 1) + 1;
    Atomics.notify(w, kPingIndex);
    for (let i = 0; i < spin && Atomics.load(w, kPongIndex) !== seq; i++);
    for (let tries = 0; Atomics.load(w, kPongIndex) !== seq; tries++) {
      if (tries > 5) throw new Error('config bench: ping-pong partner stopped answering');
      Atomics.wait(w, kPongIndex, Atomics.load(w, kPongIndex), 1000);
    }
  };

  try {
    await once(worker, 'message');
    const total = kRounds * 5;
    const samples = new Map<string, number[]>([
      ['config.read32', []],
      ['config.read32.blocking', []],
      ['baseline.atomics.pingpong', []],
      ['baseline.atomics.pingpong.spin', []],
      ['rpc.comlink.call', []],
    ]);
    const rounds = new Map<string, number[][]>([...samples.keys()].map((k) => [k, []]));
    const slice = durationMs / kRounds / 5;
    const switchServer = async (mode: 'serve:async' | 'serve:blocking') => {
      const serving = once(worker, 'message');
      worker.postMessage(mode);
      await serving;
    };
    const readBatch = () => {
      for (let i = 0; i < kBatch; i++) sink ^= port.read32(0);
    };
    let step = 0;
    const run = async (name: string, fn: () => unknown) => {
      const got = await runInterleaved([{ name, fn, batch: kBatch }], {
        durationMs: slice,
        rounds: 1,
      });
      samples.get(name)!.push(...got.get(name)!);
      rounds.get(name)!.push(got.get(name)!);
      opts.onProgress?.(++step / total, name);
    };
    for (let round = 0; round < kRounds; round++) {
      await run('config.read32', readBatch);
      await switchServer('serve:blocking');
      await run('config.read32.blocking', readBatch);
      await switchServer('serve:async');
      // Enter the worker's raw loop for the baseline's turn, then leave it.
      worker.postMessage('pingpong');
      for (let tries = 0; Atomics.load(w, kPingLoopIndex) !== 1; tries++) {
        if (tries > 50) throw new Error('config bench: worker did not enter its ping-pong loop');
        Atomics.wait(w, kPingLoopIndex, 0, 100);
      }
      await run('baseline.atomics.pingpong', () => {
        for (let i = 0; i < kBatch; i++) pingpongOnce();
      });
      await run('baseline.atomics.pingpong.spin', () => {
        for (let i = 0; i < kBatch; i++) pingpongOnce(clientSpin);
      });
      const left = once(worker, 'message');
      Atomics.store(w, kPingStopIndex, 1);
      await left;
      await run('rpc.comlink.call', async () => {
        for (let i = 0; i < kBatch; i++) sink ^= await remote.configRead32(0);
      });
    }
    if (sink === 0.5) console.log(sink);
    const retain = opts.retainSamples ?? false;
    const results = [...samples].map(([name, ns]) => resultFromLatencies(name, ns, retain, kBatch));
    const report: BenchReport = { suite: 'config', machine: machineInfo(), results };
    report.ratios = [
      targetRatio(report, 'config.read32', 'baseline.atomics.pingpong', 'p50', 'max', 1.3, rounds),
      // Like for like: the raw round trip with the same client spin before parking.
      // It notifies on every request and its server parks at once, so the
      // mailbox (waiter counts, a short server spin) can beat it: < 1 is fine.
      targetRatio(report, 'config.read32', 'baseline.atomics.pingpong.spin', 'p50', 'max', 1.3, rounds),
      targetRatio(report, 'config.read32', 'rpc.comlink.call', 'p50', 'min', 1.5, rounds),
      targetRatio(report, 'config.read32.blocking', 'baseline.atomics.pingpong', 'p50', 'max', 1.3, rounds),
      targetRatio(report, 'config.read32.blocking', 'rpc.comlink.call', 'p50', 'min', 1.5, rounds),
    ];
    return report;
  } finally {
    remote[Comlink.releaseProxy]();
    port1.close();
    await worker.terminate();
  }
}
