/**
 * The files `pcipt bench` writes (--plot, --csv, --samples, --html): checked
 * before any suite runs, so a typo never throws away minutes of measuring,
 * and written after it, each on its own, so one that fails still leaves the
 * others and the printed report.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import type { BenchReport } from '../../../bench/report.js';
import { PassthroughError } from '../../errors.js';
import { usageError } from '../exit-codes.js';
import { renderHtmlReport, type HtmlReportInfo } from './html.js';
import { resultsCsv, samplesCsv } from './export.js';
import { renderPlot, renderPlotSvg, requirePlotRenderers } from './plot.js';

/** One requested output file. */
export interface BenchOutput {
  /** The option that asked for it. */
  option: '--plot' | '--csv' | '--samples' | '--html';
  path: string;
  format: 'svg' | 'png' | 'csv' | 'html';
}

/** The output options of bench. */
export interface BenchOutputOptions {
  plot?: string;
  csv?: string;
  samples?: string;
  html?: string;
}

/** Plot sizes and the title. */
export interface PlotSize {
  widthPx: number;
  heightPx?: number;
}

/** The requested outputs, their formats from the extensions (usage error for an unknown one). */
export function planOutputs(opts: BenchOutputOptions): BenchOutput[] {
  const out: BenchOutput[] = [];
  if (opts.plot !== undefined) {
    const ext = extname(opts.plot).toLowerCase();
    if (ext !== '.svg' && ext !== '.png') throw usageError(`--plot needs a .svg or .png file name (got "${opts.plot}")`, { path: opts.plot });
    out.push({ option: '--plot', path: opts.plot, format: ext === '.svg' ? 'svg' : 'png' });
  }
  if (opts.csv !== undefined) out.push({ option: '--csv', path: opts.csv, format: 'csv' });
  if (opts.samples !== undefined) out.push({ option: '--samples', path: opts.samples, format: 'csv' });
  if (opts.html !== undefined) {
    const ext = extname(opts.html).toLowerCase();
    if (ext !== '.html' && ext !== '.htm') throw usageError(`--html needs a .html file name (got "${opts.html}")`, { path: opts.html });
    out.push({ option: '--html', path: opts.html, format: 'html' });
  }
  const seen = new Map<string, string>();
  for (const o of out) {
    const abs = resolve(o.path);
    const other = seen.get(abs);
    if (other !== undefined) throw usageError(`${other} and ${o.option} name the same file (${o.path})`, { path: o.path });
    seen.set(abs, o.option);
  }
  return out;
}

/** True when the run must keep raw samples (plots, --samples, --html). */
export function needsSamples(outputs: readonly BenchOutput[]): boolean {
  return outputs.some((o) => o.option !== '--csv');
}

/**
 * Checks every output before the run: the directory exists (PT_ERR_NOT_FOUND,
 * exit 3), the file can be written (PT_ERR_PERMISSION, exit 5), the path is
 * not a directory (usage, exit 2), and the optional renderers a plot or HTML
 * report needs are installed (PT_ERR_NOT_FOUND, naming the npm command).
 */
export async function checkOutputs(outputs: readonly BenchOutput[]): Promise<void> {
  for (const o of outputs) {
    const dir = dirname(resolve(o.path));
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(dir);
    } catch {
      throw new PassthroughError('PT_ERR_NOT_FOUND', `${o.option} ${o.path}: the directory ${dir} does not exist`, { option: o.option, path: o.path });
    }
    if (!st.isDirectory()) throw new PassthroughError('PT_ERR_NOT_FOUND', `${o.option} ${o.path}: ${dir} is not a directory`, { option: o.option, path: o.path });
    let existing: ReturnType<typeof statSync> | undefined;
    try {
      existing = statSync(o.path);
    } catch {
      existing = undefined;
    }
    if (existing?.isDirectory() === true) throw usageError(`${o.option} ${o.path} is a directory; give a file name`, { option: o.option, path: o.path });
    try {
      accessSync(existing === undefined ? dir : o.path, constants.W_OK);
    } catch (e) {
      throw new PassthroughError('PT_ERR_PERMISSION', `${o.option} ${o.path}: cannot write there (${(e as NodeJS.ErrnoException).code ?? 'denied'})`, {
        option: o.option,
        path: o.path,
      });
    }
    if (o.format === 'svg' || o.format === 'png' || o.format === 'html') await requirePlotRenderers(o.format, o.option);
  }
}

/**
 * Writes every output. Each failure becomes a PassthroughError in the
 * returned list (PT_ERR_IO with the cause) instead of stopping the others.
 */
export async function writeOutputs(
  outputs: readonly BenchOutput[],
  reports: readonly BenchReport[],
  plot: PlotSize & { title: string },
  html: Omit<HtmlReportInfo, 'plotSvg'>,
): Promise<{ written: BenchOutput[]; failed: PassthroughError[] }> {
  const written: BenchOutput[] = [];
  const failed: PassthroughError[] = [];
  for (const o of outputs) {
    try {
      let data: string | Uint8Array;
      if (o.option === '--plot') data = await renderPlot(reports, o.format as 'svg' | 'png', plot);
      else if (o.option === '--csv') data = resultsCsv(reports);
      else if (o.option === '--samples') data = samplesCsv(reports);
      else data = renderHtmlReport(reports, { ...html, plotSvg: await renderPlotSvg(reports, { ...plot, heightPx: undefined }) });
      await writeFile(o.path, data);
      written.push(o);
    } catch (e) {
      failed.push(
        e instanceof PassthroughError
          ? e.prepend(`${o.option} ${o.path}`)
          : new PassthroughError('PT_ERR_IO', `${o.option} ${o.path}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { option: o.option, path: o.path }, { cause: e }),
      );
    }
  }
  return { written, failed };
}
