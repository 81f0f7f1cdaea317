// bench: the JSON report against its schema, the table, and --plot PNG/SVG files of the requested size.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_ALL_SCHEMA, BENCH_REPORT_SCHEMA } from '../../src/cli/schemas.js';
import { parseJson, runCli, validate } from './helpers.js';

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
  it('bench mmio --json: one schema-valid report with its ratios; progress stays off stdout', async () => {
    const run = await runCli(['bench', 'mmio', '--json', '--duration-ms', '600'], {}, 120_000);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { suite: string; results: { name: string; samplesNs?: unknown }[]; ratios: unknown[] };
    expect(validate(BENCH_REPORT_SCHEMA, doc)).toEqual([]);
    expect(doc.suite).toBe('mmio');
    expect(doc.results.map((r) => r.name)).toContain('bar.read32');
    expect(doc.results.every((r) => r.samplesNs === undefined)).toBe(true);
    expect(doc.ratios.length).toBeGreaterThan(0);
  });

  it('bench all --json: { suites } with every suite in order, schema-valid', async () => {
    const run = await runCli(['bench', 'all', '--json', '--duration-ms', '300', '--devices', '8'], {}, 180_000);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { suites: { suite: string; results: unknown[]; lost?: number; attached?: number }[] };
    expect(validate(BENCH_ALL_SCHEMA, doc)).toEqual([]);
    expect(doc.suites.map((s) => s.suite)).toEqual(['mmio', 'irq', 'config', 'attach', 'scale']);
    expect(doc.suites.every((s) => s.results.length > 0)).toBe(true);
    expect(doc.suites[4]).toMatchObject({ attached: 8, lost: 0 });
  });

  it('bench mmio --plot out.png: a PNG of the requested size with image data, plus the table', async () => {
    const file = join(tmp, 'mmio.png');
    const run = await runCli(
      ['bench', 'mmio', '--duration-ms', '500', '--plot', file, '--plot-width', '640', '--plot-height', '480'],
      { CI: '1' },
      120_000,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\s+name\s+samples\s+p50\s+p99\s+mean\s+ops\/s$/m);
    expect(run.stdout).toMatch(/bar\.read32 \/ baseline\.atomics\.load32 \(p50\)\s+[\d.]+×\s+≤ 1\.5×\s+(PASS|MISS)/);
    expect(run.stderr).not.toContain('bench: mmio'); // CI set: no progress
    const info = pngInfo(readFileSync(file));
    expect(info).toMatchObject({ width: 640, height: 480 });
    expect(info.idatBytes).toBeGreaterThan(1000);
  });

  it('--plot out.svg: an SVG of the requested size with both charts', async () => {
    const file = join(tmp, 'mmio.svg');
    const run = await runCli(['bench', 'mmio', '--duration-ms', '300', '--plot', file, '--plot-width', '800', '--plot-height', '600', '--json'], {}, 120_000);
    expect(run.code).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg).toMatch(/^<svg [^>]*width="800" height="600"/);
    expect(svg).toContain('latency histogram');
    expect(svg).toContain('latency by percentile');
  });
});
