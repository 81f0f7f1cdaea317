// bench: the JSON report against its schema, the table, the output files (--plot PNG/SVG panels,
// --csv, --samples, --html), their checks before a run, and a late failure that keeps the run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etaText, formatEta, createProgress } from '../../src/cli/progress.js';
import { BENCH_ALL_SCHEMA, BENCH_REPORT_SCHEMA } from '../../src/cli/schemas.js';
import { parseJson, runCli, validate } from './helpers.js';
import { scaled } from '../shared/deadline.js';

const tmp = mkdtempSync(join(tmpdir(), 'pcipt-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Width, height and total IDAT bytes of a PNG (throws on a bad signature or a missing IHDR). */
function pngInfo(bytes: Buffer): { width: number; height: number; idatBytes: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!bytes.subarray(0, 8).equals(signature)) throw new Error('not a PNG (bad signature)');
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') throw new Error('first chunk is not IHDR');
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  let idatBytes = 0;
  for (let off = 8; off + 8 <= bytes.length; ) {
    const len = bytes.readUInt32BE(off);
    const type = bytes.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idatBytes += len;
    if (type === 'IEND') break;
    off += 12 + len;
  }
  return { width, height, idatBytes };
}

describe('bench', () => {
  it('bench mmio --json: one schema-valid report with its ratios and the machine; progress stays off stdout', async () => {
    const run = await runCli(['bench', 'mmio', '--json', '--duration-ms', '600'], {}, 120_000);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { suite: string; machine: Record<string, unknown>; results: { name: string; samplesNs?: unknown }[]; ratios: { path: string; baseline: string; stat: string }[] };
    expect(validate(BENCH_REPORT_SCHEMA, doc)).toEqual([]);
    expect(doc.suite).toBe('mmio');
    expect(doc.results.map((r) => r.name)).toContain('bar.read32');
    expect(doc.results.every((r) => r.samplesNs === undefined)).toBe(true);
    expect(doc.ratios[0]).toMatchObject({ path: 'bar.read32', baseline: 'baseline.atomics.load32', stat: 'p50', unit: 'ns' });
    for (const r of doc.ratios as unknown as { value: number; pathValue: number; baselineValue: number; target: { kind: string }; spread: { min: number; median: number; max: number; rounds: number } }[]) {
      expect(r.value).toBeCloseTo(r.target.kind === 'max' ? r.pathValue / r.baselineValue : r.baselineValue / r.pathValue, 6);
      expect(r.spread.min).toBeLessThanOrEqual(r.spread.median);
      expect(r.spread.median).toBeLessThanOrEqual(r.spread.max);
      expect(r.spread.rounds).toBe(4);
    }
    expect(doc.machine).toMatchObject({ platform: process.platform, arch: process.arch, loadAvg: expect.any(Array) });
  });

  it('bench all --json: { suites } with every suite in order, schema-valid', async () => {
    // scale's memory rounds run one after another (~25 s each, 20 s of it the settle window)
    const run = await runCli(['bench', 'all', '--json', '--duration-ms', '300', '--devices', '8'], {}, scaled(600_000));
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { suites: { suite: string; results: unknown[]; lost?: number; attached?: number }[] };
    expect(validate(BENCH_ALL_SCHEMA, doc)).toEqual([]);
    expect(doc.suites.map((s) => s.suite)).toEqual(['mmio', 'irq', 'config', 'attach', 'scale', 'liveness']);
    expect(doc.suites.every((s) => s.results.length > 0)).toBe(true);
    expect(doc.suites[4]).toMatchObject({ attached: 8, lost: 0 });
    expect(doc.suites[5]).toMatchObject({ suite: 'liveness', lostEvents: 0 });
  }, scaled(620_000));

  it('--plot PNG of the requested size, --csv, --samples and --html from one run, plus the table', async () => {
    const files = { png: join(tmp, 'irq.png'), csv: join(tmp, 'irq.csv'), samples: join(tmp, 'irq-samples.csv'), html: join(tmp, 'irq.html') };
    const run = await runCli(
      ['bench', 'irq', '--duration-ms', '800', '--plot', files.png, '--plot-width', '1000', '--plot-height', '900', '--csv', files.csv, '--samples', files.samples, '--html', files.html],
      { CI: '1' },
      120_000,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\s+name\s+samples\s+p50\s+p99\s+mean\s+ops\/s$/m);
    expect(run.stdout).toMatch(/irq\.deliver \/ baseline\.atomics\.wait-notify \(p50\)\s+[\d.]+×\s+≤ 1\.25×\s+(PASS|MISS)/);
    expect(run.stderr).not.toContain('bench: irq'); // CI set: no progress
    const png = pngInfo(readFileSync(files.png));
    expect(png).toMatchObject({ width: 1000, height: 900 });
    expect(png.idatBytes).toBeGreaterThan(5000);

    const csv = readFileSync(files.csv, 'utf8').split('\r\n');
    expect(csv[0]).toBe(
      'kind,suite,name,samples,batch,p50_ns,p99_ns,mean_ns,min_ns,max_ns,ops_per_sec,path,baseline,stat,value,target_kind,target,ok,spread_min,spread_median,spread_max,rounds,path_value,baseline_value,unit',
    );
    expect(csv.filter((l) => l.startsWith('result,irq,'))).toHaveLength(4);
    const ratioRows = csv.filter((l) => l.startsWith('ratio,irq,')).map((l) => l.split(','));
    expect(ratioRows).toHaveLength(4);
    for (const r of ratioRows) {
      const [min, median, max, rounds] = r.slice(18, 22).map(Number);
      expect(min).toBeLessThanOrEqual(median!);
      expect(median).toBeLessThanOrEqual(max!);
      expect(rounds).toBe(8);
      expect(r.at(-1)).toBe('ns');
      // the verdict follows the median of the rounds, not the pooled value
      expect(r[17]).toBe(String(median! <= Number(r[16])));
    }
    expect(run.stdout).toMatch(/irq\.deliver\.spin \/ baseline\.spin \(p99\)\s+[\d.]+×\s+≤ 2×\s+(PASS|MISS)\s+[\d.]+–[\d.]+–[\d.]+× \(8 rounds\)/);

    const samples = readFileSync(files.samples, 'utf8').trimEnd().split('\r\n');
    expect(samples[0]).toBe('suite,name,batch,index,latency_ns');
    const deliver = samples.filter((l) => l.startsWith('irq,irq.deliver,'));
    const reported = Number(csv.find((l) => l.startsWith('result,irq,irq.deliver,'))!.split(',')[3]);
    expect(deliver).toHaveLength(reported); // every sample the statistics were computed over
    expect(deliver.every((l) => Number(l.split(',')[4]) > 0)).toBe(true);

    const html = readFileSync(files.html, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<dt>CPU</dt>');
    expect(html).toContain(`<dd>${process.version}</dd>`);
    expect(html).toMatch(/<dt>load \(1\/5\/15 min\)<\/dt><dd>before [\d.]+ \/ [\d.]+ \/ [\d.]+, after/);
    expect(html).toContain('<h2>irq</h2>');
    expect(html).toMatch(/<b class="(pass|miss)">(PASS|MISS)<\/b>/);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
  });

  it('--plot out.svg: a panel per path with p50/p99 markers, the target line, and the ratio table', async () => {
    const file = join(tmp, 'mmio.svg');
    const run = await runCli(['bench', 'mmio', '--duration-ms', '400', '--plot', file, '--json'], {}, 120_000);
    expect(run.code).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg).toMatch(/^<svg [^>]*width="1200" height="\d+"/);
    for (const title of ['bar.read32 / baseline.atomics.load32 (p50)', 'bar.write32 / baseline.atomics.store32 (p50)', 'rpc.comlink.read32 / bar.read32 (p50, speed-up)']) {
      expect(svg).toContain(title);
    }
    expect(svg).toContain('target: ≤ 1.5× baseline p50');
    expect(svg).toContain('target: ≥ 1000× faster than baseline p50');
    expect(svg).toContain('ratios (same run)');
    expect(svg).toContain('p99');
    expect(svg).toContain('log scale');
  });

  it('output paths are checked before the run: a missing directory (3), a directory (2), a bad extension (2), one file twice (2)', async () => {
    mkdirSync(join(tmp, 'adir'), { recursive: true });
    const cases: [string[], number, RegExp][] = [
      [['--plot', join(tmp, 'nope', 'x.png')], 3, /--plot .*: the directory .*nope does not exist/],
      [['--csv', join(tmp, 'nope', 'x.csv')], 3, /--csv .*does not exist/],
      [['--html', join(tmp, 'adir')], 2, /--html needs a \.html file name/],
      [['--samples', join(tmp, 'adir')], 2, /is a directory/],
      [['--plot', 'out.gif'], 2, /--plot needs a \.svg or \.png file name/],
      [['--csv', join(tmp, 'same.csv'), '--samples', join(tmp, 'same.csv')], 2, /--csv and --samples name the same file/],
    ];
    for (const [args, code, message] of cases) {
      const t0 = Date.now();
      const run = await runCli(['bench', 'mmio', '--duration-ms', '60000', ...args]);
      expect(run.code, args.join(' ')).toBe(code);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe(''); // nothing ran
      expect(Date.now() - t0).toBeLessThan(30_000); // well before the 60 s budget: refused up front
    }
  });

  it('--devices past 2048 (8 PFs × 256 VFs) is a usage error before any suite runs, under all too', async () => {
    for (const suite of ['scale', 'all']) {
      const run = await runCli(['bench', suite, '--devices', '2049']);
      expect(run.code, suite).toBe(2);
      expect(run.stderr).toMatch(/--devices takes at most 2048 \(8 physical functions × 256 VFs; got 2049\)/);
      expect(run.stdout).toBe(''); // nothing ran
    }
  });

  it('a plot that cannot be drawn at the asked size fails after the run without losing it: the table, the CSV, exit 2', async () => {
    const csv = join(tmp, 'kept.csv');
    const run = await runCli(['bench', 'mmio', '--duration-ms', '300', '--plot', join(tmp, 'small.png'), '--plot-width', '800', '--plot-height', '200', '--csv', csv], {}, 120_000);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('bar.read32');
    expect(run.stderr).toMatch(/--plot .*small\.png: 3 panels do not fit in 200 px of height: give at least --plot-height \d+/);
    expect(existsSync(csv)).toBe(true);
    expect(existsSync(join(tmp, 'small.png'))).toBe(false);
  });
});

describe('progress ETA', () => {
  it('extrapolates the time spent over the fraction done, once it is more than a guess', () => {
    expect(etaText(0.01, 5000)).toBe('');
    expect(etaText(0.5, 500)).toBe('');
    expect(etaText(0.25, 10_000)).toBe('ETA 30s');
    expect(etaText(0.1, 10_000)).toBe('ETA 1m30s');
    expect(formatEta(65_000)).toBe('1m05s');
    let t = 0;
    const lines: string[] = [];
    const p = createProgress({ write: (s: string) => lines.push(s) }, { enabled: true, title: 'bench', now: () => t });
    p.update(0, 'mmio');
    t = 20_000;
    p.update(0.4, 'irq: a');
    expect(lines).toEqual(['bench: mmio (0%)\n', 'bench: irq (40%, ETA 30s)\n']);
    const tty: string[] = [];
    const q = createProgress({ write: (s: string) => tty.push(s), isTTY: true, columns: 120 }, { enabled: true, title: 'bench', now: () => t });
    t += 4000;
    q.update(0.5, 'irq: irq.deliver');
    expect(tty.at(-1)).toMatch(/^\rbench \[#{14}-{14}\]  50% ETA 4s irq: irq\.deliver\x1b\[K$/);
  });
});
