/**
 * How a benchmark ratio is written in the table, the HTML page and the plot:
 * the value (`1.27×`), its spread over the run's rounds (`1.18–1.27–1.41×,
 * 8 rounds`: min, median, max) and the verdict, which follows the median
 * of the rounds when the ratio has a spread. Also a report's own figures
 * beyond the shared schema, as both the table and the HTML page show them.
 */
import type { BenchRatio, BenchReport } from '../../../bench/report.js';

/** The fields every report shares; the rest are the suite's own figures. */
const kSharedReportKeys = new Set(['suite', 'machine', 'results', 'ratios', 'notes']);

/**
 * A report's suite-specific scalar figures (scale: devices, lost IRQs, RSS per
 * device, …) as `[name, text]`: `…Bytes` in MiB, fractions to one decimal.
 */
export function reportExtras(report: BenchReport): [name: string, text: string][] {
  return Object.entries(report)
    .filter(([k, v]) => !kSharedReportKeys.has(k) && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'))
    .map(([k, v]) => [k, k.endsWith('Bytes') && typeof v === 'number' ? `${(v / 2 ** 20).toFixed(2)} MiB` : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v)]);
}

/** A ratio's number: 3 significant digits below 1000, rounded above. */
function figure(value: number): string {
  return value >= 1000 ? String(Math.round(value)) : value.toPrecision(3);
}

/** A ratio value (`1.27×`). */
export function ratioText(value: number): string {
  return `${figure(value)}×`;
}

/** The target (`≤ 1.5×`, or `≥ 1000×` for a speed-up). */
export function targetText(r: BenchRatio): string {
  return `${r.target.kind === 'max' ? '≤' : '≥'} ${r.target.value}×`;
}

/** `min–median–max× (n rounds)` (without the count when `short`), or '' without a spread. */
export function spreadText(r: BenchRatio, short = false): string {
  const s = r.spread;
  if (s === undefined) return '';
  const range = `${figure(s.min)}–${figure(s.median)}–${figure(s.max)}×`;
  return short ? range : `${range} (${s.rounds} round${s.rounds === 1 ? '' : 's'})`;
}

/** `PASS` / `MISS` (BenchRatio.ok: the median of the rounds decided it when there is a spread). */
export function verdictText(r: BenchRatio): string {
  return r.ok ? 'PASS' : 'MISS';
}
