/**
 * Guest suite: what an emulator pays for a passed-through function behind
 * the guest layer (src/guest/), with the baselines measured in the same run.
 *
 * MMIO (batched samples; every access goes through the same emulator-style
 * dispatch, a page table of handlers keyed by the guest address):
 * - guest.mmio.ram.read32 / .write32: the layer to a RAM-like BAR (the sim
 *   MSI-X function's BAR2: route, then one Atomics access on shared memory);
 * - guest.mmio.trapped.read32: the layer to a trapped register (BAR0
 *   scratch register: the device worker answers through the mailbox);
 * - fastpath.ram.read32, fastpath.trapped.read32: the same accesses on the
 *   BarWindow without the layer (the layer's own cost is the difference);
 * - baseline.handler.read32 / .write32: an in-process register handler, the
 *   emulator's own device model.
 *
 * Interrupts (one event per sample; a worker stamps the shared clock, then
 * raises with IrqLine.raise; the main thread parks in waitSync, polls, and
 * stamps again in the sink callback):
 * - guest.irq.msix: host vector → the embedder's `sink.msi` (MSI-X enabled,
 *   entry unmasked);
 * - guest.irq.intx: host INTx → `sink.intx(true)` (then EOI, untimed);
 * - fastpath.irq.deliver: the IrqLine alone (waitSync + drain);
 * - baseline.atomics.wait-notify: raw Atomics.wait / notify between the same threads.
 *
 * Not wired into the CLI. Run: `npm run build && node dist/bench/guest-mmio.js [--json] [--duration-ms N]`.
 */
import { once } from 'node:events';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createSupervisor } from '../src/actors/supervisor/supervisor.js';
import { BarWindow, IrqLine, createDeviceControlBlock } from '../src/fastpath/index.js';
import { createGuestFunction, hostControlForHandle, openGuestFunction, type GuestFunction } from '../src/guest/index.js';
import type { GuestConfigPort } from '../src/guest/device.js';
import { CapId, Msix } from '../src/pci/config-space.js';
import { SimConfigSpace } from '../src/sim/config-space.js';
import { GuestIrqBench as B } from './guest-irq-shared.js';
import { machineInfo, resultFromLatencies, targetRatio, type BenchReport, type SuiteOptions } from './report.js';
import { measured, progress, runInterleaved } from './runner.js';
import { benchWorkerUrl } from './worker-url.js';

/** In-process accesses per sample. */
const kBatch = 1000;
/** Trapped (cross-thread) accesses per sample. */
const kTrapBatch = 20;
/** Offsets walked in the RAM BAR / register file: 4 KiB, 4-byte steps. */
const kOffsetMask = 0xffc;
/** Where the emulator's own device model sits, and where the guest programs the BARs. */
const kHandlerBase = 0xc000_0000;
const kBar0 = 0xe000_0000;
const kBar2 = 0xd000_0000;
/** The sim MSI-X function's scratch registers (BAR0, trapped). */
const kScratch = 0x100;
/** How long a waiter waits for its event before the sample counts as lost, ms. */
const kWaitMs = 1000;

/** An emulator's MMIO handler for one region. */
interface Handler {
  read32(gpa: number): number;
  write32(gpa: number, value: number): void;
}

/** The emulator loop's dispatch: one handler per 64 KiB page of a 32-bit address space. */
class Dispatch {
  readonly #pages: (Handler | undefined)[] = new Array(0x1_0000).fill(undefined);
  map(base: number, sizeBytes: number, h: Handler): void {
    for (let a = base; a < base + sizeBytes; a += 0x1_0000) this.#pages[a >>> 16] = h;
  }
  read32(gpa: number): number {
    return this.#pages[gpa >>> 16]!.read32(gpa);
  }
  write32(gpa: number, value: number): void {
    this.#pages[gpa >>> 16]!.write32(gpa, value);
  }
}

/** Runs the guest suite. */
export async function runGuestSuite(opts: SuiteOptions = {}): Promise<BenchReport> {
  const durationMs = opts.durationMs ?? 10_000;
  const retain = opts.retainSamples ?? false;
  const mmio = await measureMmio(durationMs * 0.55, opts);
  const irq = await measureIrq(durationMs * 0.45, opts);
  const results = [
    ...[...mmio].map(([name, ns]) => resultFromLatencies(name, ns, retain, name.includes('trapped') ? kTrapBatch : kBatch)),
    ...[...irq.samples].map(([name, ns]) => resultFromLatencies(name, ns, retain)),
  ];
  const report: BenchReport = { suite: 'guest', machine: machineInfo(), results, lostEvents: irq.lost };
  report.ratios = [
    targetRatio(report, 'guest.mmio.ram.read32', 'baseline.handler.read32', 'p50', 'max', 3),
    targetRatio(report, 'guest.mmio.ram.write32', 'baseline.handler.write32', 'p50', 'max', 3),
    targetRatio(report, 'guest.mmio.ram.read32', 'fastpath.ram.read32', 'p50', 'max', 2),
    targetRatio(report, 'guest.mmio.trapped.read32', 'fastpath.trapped.read32', 'p50', 'max', 1.25),
    targetRatio(report, 'guest.irq.msix', 'baseline.atomics.wait-notify', 'p50', 'max', 1.5),
    targetRatio(report, 'guest.irq.msix', 'baseline.atomics.wait-notify', 'p99', 'max', 2),
    targetRatio(report, 'guest.irq.intx', 'baseline.atomics.wait-notify', 'p50', 'max', 1.5),
    targetRatio(report, 'guest.irq.msix', 'fastpath.irq.deliver', 'p50', 'max', 1.25),
  ];
  return report;
}

/** The MMIO half, over the sim MSI-X function in a real device worker. */
async function measureMmio(durationMs: number, opts: SuiteOptions): Promise<Map<string, number[]>> {
  const sup = await createSupervisor({ callTimeoutMs: 10_000 });
  let fn: GuestFunction | undefined;
  try {
    const h = await sup.attach('0000:02:00.0');
    fn = openGuestFunction(h.descriptor(), { regions: h.info.regions, control: hostControlForHandle(h) });
    fn.configWrite(0x10, 4, kBar0);
    fn.configWrite(0x18, 4, kBar2);
    fn.configWrite(0x1c, 4, 0);
    fn.configWrite(0x04, 2, 0x2);
    await fn.whenIdle();
    const guest = fn;
    const ram = h.bar(2)!;
    const regs0 = h.bar(0)!;
    const own = new Uint32Array(1024);
    const d = new Dispatch();
    d.map(kHandlerBase, 0x1_0000, {
      read32: (gpa) => own[((gpa - kHandlerBase) >>> 2) & 1023]!,
      write32: (gpa, v) => void (own[((gpa - kHandlerBase) >>> 2) & 1023] = v),
    });
    d.map(kBar2, 0x10_0000, { read32: (gpa) => guest.mmioRead(gpa, 4), write32: (gpa, v) => guest.mmioWrite(gpa, 4, v) });
    d.map(kBar0, 0x1_0000, { read32: (gpa) => guest.mmioRead(gpa, 4), write32: (gpa, v) => guest.mmioWrite(gpa, 4, v) });
    // The BarWindows without the layer, behind the same dispatch (pages the guest does not use).
    const kRawRam = 0xa000_0000;
    const kRawRegs = 0xb000_0000;
    d.map(kRawRam, 0x10_0000, { read32: (gpa) => ram.read32(gpa - kRawRam), write32: (gpa, v) => ram.write32(gpa - kRawRam, v) });
    d.map(kRawRegs, 0x1_0000, { read32: (gpa) => regs0.read32(gpa - kRawRegs), write32: (gpa, v) => regs0.write32(gpa - kRawRegs, v) });
    let sink = 0;
    const reads = (base: number, batch: number, mask: number) => () => {
      let acc = 0;
      for (let i = 0; i < batch; i++) acc ^= d.read32(base + ((i << 2) & mask));
      sink ^= acc;
    };
    const writes = (base: number) => () => {
      for (let i = 0; i < kBatch; i++) d.write32(base + ((i << 2) & kOffsetMask), i);
    };
    const out = await runInterleaved(
      [
        { name: 'guest.mmio.ram.read32', batch: kBatch, fn: reads(kBar2, kBatch, kOffsetMask) },
        { name: 'fastpath.ram.read32', batch: kBatch, fn: reads(kRawRam, kBatch, kOffsetMask) },
        { name: 'baseline.handler.read32', batch: kBatch, fn: reads(kHandlerBase, kBatch, kOffsetMask) },
        { name: 'guest.mmio.ram.write32', batch: kBatch, fn: writes(kBar2) },
        { name: 'baseline.handler.write32', batch: kBatch, fn: writes(kHandlerBase) },
        { name: 'guest.mmio.trapped.read32', batch: kTrapBatch, fn: reads(kBar0 + kScratch, kTrapBatch, 0xfc) },
        { name: 'fastpath.trapped.read32', batch: kTrapBatch, fn: reads(kRawRegs + kScratch, kTrapBatch, 0xfc) },
      ],
      { durationMs, ...progress(opts, [0, 0.55]) },
    );
    if (sink === 0.5) console.log(sink); // keeps the reads observable
    return out;
  } finally {
    fn?.close();
    await sup.close();
  }
}

/** A config port over a SimConfigSpace (BAR registers answer their type bits, as the dext's do). */
function simPort(cfg: SimConfigSpace): GuestConfigPort {
  const rd = (off: number, w: number) => (w === 4 && off >= 0x10 && off < 0x28 ? cfg.read(off, 4) & 0xf : cfg.read(off, w));
  return {
    read8: (o) => rd(o, 1),
    read16: (o) => rd(o, 2),
    read32: (o) => rd(o, 4),
    write8: (o, v) => cfg.write(o, 1, v),
    write16: (o, v) => cfg.write(o, 2, v),
    write32: (o, v) => cfg.write(o, 4, v),
  };
}

/** An in-process host function: BAR0 (16 KiB, a real BarWindow), INTx pin A, optionally 256 MSI-X vectors. */
function benchFunction(msix: boolean, sink: Parameters<typeof createGuestFunction>[1]): { fn: GuestFunction; control: SharedArrayBuffer } {
  const control = createDeviceControlBlock();
  const cfg = new SimConfigSpace();
  cfg.header({ vendorId: 0x1234, deviceId: 0xbe01, revision: 1, classCode: 0xff0000, interruptPin: 1 });
  cfg.bar({ index: 0, sizeBytes: 0x4000, type: 0 }, 0n);
  if (msix) {
    const cap = cfg.capability(CapId.MSIX, 12);
    cfg.set(cap + Msix.FLAGS, 2, 255);
    cfg.set(cap + Msix.TABLE, 4, 0x2000);
    cfg.set(cap + Msix.PBA, 4, 0x3000);
  }
  const bar0 = BarWindow.open({ bar: 0, sizeBytes: 0x4000, buffer: new SharedArrayBuffer(0x4000), trapRanges: [], control });
  const line = new IrqLine(control);
  const fn = createGuestFunction({ bars: [bar0], irq: line, config: simPort(cfg), close: () => bar0.release() }, sink);
  fn.configWrite(0x10, 4, kBar0);
  fn.configWrite(0x04, 2, 0x6);
  if (msix) {
    fn.configWrite(0x40 + Msix.FLAGS, 2, Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
    for (let v = 0; v < 256; v++) {
      const e = kBar0 + 0x2000 + 16 * v;
      fn.mmioWrite(e, 4, 0xfee0_0000);
      fn.mmioWrite(e + 4, 4, 0);
      fn.mmioWrite(e + 8, 4, v);
      fn.mmioWrite(e + 12, 4, 0);
    }
    fn.configWrite(0x40 + Msix.FLAGS, 2, Msix.FLAGS_ENABLE);
  }
  return { fn, control };
}

/** The interrupt half. */
async function measureIrq(durationMs: number, opts: SuiteOptions): Promise<{ samples: Map<string, number[]>; lost: number }> {
  let lastMsi = -1;
  let intxSeen = false;
  const a = benchFunction(true, { sink: { msi: (_addr, data) => void (lastMsi = data) } });
  const b = benchFunction(false, { sink: { intx: (asserted) => void (asserted && (intxSeen = true)) } });
  const rawControl = createDeviceControlBlock();
  const rawLine = new IrqLine(rawControl);
  const shared = new SharedArrayBuffer(B.BYTES);
  const w = new Int32Array(shared);
  const t = new BigInt64Array(shared);
  const drained = new Uint16Array(256);
  const worker = new Worker(benchWorkerUrl('guest-irq-worker'), { workerData: { controls: [a.control, b.control, rawControl], shared } });
  const ready = once(worker, 'message');
  let lost = 0;

  const go = (line: number, vector: number): number => {
    Atomics.store(w, B.LINE, line);
    Atomics.store(w, B.VECTOR, vector);
    const g = Atomics.add(w, B.GO, 1) + 1;
    Atomics.notify(w, B.GO);
    return g;
  };
  const sample = (g: number, seen: boolean, startMs: number) => {
    const endNs = process.hrtime.bigint();
    if (!seen || Atomics.load(w, B.STAMP_GO) !== g) {
      lost++;
      return measured((performance.now() - startMs) * 1e6, startMs);
    }
    return measured(Number(endNs - Atomics.load(t, B.STAMP_NS_64)), startMs);
  };
  /** Waits in the guest function until `seen()` (parks in waitSync, then polls). */
  const guestWait = (f: GuestFunction, seen: () => boolean, deadlineMs: number): boolean => {
    while (!seen()) {
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) return false;
      f.waitSync(remainingMs);
      f.poll();
    }
    return true;
  };
  const msixTask = () => {
    const startMs = performance.now();
    const g = go(0, g8(w));
    const mine = Atomics.load(w, B.VECTOR);
    lastMsi = -1;
    return sample(g, guestWait(a.fn, () => lastMsi === mine, startMs + kWaitMs), startMs);
  };
  const intxTask = () => {
    const startMs = performance.now();
    intxSeen = false;
    const g = go(1, 0);
    const seen = guestWait(b.fn, () => intxSeen, startMs + kWaitMs);
    const s = sample(g, seen, startMs);
    b.fn.eoi(); // untimed: deassert, resample the device's level
    return s;
  };
  const lineTask = () => {
    const startMs = performance.now();
    const deadlineMs = startMs + kWaitMs;
    let seq = rawLine.seq;
    const g = go(2, g8(w));
    const mine = Atomics.load(w, B.VECTOR);
    let seen = false;
    while (!seen) {
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) break;
      seq = rawLine.waitSync(seq, remainingMs);
      const n = rawLine.drainInto(drained);
      for (let i = 0; i < n; i++) if (drained[i] === mine) seen = true;
    }
    return sample(g, seen, startMs);
  };
  const rawTask = () => {
    const startMs = performance.now();
    const deadlineMs = startMs + kWaitMs;
    const g = go(-1, 0);
    let now: number;
    while ((now = Atomics.load(w, B.DOORBELL)) !== g) {
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) break;
      Atomics.wait(w, B.DOORBELL, now, remainingMs);
    }
    return sample(g, now === g, startMs);
  };
  try {
    await ready;
    const samples = await runInterleaved(
      [
        { name: 'guest.irq.msix', fn: msixTask },
        { name: 'baseline.atomics.wait-notify', fn: rawTask },
        { name: 'guest.irq.intx', fn: intxTask },
        { name: 'fastpath.irq.deliver', fn: lineTask },
      ],
      { durationMs, rounds: 8, ...progress(opts, [0.55, 0.45]) },
    );
    return { samples, lost };
  } finally {
    Atomics.store(w, B.EXIT, 1);
    Atomics.notify(w, B.GO);
    await worker.terminate();
    a.fn.close();
    b.fn.close();
  }
}

/** The next vector for a go: cycles 1–255 (each go a different vector, so a late one is never taken for the current). */
function g8(w: Int32Array): number {
  return ((Atomics.load(w, B.GO) + 1) % 255) + 1;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const at = args.indexOf('--duration-ms');
  const durationMs = at >= 0 ? Number(args[at + 1]) : undefined;
  const report = await runGuestSuite(durationMs === undefined ? {} : { durationMs });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const fmt = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
    console.table(report.results.map((r) => ({ task: r.name, p50: fmt(r.latencyNs.p50), p99: fmt(r.latencyNs.p99), samples: r.samples })));
    for (const r of report.ratios ?? []) console.log(`${r.ok ? 'ok  ' : 'MISS'} ${r.label} = ${r.value.toFixed(3)} (target ${r.target.kind} ${r.target.value})`);
    console.log(`lost events: ${report.lostEvents}`);
  }
}
