/**
 * Benchmark plots with no browser: a latency histogram (log-spaced bins,
 * log-scale counts) above a percentile plot (latency against percentile on
 * a log axis, HDR style), specified in vega-lite, compiled to vega, rendered
 * to SVG by a headless view (`renderer: 'none'`), and rasterised to PNG by
 * resvg with the system DejaVu fonts. The output has exactly the requested
 * pixel size (the chart is scaled to fit, centred, on white).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { BenchReport } from '../../../bench/report.js';
import { PassthroughError } from '../../errors.js';
import { usageError } from '../exit-codes.js';

/** Where DejaVu lives on Debian/Ubuntu (fonts-dejavu-core). */
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FAMILY = 'DejaVu Sans';

/** Plot options. */
export interface PlotOptions {
  /** Output width in pixels. */
  widthPx: number;
  /** Output height in pixels. */
  heightPx: number;
  /** Chart title. */
  title: string;
}

/** One histogram bar. */
interface HistogramRow {
  series: string;
  lo: number;
  hi: number;
  count: number;
}
/** One point of the percentile plot. */
interface PercentileRow {
  series: string;
  percentile: number;
  /** 1 / (1 − p/100): 1 at p0, 2 at p50, 100 at p99 (the HDR x axis). */
  x: number;
  latencyNs: number;
}

const PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999];

/** Nearest-rank percentile of a sorted array. */
function pct(sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The plot data of every result of every report (series `suite/name` when there are several suites). */
export function plotData(reports: readonly BenchReport[]): { histogram: HistogramRow[]; percentiles: PercentileRow[] } {
  const many = reports.length > 1;
  const series: { name: string; sorted: Float64Array | undefined; stats: BenchReport['results'][number]['latencyNs'] }[] = [];
  for (const report of reports) {
    for (const r of report.results) {
      const raw = r.samplesNs?.filter((v) => Number.isFinite(v) && v > 0);
      series.push({
        name: many ? `${report.suite}/${r.name}` : r.name,
        sorted: raw !== undefined && raw.length > 0 ? Float64Array.from(raw).sort() : undefined,
        stats: r.latencyNs,
      });
    }
  }
  const histogram: HistogramRow[] = [];
  const withSamples = series.filter((s) => s.sorted !== undefined);
  if (withSamples.length > 0) {
    const lo = Math.min(...withSamples.map((s) => s.sorted![0]!));
    const hi = Math.max(...withSamples.map((s) => s.sorted![s.sorted!.length - 1]!));
    const bins = 40;
    const l0 = Math.log10(lo);
    const step = Math.max(1e-9, (Math.log10(hi) - l0) / bins);
    for (const s of withSamples) {
      const counts = new Array<number>(bins).fill(0);
      for (const v of s.sorted!) counts[Math.min(bins - 1, Math.floor((Math.log10(v) - l0) / step))]!++;
      counts.forEach((count, i) => {
        if (count > 0) histogram.push({ series: s.name, lo: 10 ** (l0 + i * step), hi: 10 ** (l0 + (i + 1) * step), count });
      });
    }
  }
  const percentiles: PercentileRow[] = [];
  for (const s of series) {
    if (s.sorted !== undefined) {
      for (const p of PERCENTILES) {
        const x = 1 / (1 - p / 100);
        if (x > s.sorted.length) break; // not enough samples to resolve this tail
        percentiles.push({ series: s.name, percentile: p, x, latencyNs: Math.max(1e-3, pct(s.sorted, p)) });
      }
    } else {
      for (const [p, v] of [[0, s.stats.min], [50, s.stats.p50], [99, s.stats.p99]] as const) {
        if (Number.isFinite(v) && v > 0) percentiles.push({ series: s.name, percentile: p, x: 1 / (1 - p / 100), latencyNs: v });
      }
    }
  }
  return { histogram, percentiles };
}

/** The vega-lite spec of the two charts. */
export function plotSpec(reports: readonly BenchReport[], opts: PlotOptions): Record<string, unknown> {
  const { histogram, percentiles } = plotData(reports);
  const chartWidth = Math.max(200, opts.widthPx - 330);
  const chartHeight = Math.max(120, Math.floor((opts.heightPx - 170) / (histogram.length > 0 ? 2 : 1)));
  // tableau20: `bench all` plots ~18 series; the default 10-colour scheme would repeat.
  const color = { field: 'series', type: 'nominal', title: 'result', scale: { scheme: 'tableau20' }, legend: { labelLimit: 260 } };
  const charts: Record<string, unknown>[] = [];
  if (histogram.length > 0) {
    charts.push({
      title: 'latency histogram',
      width: chartWidth,
      height: chartHeight,
      data: { values: histogram },
      mark: { type: 'rect', opacity: 0.55 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', scale: { type: 'log' }, title: 'latency per operation (ns, log scale)' },
        x2: { field: 'hi' },
        // Bars start at 0.5 so a single-sample bin stays visible on the log axis.
        y: { field: 'count', type: 'quantitative', scale: { type: 'log', domainMin: 0.5 }, title: 'samples (log scale)' },
        y2: { datum: 0.5 },
        color,
      },
    });
  }
  charts.push({
    title: 'latency by percentile',
    width: chartWidth,
    height: chartHeight,
    data: { values: percentiles },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        scale: { type: 'log', domainMin: 1 },
        title: 'percentile',
        axis: { values: [1, 2, 10, 100, 1000, 10000, 100000], labelExpr: "format(100 - 100 / datum.value, '.3~f') + '%'" },
      },
      y: { field: 'latencyNs', type: 'quantitative', scale: { type: 'log' }, title: 'latency per operation (ns, log scale)' },
      color,
      tooltip: [{ field: 'series' }, { field: 'percentile' }, { field: 'latencyNs' }],
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    background: 'white',
    config: { font: FONT_FAMILY, view: { stroke: '#ddd' } },
    vconcat: charts,
    resolve: { scale: { color: 'shared' } },
  };
}

/** Renders the plot to an SVG string of exactly widthPx × heightPx. */
export async function renderPlotSvg(reports: readonly BenchReport[], opts: PlotOptions): Promise<string> {
  const [{ compile }, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const spec = compile(plotSpec(reports, opts) as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return fitSvg(svg, opts.widthPx, opts.heightPx);
  } finally {
    view.finalize();
  }
}

/** Wraps an SVG in a white `width × height` canvas, scaled to fit and centred. */
export function fitSvg(svg: string, width: number, height: number): string {
  const root = /<svg\b[^>]*>/.exec(svg);
  if (root === null) throw new PassthroughError('PT_ERR_INTERNAL', 'vega produced no <svg> root', {});
  const w = Number(/\bwidth="([\d.]+)"/.exec(root[0])?.[1] ?? width);
  const h = Number(/\bheight="([\d.]+)"/.exec(root[0])?.[1] ?? height);
  const inner = svg.slice(root.index + root[0].length).replace(/<\/svg>\s*$/, '');
  const viewBox = /\bviewBox="([^"]+)"/.exec(root[0])?.[1] ?? `0 0 ${w} ${h}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="white"/>` +
    `<svg x="0" y="0" width="${width}" height="${height}" viewBox="${viewBox}" preserveAspectRatio="xMidYMid meet">${inner}</svg>` +
    `</svg>\n`
  );
}

/** Rasterises an SVG to PNG with resvg, using DejaVu when installed (else the system fonts). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']
    .map((f) => `${FONT_DIR}/${f}`)
    .filter((p) => existsSync(p));
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: 'white',
    font: { fontFiles, loadSystemFonts: fontFiles.length === 0, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

/** Checks the plot path's extension (usage error unless .svg or .png). */
export function plotFormat(path: string): 'svg' | 'png' {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw usageError(`--plot needs a .svg or .png file name (got "${path}")`, { path });
}

/** Renders and writes the plot; the format follows the extension. Errors: PT_ERR_IO when the file cannot be written. */
export async function writePlot(path: string, reports: readonly BenchReport[], opts: PlotOptions): Promise<void> {
  const format = plotFormat(path);
  const svg = await renderPlotSvg(reports, opts);
  const data = format === 'svg' ? svg : await svgToPng(svg);
  try {
    await writeFile(path, data);
  } catch (e) {
    throw new PassthroughError('PT_ERR_IO', `cannot write ${path}`, { path }, { cause: e });
  }
}
