/**
 * How a benchmark ratio is written in the table, the HTML page and the plot:
 * the value (`1.27×`), its spread over the run's rounds (`1.18–1.27–1.41×,
 * 8 rounds`: min, median, max) and the verdict, which follows the median
 * of the rounds when the ratio has a spread.
 */
import type { BenchRatio } from '../../../bench/report.js';

/** A ratio value: 4 significant digits below 1000, rounded above. */
export function ratioText(value: number): string {
  return `${value >= 1000 ? Math.round(value) : value.toPrecision(3)}×`;
}

/** `min–median–max× (n rounds)` (without the count when `short`), or '' without a spread. */
export function spreadText(r: BenchRatio, short = false): string {
  const s = r.spread;
  if (s === undefined) return '';
  const f = (x: number) => (x >= 1000 ? String(Math.round(x)) : x.toPrecision(3));
  const range = `${f(s.min)}–${f(s.median)}–${f(s.max)}×`;
  return short ? range : `${range} (${s.rounds} round${s.rounds === 1 ? '' : 's'})`;
}

/** `PASS` / `MISS`, and what decided it when the median of the rounds did. */
export function verdictText(r: BenchRatio): string {
  return r.ok ? 'PASS' : 'MISS';
}
