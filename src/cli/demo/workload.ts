/**
 * The demo workload, run on the main thread against attached DeviceHandles:
 * MMIO through the fast path (a plain-memory BAR of the `msix` function) and
 * the slow path (edu's trapped liveness register), interrupt delivery
 * (doorbell write → IRQ pump → IrqLine.waitAsync), and a DMA round trip
 * through edu's engine (guest RAM → device buffer → guest RAM, each leg
 * completing with an MSI). Every number is a per-operation latency in ns.
 */
import { performance } from 'node:perf_hooks';
import type { DeviceHandle } from '../../actors/supervisor/handle.js';
import type { BarWindow, IrqLine } from '../../fastpath/index.js';
import { PassthroughError } from '../../errors.js';
import { createLatencyHistogram, recordLatency, summarizeHistogram, type HistogramSummary } from '../../trace.js';

/** Latencies the demo reports (undefined when the machine lacks the device a path needs). */
export interface DemoLatencies {
  /** BarWindow.read32 on plain BAR memory (batched; per access). */
  mmioFastPath?: HistogramSummary;
  /** BarWindow.read32 on a trapped register (mailbox to the device worker). */
  mmioSlowPath?: HistogramSummary;
  /** Doorbell write until waitAsync returns the vector. */
  irqDelivery?: HistogramSummary;
  /** edu DMA RAM → device → RAM, both completions by MSI. */
  dmaRoundTrip?: HistogramSummary;
}

const EDU = { LIVENESS: 0x04, IRQ_STATUS: 0x24, IRQ_ACK: 0x64, DMA_SRC: 0x80, DMA_DST: 0x88, DMA_COUNT: 0x90, DMA_CMD: 0x98 } as const;
const EDU_DMA_BUFFER = 0x40000n;
const EDU_DMA_IRQ = 0x100;
const DOORBELL = 0x08;
const FAST_BATCH = 256;

/** Finds the first handle whose ids match. */
export function findDevice(handles: readonly DeviceHandle[], vendorId: number, deviceId: number): DeviceHandle | undefined {
  return handles.find((h) => h.info.vendorId === vendorId && h.info.deviceId === deviceId);
}

/** Waits for the next interrupt on `h` after sequence `seq`, drains and returns the vectors. PT_ERR_TIMEOUT after timeoutMs. */
async function nextIrq(h: DeviceHandle, seq: number, timeoutMs = 2000): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  let s = seq;
  for (;;) {
    const next = await h.irq.waitAsync(s, Math.max(0, deadline - performance.now()));
    const vectors = h.irq.drain();
    if (vectors.length > 0) return vectors;
    if (next === s && performance.now() >= deadline) {
      throw new PassthroughError('PT_ERR_TIMEOUT', 'no interrupt within the deadline', { bdf: h.bdf, timeoutMs });
    }
    s = next;
  }
}

/** The MMIO fast path: read32 over plain BAR memory (`win` must have no trap in its first 16 KiB), in batches. */
export function measureFastPath(win: BarWindow, iterations: number): HistogramSummary {
  const hist = createLatencyHistogram();
  let sink = 0;
  const batches = Math.max(200, Math.ceil(iterations / FAST_BATCH) * 4);
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < FAST_BATCH; i++) sink ^= win.read32((i * 4) & 0x3ffc);
    recordLatency(hist, ((performance.now() - t0) * 1e6) / FAST_BATCH);
  }
  if (sink === 0.5) console.log(sink); // keep the loop observable
  return summarizeHistogram(hist);
}

/** The MMIO slow path: read32 of edu's trapped liveness register (`win` = edu BAR0). */
export function measureSlowPath(win: BarWindow, bdf: string, iterations: number): HistogramSummary {
  const hist = createLatencyHistogram();
  for (let i = 0; i < iterations; i++) {
    win.write32(EDU.LIVENESS, i);
    const t0 = performance.now();
    const v = win.read32(EDU.LIVENESS);
    recordLatency(hist, (performance.now() - t0) * 1e6);
    if (v !== (~i >>> 0)) {
      throw new PassthroughError('PT_ERR_IO', `edu liveness check failed: wrote ${i}, read 0x${v.toString(16)}`, { bdf });
    }
  }
  return summarizeHistogram(hist);
}

/** Interrupt delivery: doorbell write (BAR0 +0x08) of vector `i % vectors` until the waiter has it. */
export async function measureIrq(dev: DeviceHandle, iterations: number): Promise<HistogramSummary> {
  const win = dev.bar(0)!;
  const vectors = Math.max(1, Math.min(dev.info.irqVectors, 32));
  const hist = createLatencyHistogram();
  dev.irq.drain();
  for (let i = 0; i < iterations; i++) {
    const vector = i % vectors;
    const seq = dev.irq.seq;
    const t0 = performance.now();
    win.write32(DOORBELL, vector);
    const got = await nextIrq(dev, seq);
    recordLatency(hist, (performance.now() - t0) * 1e6);
    if (!got.includes(vector)) {
      throw new PassthroughError('PT_ERR_IO', `raised vector ${vector}, got ${got.join(',')}`, { bdf: dev.bdf });
    }
  }
  return summarizeHistogram(hist);
}

/**
 * Interrupt delivery to a blocking embedder (a vCPU thread, never the main
 * thread): doorbell write of vector `i % vectors`, then IrqLine.waitSync.
 */
export function measureIrqSync(win: BarWindow, irq: IrqLine, vectors: number, bdf: string, iterations: number): HistogramSummary {
  const hist = createLatencyHistogram();
  const n = Math.max(1, Math.min(vectors, 32));
  irq.drain();
  for (let i = 0; i < iterations; i++) {
    const vector = i % n;
    const seq = irq.seq;
    const t0 = performance.now();
    win.write32(DOORBELL, vector);
    let got: number[] = [];
    for (let s = seq; got.length === 0; ) {
      const next = irq.waitSync(s, 2000);
      got = irq.drain();
      if (got.length === 0 && next === s) throw new PassthroughError('PT_ERR_TIMEOUT', 'no interrupt within 2000 ms', { bdf });
      s = next;
    }
    recordLatency(hist, (performance.now() - t0) * 1e6);
    if (!got.includes(vector)) throw new PassthroughError('PT_ERR_IO', `raised vector ${vector}, got ${got.join(',')}`, { bdf });
  }
  return summarizeHistogram(hist);
}

/** DMA round trips through edu: `bytes` out to the device buffer and back, checked. */
export async function measureDma(edu: DeviceHandle, iterations: number, bytes = 1024): Promise<HistogramSummary> {
  const ram = new SharedArrayBuffer(2 * 4096);
  const u8 = new Uint8Array(ram);
  const map = await edu.dma.map(ram);
  const win = edu.bar(0)!;
  const hist = createLatencyHistogram();
  try {
    for (let i = 0; i < iterations; i++) {
      for (let j = 0; j < bytes; j++) u8[j] = (i + j * 7) & 0xff;
      const t0 = performance.now();
      await eduDma(edu, win, map.busAddr, EDU_DMA_BUFFER, bytes, false);
      await eduDma(edu, win, EDU_DMA_BUFFER, map.busAddr + 4096n, bytes, true);
      recordLatency(hist, (performance.now() - t0) * 1e6);
      for (let j = 0; j < bytes; j++) {
        if (u8[4096 + j] !== u8[j]) {
          throw new PassthroughError('PT_ERR_IO', `DMA round trip corrupted byte ${j}`, { bdf: edu.bdf, offsetBytes: j });
        }
      }
    }
  } finally {
    await edu.dma.unmap(map.key);
  }
  return summarizeHistogram(hist);
}

async function eduDma(
  edu: DeviceHandle,
  win: NonNullable<ReturnType<DeviceHandle['bar']>>,
  src: bigint,
  dst: bigint,
  bytes: number,
  toRam: boolean,
): Promise<void> {
  const seq = edu.irq.seq;
  win.write64(EDU.DMA_SRC, src);
  win.write64(EDU.DMA_DST, dst);
  win.write64(EDU.DMA_COUNT, BigInt(bytes));
  win.write64(EDU.DMA_CMD, 0x1n | (toRam ? 0x2n : 0n) | 0x4n);
  await nextIrq(edu, seq);
  const status = win.read32(EDU.IRQ_STATUS);
  win.write32(EDU.IRQ_ACK, status);
  if ((status & EDU_DMA_IRQ) === 0) {
    throw new PassthroughError('PT_ERR_IO', `edu DMA finished without its interrupt (status 0x${status.toString(16)})`, { bdf: edu.bdf });
  }
}
