/**
 * MMIO suite: BarWindow read32/write32 against raw Atomics.load/store on the
 * same SharedArrayBuffer, and one comlink call per access. Batched: each
 * tinybench sample is kBatch accesses (tinybench's own per-sample overhead is
 * about the size of one access, eco §2.6); latency per op = sample / batch.
 */
import { BarWindow, createDeviceControlBlock } from '../src/fastpath/index.js';
import { startComlinkBench } from './comlink-client.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport, type SuiteOptions } from './report.js';
import { progress, runInterleaved, type InterleavedSamples } from './runner.js';

/** Accesses per sample. */
const kBatch = 1000;
/** comlink calls per sample (each is ~100 µs, batching only smooths the timer). */
const kRpcBatch = 10;
/** BAR size, and a trapped range like an MSI-X table so the window takes its real trap check. */
const kBarBytes = 0x10000;
const kTrap = { offsetBytes: 0xc000, lengthBytes: 0x1000 };
/** Offsets walked: the first 16 KiB, 4-byte steps (no trapped page). */
const kOffsetMask = 0x3ffc;

/** Runs the MMIO suite (results bar.read32, bar.write32, baseline.atomics.load32, baseline.atomics.store32, rpc.comlink.read32). */
export async function runMmioSuite(opts: SuiteOptions = {}): Promise<BenchReport> {
  const durationMs = opts.durationMs ?? 8000;
  const retain = opts.retainSamples ?? false;
  const buffer = new SharedArrayBuffer(kBarBytes);
  const control = createDeviceControlBlock();
  const win = BarWindow.open(
    { bar: 0, sizeBytes: kBarBytes, buffer, trapRanges: [kTrap], control },
    {
      slowPath: {
        read: () => {
          throw new Error('slow path reached in the MMIO bench');
        },
        write: () => {
          throw new Error('slow path reached in the MMIO bench');
        },
      },
    },
  );
  const u32 = new Uint32Array(buffer);
  let sink = 0;


  // The four local tasks share 80% of the budget, in interleaved rounds; comlink gets the rest.
  const local = await runInterleaved(
    [
      {
        name: 'bar.read32',
        batch: kBatch,
        fn: () => {
          let acc = 0;
          for (let i = 0; i < kBatch; i++) acc ^= win.read32((i << 2) & kOffsetMask);
          sink ^= acc;
        },
      },
      {
        name: 'baseline.atomics.load32',
        batch: kBatch,
        fn: () => {
          let acc = 0;
          for (let i = 0; i < kBatch; i++) acc ^= Atomics.load(u32, ((i << 2) & kOffsetMask) >>> 2);
          sink ^= acc;
        },
      },
      {
        name: 'bar.write32',
        batch: kBatch,
        fn: () => {
          for (let i = 0; i < kBatch; i++) win.write32((i << 2) & kOffsetMask, i);
        },
      },
      {
        name: 'baseline.atomics.store32',
        batch: kBatch,
        fn: () => {
          for (let i = 0; i < kBatch; i++) Atomics.store(u32, ((i << 2) & kOffsetMask) >>> 2, i);
        },
      },
    ],
    { durationMs: durationMs * 0.8, ...progress(opts, [0, 0.8]) },
  );
  const rpc = await startComlinkBench(buffer);
  let remote: InterleavedSamples;
  try {
    remote = await runInterleaved(
      [
        {
          name: 'rpc.comlink.read32',
          batch: kRpcBatch,
          fn: async () => {
            for (let i = 0; i < kRpcBatch; i++) sink ^= await rpc.read32((i << 2) & kOffsetMask);
          },
        },
      ],
      { durationMs: durationMs * 0.2, rounds: 1, ...progress(opts, [0.8, 0.2]) },
    );
  } finally {
    await rpc.close();
    win.release();
  }
  const results = [...local, ...remote].map(([name, ns]) =>
    resultFromLatencies(name, ns, retain, name.startsWith('rpc.') ? kRpcBatch : kBatch),
  );
  if (sink === 0.5) console.log(sink); // keeps the reads observable

  const report: BenchReport = { suite: 'mmio', machine: machineInfo(), results };
  // comlink ran one round after the local ones: each local round is compared with it.
  const rounds = new Map(local.rounds);
  const rpcRound = remote.rounds.get('rpc.comlink.read32')![0]!;
  rounds.set('rpc.comlink.read32', local.rounds.get('bar.read32')!.map(() => rpcRound));
  report.ratios = [
    targetRatio(report, 'bar.read32', 'baseline.atomics.load32', 'p50', 'max', 1.5, rounds),
    targetRatio(report, 'bar.write32', 'baseline.atomics.store32', 'p50', 'max', 1.5, rounds),
    targetRatio(report, 'bar.read32', 'rpc.comlink.read32', 'p50', 'min', 1000, rounds),
  ];
  return report;
}
