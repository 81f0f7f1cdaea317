// trace: JSON lines from a real workload, filtered by glob; and the sink/filter/merge helpers of src/trace.ts.
import { describe, expect, it } from 'vitest';
import {
  compileTraceFilter,
  createJsonLinesTraceWriter,
  createLatencyHistogram,
  mergeCounters,
  mergeHistograms,
  recordLatency,
  selectTracePoints,
  summarizeHistogram,
  trace,
  traceEnabled,
} from '../../src/trace.js';
import { TRACE_LINE_SCHEMA } from '../../src/cli/schemas.js';
import { runCli, validate } from './helpers.js';

describe('trace filters', () => {
  it('globs select channels; a leading - excludes; the last match wins', () => {
    expect(selectTracePoints(['pcipt:irq:*'])).toEqual(['pcipt:irq:raise', 'pcipt:irq:deliver', 'pcipt:irq:mask', 'pcipt:irq:rearm']);
    expect(selectTracePoints(['pcipt:irq:*', '-pcipt:irq:mask'])).not.toContain('pcipt:irq:mask');
    expect(selectTracePoints(['pcipt:{dma,device}:*'])).toEqual(['pcipt:dma:map', 'pcipt:dma:unmap', 'pcipt:device:reset']);
    expect(selectTracePoints(['*:re?et'])).toEqual(['pcipt:device:reset']);
    const onlyExclusions = compileTraceFilter(['-pcipt:dext:*']);
    expect(onlyExclusions('pcipt:irq:raise')).toBe(true);
    expect(onlyExclusions('pcipt:dext:call')).toBe(false);
    expect(compileTraceFilter(['pcipt.irq'])('pcipt:irq')).toBe(false); // '.' is literal
  });

  it('the JSON-lines writer subscribes only while open and serialises bigints', () => {
    const lines: string[] = [];
    const sink = createJsonLinesTraceWriter({ write: (s: string) => lines.push(s) }, ['pcipt:dma:*']);
    expect(traceEnabled('pcipt:dma:map')).toBe(true);
    expect(traceEnabled('pcipt:irq:raise')).toBe(false);
    trace('pcipt:dma:map', { bdf: '0000:00:10.0', busAddr: 0x1000n });
    trace('pcipt:irq:raise', { bdf: '0000:00:10.0', vector: 1 });
    sink.close();
    trace('pcipt:dma:map', { bdf: '0000:00:10.0', busAddr: 0x2000n });
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0]!);
    expect(validate(TRACE_LINE_SCHEMA, event)).toEqual([]);
    expect(event).toMatchObject({ channel: 'pcipt:dma:map', payload: { busAddr: '0x1000' } });
    expect(sink.counts()['pcipt:dma:map']).toBe(1);
    expect(traceEnabled('pcipt:dma:map')).toBe(false);
  });
});

describe('stats merge helpers', () => {
  it('merges per-device histograms and counters', () => {
    const a = createLatencyHistogram();
    const b = createLatencyHistogram();
    for (let i = 1; i <= 100; i++) recordLatency(a, i * 10);
    for (let i = 1; i <= 100; i++) recordLatency(b, 10_000 + i);
    const merged = summarizeHistogram(mergeHistograms([a, b]));
    expect(merged.count).toBe(200);
    expect(merged.minNs).toBe(10);
    expect(merged.maxNs).toBeGreaterThanOrEqual(10_100);
    expect(merged.p50Ns).toBeLessThanOrEqual(1010);
    expect(a.count).toBe(100); // inputs untouched
    expect(summarizeHistogram(createLatencyHistogram()).count).toBe(0);
    expect(
      mergeCounters([
        { irqsRaised: 2, mmioReads: { w4: 1 } },
        { irqsRaised: 3, mmioReads: { w4: 2, w8: 1 }, resets: 1 },
      ]),
    ).toEqual({ irqsRaised: 5, mmioReads: { w4: 3, w8: 1 }, resets: 1 });
  });
});

describe('pcipt trace', () => {
  it('streams schema-valid JSON lines of the demo workload, only for the filtered channels', async () => {
    const run = await runCli(['trace', '--filter', 'pcipt:irq:*', '--', 'demo', '--iterations', '200'], {}, 120_000);
    expect(run.code).toBe(0);
    const events = run.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { channel: string; payload: Record<string, unknown> });
    for (const e of events) expect(validate(TRACE_LINE_SCHEMA, e)).toEqual([]);
    const channels = new Set(events.map((e) => e.channel));
    expect([...channels].every((c) => c.startsWith('pcipt:irq:'))).toBe(true);
    expect(channels).toContain('pcipt:irq:raise');
    expect(channels).toContain('pcipt:irq:deliver');
    // The workload's own table went to stderr, with the trace summary.
    expect(run.stderr).toContain('latency: main thread');
    expect(run.stderr).toMatch(/^trace: \d+ events/m);
  });

  it('--duration-ms stops the stream early while the workload still completes', async () => {
    // The first IRQ of the demo comes after six attaches (hundreds of ms), so a 1 ms stream has none of them.
    const run = await runCli(['trace', '--duration-ms', '1', '--filter', 'pcipt:irq:raise', '--', 'demo', '--iterations', '100'], {}, 120_000);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('latency: main thread');
  });

  it('--format text prints one QEMU-style line per event', async () => {
    const run = await runCli(['trace', '--format', 'text', '--filter', 'pcipt:dma:*', '--', 'demo', '--iterations', '100'], {}, 120_000);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    // The demo maps one DMA buffer on edu 00:10.0 and unmaps it: one event each (the ops layer's, as QEMU's trace points).
    const maps = lines.filter((l) => / pcipt:dma:map /.test(l));
    const unmaps = lines.filter((l) => / pcipt:dma:unmap /.test(l));
    expect(maps).toHaveLength(1);
    expect(unmaps).toHaveLength(1);
    expect(lines).toHaveLength(2);
    expect(maps[0]).toMatch(/^ +\d+\.\d{3} pcipt:dma:map bdf=0000:00:10\.0 .*busAddr=0x[0-9a-f]+/);
    expect(unmaps[0]).toMatch(/^ +\d+\.\d{3} pcipt:dma:unmap bdf=0000:00:10\.0 /);
    expect(lines.indexOf(maps[0]!)).toBeLessThan(lines.indexOf(unmaps[0]!));
  });

  it('a filter that selects nothing is a usage error; --list names the points', async () => {
    expect((await runCli(['trace', '--filter', 'nothing:*'])).code).toBe(2);
    const list = await runCli(['trace', '--list', '--filter', 'pcipt:dma:*']);
    expect(list.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['pcipt:dma:map', 'pcipt:dma:unmap']);
  });
});
