/**
 * `pcipt demo` (what `npm start` runs): creates a supervisor on the chosen
 * backend (default: the default simulated machine), attaches every function
 * it sees, prints a device table, runs a short MMIO / IRQ / DMA workload from
 * the main thread and prints a latency summary, then closes everything.
 * With `--json`: `{ devices: [...], latency: {...} }`.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { DeviceHandle } from '../../actors/supervisor/handle.js';
import { PassthroughError, toPassthroughError } from '../../errors.js';
import {
  mergeCounters,
  mergeHistograms,
  summarizeHistogram,
  TRACE_POINT_NAMES,
  traceEnabled,
  type CounterTree,
  type HistogramSummary,
} from '../../trace.js';
import type { CommandContext } from '../context.js';
import type { EmbedderInput, EmbedderOutput } from '../demo/embedder.worker.js';
import { findDevice, measureDma, measureFastPath, measureIrq, measureSlowPath, type DemoLatencies } from '../demo/workload.js';
import { hex4 } from '../pci-names.js';
import { formatNs, renderTable } from '../table.js';

/** One row of the demo's device table. */
export interface DemoDevice {
  id: string;
  bdf: string;
  /** Human name (pci.ids / built-in table / class). */
  name: string;
  /** `vvvv:dddd`. */
  ids: string;
  state: string;
  /** Mapped BARs: index and size in bytes. */
  bars: { bar: number; sizeBytes: number }[];
  irqMode: string;
  irqVectors: number;
}

/** The `demo --json` document. */
export interface DemoDocument {
  backend: string;
  devices: DemoDevice[];
  /** Devices that failed to attach (code + message). */
  failed: { bdf: string; code: string; message: string }[];
  /** Measured on the main thread (IRQs with Atomics.waitAsync; DMA through handle.dma). */
  latency: DemoLatencies;
  /** Measured in a worker over openFastPath (IRQs with the blocking waitSync; no DMA: that is control plane). */
  workerThread: DemoLatencies;
  /** Every device's counters summed (supervisor.stats(), DeviceCounters shape). */
  counters: CounterTree;
  /** Slow-path (mailbox-served) latency of every device, merged histograms. */
  slowPathLatency: HistogramSummary;
}

/** Runs demo. */
export async function demoCommand(ctx: CommandContext, opts: { iterations: number }): Promise<number> {
  const { output } = ctx;
  const tracing = TRACE_POINT_NAMES.some(traceEnabled);
  const sup = await ctx.createSupervisor({ traceWorkers: tracing });
  try {
    const functions = (await sup.listFunctions()).filter((f) => f.attachable);
    if (functions.length === 0) {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `the ${ctx.options.backend} backend has no attachable function`, {});
    }
    const handles: DeviceHandle[] = [];
    const failed: DemoDocument['failed'] = [];
    for (const f of functions) {
      try {
        handles.push(await sup.attach(f.bdf));
      } catch (e) {
        const err = toPassthroughError(e);
        failed.push({ bdf: f.bdf, code: err.code, message: err.message });
      }
    }
    const ids = ctx.names();
    const devices = handles.map((h) => describe(h, ids.deviceName(h.info.vendorId, h.info.deviceId)));
    if (!output.json) printDevices(ctx, devices, failed);

    const latency: DemoLatencies = {};
    const n = opts.iterations;
    const msix = findDevice(handles, 0x1234, 0x5a01);
    const edu = findDevice(handles, 0x1234, 0x11e8);
    if (msix !== undefined) {
      const ramBar = msixRamBar(msix);
      if (ramBar !== undefined) latency.mmioFastPath = measureFastPath(msix.bar(ramBar)!, n);
      latency.irqDelivery = await measureIrq(msix, Math.max(50, Math.floor(n / 4)));
    }
    if (edu !== undefined) {
      latency.mmioSlowPath = measureSlowPath(edu.bar(0)!, edu.bdf, Math.max(50, Math.floor(n / 4)));
      latency.dmaRoundTrip = await measureDma(edu, Math.max(10, Math.floor(n / 40)));
    }
    const workerThread = await runEmbedder({
      iterations: n,
      ...(msix === undefined || msixRamBar(msix) === undefined
        ? {}
        : { msix: { descriptor: msix.descriptor(), ramBar: msixRamBar(msix)!, vectors: msix.info.irqVectors } }),
      ...(edu === undefined ? {} : { edu: { descriptor: edu.descriptor() } }),
    });
    // Per-device counters and slow-path histograms, merged (cloud-hypervisor's vm.counters, summed).
    const stats = Object.values(await sup.stats());
    const counters = mergeCounters(stats.map((st) => st.counters as unknown as CounterTree));
    const slowPathLatency = summarizeHistogram(mergeHistograms(stats.map((st) => st.slowPathLatencyNs)));
    if (output.json) {
      output.emitJson({
        backend: ctx.options.backend,
        devices,
        failed,
        latency,
        workerThread,
        counters,
        slowPathLatency,
      } satisfies DemoDocument);
    } else {
      printLatency(ctx, 'main thread', 'waitAsync', latency);
      printLatency(ctx, 'worker thread, a vCPU stand-in (openFastPath)', 'waitSync', workerThread);
      printCounters(ctx, counters, slowPathLatency);
    }
    return failed.length === 0 ? 0 : 1;
  } finally {
    await sup.close();
  }
}

/** The MSI-X test function's plain-memory BAR (BAR2), when mapped. */
function msixRamBar(h: DeviceHandle): number | undefined {
  return [2, 4].find((b) => h.bar(b) !== undefined);
}

/** Runs the workload in a worker thread over the devices' descriptors (dist/src/cli/demo/embedder.worker.js). */
async function runEmbedder(input: EmbedderInput): Promise<DemoLatencies> {
  const worker = new Worker(new URL('../demo/embedder.worker.js', import.meta.url), { workerData: input });
  try {
    const [message] = (await Promise.race([
      once(worker, 'message'),
      once(worker, 'exit').then(([code]) => {
        throw new PassthroughError('PT_ERR_WORKER_EXITED', `the demo's embedding worker exited with code ${String(code)}`, {});
      }),
    ])) as [EmbedderOutput];
    if (!message.ok) throw PassthroughError.fromJSON(message.error);
    return message.latency;
  } finally {
    await worker.terminate();
  }
}

function describe(h: DeviceHandle, name: string): DemoDevice {
  const bars: DemoDevice['bars'] = [];
  for (let i = 0; i < 6; i++) {
    const region = h.info.regions.find((r) => r.index === i);
    if (h.bar(i) !== undefined || (region !== undefined && region.sizeBytes > 0)) bars.push({ bar: i, sizeBytes: region?.sizeBytes ?? 0 });
  }
  return {
    id: h.id,
    bdf: h.bdf,
    name,
    ids: `${hex4(h.info.vendorId)}:${hex4(h.info.deviceId)}`,
    state: h.state,
    bars,
    irqMode: h.info.irqMode,
    irqVectors: h.info.irqVectors,
  };
}

function sizeText(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)}M`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}K`;
  return String(bytes);
}

function printDevices(ctx: CommandContext, devices: DemoDevice[], failed: DemoDocument['failed']): void {
  const { out, color: c } = ctx.output;
  out(c.bold(`attached ${devices.length} device${devices.length === 1 ? '' : 's'} (${ctx.options.backend} backend)`));
  const rows = devices.map((d) => [
    d.id,
    d.bdf,
    d.name.length > 40 ? `${d.name.slice(0, 39)}…` : d.name,
    d.ids,
    d.state,
    d.bars.map((b) => `${b.bar}:${sizeText(b.sizeBytes)}`).join(' '),
    d.irqMode === 'none' ? 'none' : `${d.irqMode} ×${d.irqVectors}`,
  ]);
  for (const line of renderTable(
    [{ header: 'id' }, { header: 'bdf' }, { header: 'name' }, { header: 'ids' }, { header: 'state' }, { header: 'BARs' }, { header: 'irq' }],
    rows,
    (_r, col, s) => (col === 4 ? c.green(s) : s),
  )) {
    out(`  ${line}`);
  }
  for (const f of failed) out(c.red(`  ${f.bdf}: attach failed: ${f.message} [${f.code}]`));
  out();
}

function printCounters(ctx: CommandContext, counters: CounterTree, slow: HistogramSummary): void {
  const { out, color: c } = ctx.output;
  const n = (v: number | CounterTree | undefined): number =>
    typeof v === 'number' ? v : v === undefined ? 0 : Object.values(v).reduce<number>((a, x) => a + n(x), 0);
  out(c.bold('counters (all devices)'));
  out(
    `  slow-path MMIO reads ${n(counters.mmioReads)}, writes ${n(counters.mmioWrites)} · config reads ${n(counters.configReads)}, writes ${n(counters.configWrites)}`,
  );
  out(
    `  IRQs raised ${n(counters.irqsRaised)}, delivered ${n(counters.irqsDelivered)}, coalesced ${n(counters.irqsCoalesced)}, masked ${n(counters.irqsMasked)}`,
  );
  out(`  DMA maps ${n(counters.dmaMaps)}, unmaps ${n(counters.dmaUnmaps)} · errors ${n(counters.errors)} · resets ${n(counters.resets)}`);
  if (slow.count > 0) out(`  slow path served in the device workers: p50 ${formatNs(slow.p50Ns)}, p99 ${formatNs(slow.p99Ns)} (${slow.count})`);
}

function printLatency(ctx: CommandContext, where: string, wait: string, latency: DemoLatencies): void {
  const { out, color: c } = ctx.output;
  const row = (label: string, s: HistogramSummary | undefined): string[] =>
    s === undefined ? [label, '-', '-', '-', '0'] : [label, formatNs(s.p50Ns), formatNs(s.p99Ns), formatNs(s.meanNs), String(s.count)];
  out(c.bold(`latency: ${where}`));
  for (const line of renderTable(
    [{ header: 'path' }, { header: 'p50', right: true }, { header: 'p99', right: true }, { header: 'mean', right: true }, { header: 'samples', right: true }],
    [
      row('MMIO read32, fast path (shared memory)', latency.mmioFastPath),
      row('MMIO read32, slow path (trapped register)', latency.mmioSlowPath),
      row(`IRQ delivery (doorbell → ${wait})`, latency.irqDelivery),
      row('DMA round trip (edu, 1 KiB each way)', latency.dmaRoundTrip),
    ].filter((r) => r[4] !== '0'),
  )) {
    out(`  ${line}`);
  }
  out();
}
