/**
 * Benchmark plots with no browser. One panel per measured path: the path's
 * latency histogram over its baseline's (same run), p50 and p99 markers for
 * both, and the target line the path must stay under (baseline × target for
 * a `≤` ratio, baseline ÷ target for a speed-up); results that no ratio
 * names get a panel of their own. Axes go logarithmic where the data spans
 * more than a decade. A ratio table (value, target, PASS/MISS) ends the
 * image. Specified in vega-lite, compiled to vega, rendered to SVG by a
 * headless view and rasterised to PNG by resvg with the DejaVu fonts.
 *
 * vega, vega-lite and @resvg/resvg-js are optional peer dependencies (they
 * make up most of an install): {@link requirePlotRenderers} says what to
 * install before a benchmark runs.
 */
import { existsSync } from 'node:fs';
import type { BenchRatio, BenchReport, BenchResult } from '../../../bench/report.js';
import { PassthroughError } from '../../errors.js';
import { usageError } from '../exit-codes.js';
import { formatNs } from '../table.js';
import { ratioText, spreadText, targetText, verdictText } from './ratio-text.js';

/** Where DejaVu lives on Debian/Ubuntu (fonts-dejavu-core). */
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FAMILY = 'DejaVu Sans';
const MONO_FAMILY = 'DejaVu Sans Mono';

/** Render-and-measure passes after the first that size the panels to the canvas. */
const kSizingPasses = 4;

/** The smallest inner panel height a plot is drawn with (smaller would hide the histogram). */
const kMinPanelHeightPx = 80;

/** Plot options. */
export interface PlotOptions {
  /** Output width in pixels. */
  widthPx: number;
  /** Output height in pixels; default: what the panels need. */
  heightPx?: number;
  /** Chart title. */
  title: string;
}

/** One panel: a path and (when a ratio names it) its baseline and target. */
export interface PlotPanel {
  title: string;
  path: BenchResult;
  baseline: BenchResult | undefined;
  ratio: BenchRatio | undefined;
  /** Where the target puts the path's statistic, ns (undefined without a ratio). */
  targetNs: number | undefined;
}

/** Renderers a plot format needs (npm package names), in install order. */
export function renderersFor(format: 'svg' | 'png' | 'html'): string[] {
  return format === 'png' ? ['vega', 'vega-lite', '@resvg/resvg-js'] : ['vega', 'vega-lite'];
}

/** The install command for the optional renderers. */
export const RENDERER_INSTALL = 'npm install vega@^6.4 vega-lite@~6.4 @resvg/resvg-js@^2.6';

/**
 * Checks that the optional renderers a format needs can be loaded; throws
 * PT_ERR_NOT_FOUND (exit 3) naming the install command otherwise. Call it
 * before a benchmark runs, not after.
 */
export async function requirePlotRenderers(format: 'svg' | 'png' | 'html', option: string): Promise<void> {
  const missing: string[] = [];
  for (const name of renderersFor(format)) {
    try {
      await import(name);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new PassthroughError('PT_ERR_NOT_FOUND', `${option} needs ${missing.join(', ')} (optional dependencies of pcipt): ${RENDERER_INSTALL}`, {
      option,
      missing,
    });
  }
}

/** Groups results into panels: one per ratio's path (its first ratio decides the baseline), then the rest. */
export function plotPanels(reports: readonly BenchReport[]): PlotPanel[] {
  const panels: PlotPanel[] = [];
  const many = reports.length > 1;
  for (const report of reports) {
    const byName = new Map(report.results.map((r) => [r.name, r]));
    const shown = new Set<string>();
    for (const ratio of report.ratios ?? []) {
      const path = ratio.path === undefined ? undefined : byName.get(ratio.path);
      const baseline = ratio.baseline === undefined ? undefined : byName.get(ratio.baseline);
      if (path === undefined || baseline === undefined || ratio.stat === undefined) continue;
      const base = baseline.latencyNs[ratio.stat];
      const targetNs = ratio.target.kind === 'max' ? base * ratio.target.value : base / ratio.target.value;
      panels.push({ title: `${many ? `${report.suite}: ` : ''}${ratio.label}`, path, baseline, ratio, targetNs });
      shown.add(path.name).add(baseline.name);
    }
    for (const r of report.results) {
      if (!shown.has(r.name)) panels.push({ title: `${many ? `${report.suite}: ` : ''}${r.name}`, path: r, baseline: undefined, ratio: undefined, targetNs: undefined });
    }
  }
  return panels;
}

/** Positive finite samples, sorted. */
function samplesOf(r: BenchResult): Float64Array | undefined {
  const raw = r.samplesNs?.filter((v) => Number.isFinite(v) && v > 0);
  return raw === undefined || raw.length === 0 ? undefined : Float64Array.from(raw).sort();
}

/** Histogram bars of a panel's series over one shared binning (log-spaced when the range spans a decade). */
function panelData(panel: PlotPanel): { bars: Record<string, unknown>[]; marks: Record<string, unknown>[]; logX: boolean; logY: boolean } {
  const series = [panel.path, ...(panel.baseline === undefined ? [] : [panel.baseline])];
  const sorted = series.map(samplesOf);
  const markValues = series.flatMap((r) => [r.latencyNs.p50, r.latencyNs.p99]).filter((v) => Number.isFinite(v) && v > 0);
  const all = [...sorted.flatMap((s) => (s === undefined ? [] : [s[0]!, s[s.length - 1]!])), ...markValues, ...(panel.targetNs === undefined ? [] : [panel.targetNs])];
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const logX = hi / lo > 10;
  const bins = 40;
  const toAxis = (v: number) => (logX ? Math.log10(v) : v);
  const fromAxis = (v: number) => (logX ? 10 ** v : v);
  const a0 = toAxis(lo);
  const step = Math.max(1e-12, (toAxis(hi) - a0) / bins);
  const bars: Record<string, unknown>[] = [];
  let maxCount = 1;
  let minCount = Infinity;
  series.forEach((r, i) => {
    const s = sorted[i];
    if (s === undefined) return;
    const counts = new Array<number>(bins).fill(0);
    for (const v of s) counts[Math.min(bins - 1, Math.max(0, Math.floor((toAxis(v) - a0) / step)))]!++;
    counts.forEach((count, b) => {
      if (count === 0) return;
      maxCount = Math.max(maxCount, count);
      minCount = Math.min(minCount, count);
      bars.push({ series: r.name, lo: fromAxis(a0 + b * step), hi: fromAxis(a0 + (b + 1) * step), count });
    });
  });
  const marks: Record<string, unknown>[] = series.flatMap((r) => [
    { series: r.name, stat: 'p50', ns: r.latencyNs.p50, label: `${r.name === panel.path.name ? 'path' : 'baseline'} p50 ${formatNs(r.latencyNs.p50)}` },
    { series: r.name, stat: 'p99', ns: r.latencyNs.p99, label: `p99 ${formatNs(r.latencyNs.p99)}` },
  ]).filter((m) => Number.isFinite(m.ns as number) && (m.ns as number) > 0);
  return { bars, marks, logX, logY: maxCount / minCount > 100 };
}

/** One panel as a layered vega-lite chart. */
function panelSpec(panel: PlotPanel, widthPx: number, heightPx: number): Record<string, unknown> {
  const { bars, marks, logX, logY } = panelData(panel);
  const names = [panel.path.name, ...(panel.baseline === undefined ? [] : [panel.baseline.name])];
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: ['#1f77b4', '#8c8c8c'] }, legend: { orient: 'top', labelLimit: 240 } };
  const x = logX ? { type: 'log', nice: false } : { type: 'linear', zero: false, nice: false };
  const layers: Record<string, unknown>[] = [];
  if (bars.length > 0) {
    layers.push({
      data: { values: bars },
      mark: { type: 'rect', opacity: 0.55 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', scale: x, title: `latency per operation (ns${logX ? ', log scale' : ''})`, axis: { format: '~s' } },
        x2: { field: 'hi' },
        y: { field: 'count', type: 'quantitative', scale: logY ? { type: 'log', domainMin: 0.5 } : { type: 'linear' }, title: `samples${logY ? ' (log)' : ''}` },
        y2: { datum: logY ? 0.5 : 0 },
        color,
      },
    });
  }
  layers.push({
    data: { values: marks },
    mark: { type: 'rule', strokeWidth: 2 },
    encoding: {
      x: { field: 'ns', type: 'quantitative', scale: x, axis: { format: '~s' }, ...(bars.length === 0 ? { title: 'latency per operation (ns)' } : {}) },
      color,
      strokeDash: { field: 'stat', type: 'nominal', title: null, scale: { domain: ['p50', 'p99'], range: [[1, 0], [5, 3]] }, legend: { orient: 'top' } },
    },
  });
  if (panel.targetNs !== undefined && panel.ratio !== undefined) {
    const r = panel.ratio;
    const text = `target: ${targetText(r)} ${r.target.kind === 'max' ? '' : 'faster than '}baseline ${r.stat ?? ''}`;
    layers.push({
      data: { values: [{ ns: panel.targetNs, text }] },
      layer: [
        { mark: { type: 'rule', color: '#d62728', strokeWidth: 2, strokeDash: [8, 4] }, encoding: { x: { field: 'ns', type: 'quantitative', scale: x } } },
        {
          mark: { type: 'text', color: '#d62728', align: 'left', baseline: 'top', dx: 4, dy: 4, fontSize: 11 },
          encoding: { x: { field: 'ns', type: 'quantitative', scale: x }, y: { value: 0 }, text: { field: 'text' } },
        },
      ],
    });
  }
  const r = panel.ratio;
  const spread = r === undefined ? '' : spreadText(r, true);
  const verdict = r === undefined ? undefined : `${ratioText(r.value)}${spread === '' ? '' : ` [${spread}]`} (target ${targetText(r)})  ${verdictText(r)}`;
  return {
    title: {
      text: panel.title,
      ...(verdict === undefined ? {} : { subtitle: verdict, subtitleColor: r!.ok ? '#2ca02c' : '#d62728', subtitleFontWeight: 'bold', subtitleFontSize: 12 }),
      fontSize: 12,
      anchor: 'start',
      limit: widthPx + 60,
    },
    width: widthPx,
    height: heightPx,
    layer: layers,
  };
}

/** The ratio table as a text chart: one text layer per column (SVG collapses runs of spaces), PASS green, MISS red. */
function ratioTableSpec(reports: readonly BenchReport[], widthPx: number): Record<string, unknown> | undefined {
  const ratios = reports.flatMap((rep) => (rep.ratios ?? []).map((r) => ({ suite: rep.suite, ...r })));
  if (ratios.length === 0) return undefined;
  const rows = [
    { i: 0, label: 'ratio', value: 'value', target: 'target', verdict: 'result' },
    ...ratios.map((r, n) => ({
      i: n + 1,
      label: reports.length > 1 ? `${r.suite}: ${r.label}` : r.label,
      value: ratioText(r.value),
      target: targetText(r),
      verdict: verdictText(r),
    })),
  ];
  const charPx = 7.3; // DejaVu Sans Mono at 12 px
  const labelPx = Math.max(...rows.map((r) => r.label.length)) * charPx + 16;
  const column = (field: string, x: number, align: 'left' | 'right', extra: Record<string, unknown> = {}) => ({
    mark: { type: 'text', align, baseline: 'middle', font: MONO_FAMILY, fontSize: 12, ...extra },
    encoding: {
      x: { value: x },
      y: { field: 'i', type: 'ordinal', axis: null },
      text: { field },
      ...(field === 'verdict'
        ? { color: { field: 'verdict', type: 'nominal', scale: { domain: ['result', 'PASS', 'MISS'], range: ['#222', '#2ca02c', '#d62728'] }, legend: null } }
        : {}),
    },
  });
  return {
    title: { text: 'ratios (same run)', fontSize: 12, anchor: 'start' },
    width: Math.min(widthPx, labelPx + 260),
    height: rows.length * 17,
    data: { values: rows },
    layer: [
      column('label', 0, 'left'),
      column('value', labelPx + 70, 'right'),
      column('target', labelPx + 160, 'right'),
      column('verdict', labelPx + 180, 'left', { fontWeight: 'bold' }),
    ],
    view: { stroke: null },
  };
}

/** Columns of the panel grid to try for a width, widest first. */
function columnChoices(widthPx: number, panels: number): number[] {
  return widthPx >= 1000 && panels > 1 ? [2, 1] : [1];
}

/** The vega-lite spec: title, the panel grid, the ratio table. `panelWidth`/`panelHeight` are inner chart sizes. */
export function plotSpec(reports: readonly BenchReport[], opts: PlotOptions, panelWidth?: number, panelHeight?: number, columnCount?: number): Record<string, unknown> {
  const panels = plotPanels(reports);
  const columns = columnCount ?? columnChoices(opts.widthPx, panels.length)[0]!;
  const w = panelWidth ?? Math.max(160, Math.floor(opts.widthPx / columns) - 110);
  const h = panelHeight ?? 170;
  const table = ratioTableSpec(reports, opts.widthPx - 100);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: opts.title, fontSize: 15, anchor: 'start' },
    background: 'white',
    padding: 12,
    config: { font: FONT_FAMILY, view: { stroke: '#ddd' }, legend: { labelFontSize: 11 } },
    vconcat: [
      {
        concat: panels.map((p) => panelSpec(p, w, h)),
        columns,
        spacing: 40,
        // Each panel has its own axes and its own two series; the p50/p99 dash legend is shared.
        resolve: { scale: { x: 'independent', y: 'independent', color: 'independent', strokeDash: 'shared' }, legend: { color: 'independent', strokeDash: 'shared' } },
      },
      ...(table === undefined ? [] : [table]),
    ],
    spacing: 30,
  };
}

/** The size vega gave an SVG. */
function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  return { width: Number(/\bwidth="([\d.]+)"/.exec(root)?.[1] ?? 0), height: Number(/\bheight="([\d.]+)"/.exec(root)?.[1] ?? 0) };
}

async function renderVega(spec: Record<string, unknown>): Promise<string> {
  const [{ compile }, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const compiled = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Renders the plot to an SVG of exactly widthPx × heightPx (height: what the
 * panels need when not given). The panels are sized to the canvas (a second
 * pass corrects for legends and labels), never letterboxed.
 */
export async function renderPlotSvg(reports: readonly BenchReport[], opts: PlotOptions): Promise<string> {
  const panels = plotPanels(reports);
  if (panels.length === 0) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'nothing to plot: the reports have no results', {});
  let refusal: PassthroughError | undefined;
  for (const columns of columnChoices(opts.widthPx, panels.length)) {
    const rows = Math.ceil(panels.length / columns);
    let w = Math.max(160, Math.floor(opts.widthPx / columns) - 110);
    let h = 170;
    // Sizing passes: axis labels and legends change with the panel size (another tick count,
    // wider numbers), so the canvas does not move one pixel per panel pixel; each pass corrects
    // by the response the last one measured (a secant step), and a few passes converge.
    const slackPx = 8;
    let svg = await renderVega(plotSpec(reports, opts, w, h, columns));
    let natural = svgSize(svg);
    let slopeW = columns;
    let slopeH = rows;
    for (let pass = 0; pass < kSizingPasses; pass++) {
      const overW = natural.width - opts.widthPx;
      const overH = opts.heightPx === undefined ? 0 : natural.height - opts.heightPx;
      if (Math.abs(overW) <= slackPx && Math.abs(overH) <= slackPx) break;
      const nextW = Math.max(120, w - Math.ceil(overW / slopeW));
      const nextH = opts.heightPx === undefined ? h : Math.max(kMinPanelHeightPx, h - Math.ceil(overH / slopeH));
      if (nextW === w && nextH === h) break; // at the floors: nothing left to give
      const next = svgSize((svg = await renderVega(plotSpec(reports, opts, nextW, nextH, columns))));
      // The measured response, kept within sane bounds (a label that jumps must not stall or overshoot).
      if (nextW !== w) slopeW = Math.min(columns * 2, Math.max(0.25, (next.width - natural.width) / (nextW - w)));
      if (nextH !== h) slopeH = Math.min(rows * 2, Math.max(0.25, (next.height - natural.height) / (nextH - h)));
      [w, h, natural] = [nextW, nextH, next];
    }
    // A canvas the panels cannot fit is refused, never cropped or squeezed out of shape.
    if (natural.width > opts.widthPx + slackPx) {
      refusal ??= usageError(`the plot needs at least --plot-width ${Math.ceil(natural.width)} (its ratio table and legends do not fit in ${opts.widthPx} px)`, {
        widthPx: opts.widthPx,
        neededWidthPx: Math.ceil(natural.width),
      });
      continue;
    }
    if (opts.heightPx !== undefined && natural.height > opts.heightPx + slackPx) {
      const needed = Math.ceil(natural.height + (kMinPanelHeightPx - h) * rows);
      refusal = usageError(`${panels.length} panels do not fit in ${opts.heightPx} px of height: give at least --plot-height ${needed}, or leave it out (the height then follows the panels)`, {
        heightPx: opts.heightPx,
        neededHeightPx: needed,
        panels: panels.length,
      });
      if (columns > 1) continue;
      throw refusal;
    }
    return fitSvg(svg, opts.widthPx, opts.heightPx ?? Math.ceil(natural.height));
  }
  throw refusal!;
}

/**
 * Gives an SVG exactly `width × height`: the drawing keeps its own
 * coordinates (after the sizing pass it is within a few pixels of the
 * canvas), placed top-left on white, never scaled into a letterbox.
 */
export function fitSvg(svg: string, width: number, height: number): string {
  const root = /<svg\b[^>]*>/.exec(svg);
  if (root === null) throw new PassthroughError('PT_ERR_INTERNAL', 'vega produced no <svg> root', {});
  const inner = svg.slice(root.index + root[0].length).replace(/<\/svg>\s*$/, '');
  const viewBox = /\bviewBox="([^"]+)"/.exec(root[0])?.[1];
  const nested = viewBox === undefined ? '' : ` viewBox="${viewBox}"`;
  const { width: w, height: h } = svgSize(svg);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="white"/>` +
    `<svg x="0" y="0" width="${w || width}" height="${h || height}"${nested} overflow="hidden">${inner}</svg>` +
    `</svg>\n`
  );
}

/** Rasterises an SVG to PNG with resvg, using DejaVu when installed (else the system fonts). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf']
    .map((f) => `${FONT_DIR}/${f}`)
    .filter((p) => existsSync(p));
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: 'white',
    font: { fontFiles, loadSystemFonts: fontFiles.length === 0, defaultFontFamily: FONT_FAMILY, monospaceFamily: MONO_FAMILY },
  });
  return resvg.render().asPng();
}

/** Renders the plot in `format`: SVG text or PNG bytes. */
export async function renderPlot(reports: readonly BenchReport[], format: 'svg' | 'png', opts: PlotOptions): Promise<string | Uint8Array> {
  const svg = await renderPlotSvg(reports, opts);
  return format === 'svg' ? svg : svgToPng(svg);
}
