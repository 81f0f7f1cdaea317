/**
 * Raw benchmark data as CSV (RFC 4180: a header row, comma-separated,
 * quoted only where needed): `--csv` writes one row per result and per
 * ratio, `--samples` one row per sample, so a run can be re-plotted or
 * analysed elsewhere. Latencies are nanoseconds per operation.
 */
import type { BenchReport } from '../../../bench/report.js';

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function rows(header: readonly string[], body: readonly (readonly unknown[])[]): string {
  return `${[header, ...body].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

/**
 * `--csv`: `kind` = result (latency columns filled) or ratio (ratio columns
 * filled: the pooled value, the per-round spread, the two figures and their unit).
 */
export function resultsCsv(reports: readonly BenchReport[]): string {
  const header = ['kind', 'suite', 'name', 'samples', 'batch', 'p50_ns', 'p99_ns', 'mean_ns', 'min_ns', 'max_ns', 'ops_per_sec', 'path', 'baseline', 'stat', 'value', 'target_kind', 'target', 'ok', 'spread_min', 'spread_median', 'spread_max', 'rounds', 'path_value', 'baseline_value', 'unit'];
  const body: unknown[][] = [];
  for (const rep of reports) {
    for (const r of rep.results) {
      const l = r.latencyNs;
      body.push(['result', rep.suite, r.name, r.samples, r.batch ?? 1, l.p50, l.p99, l.mean, l.min, l.max, r.opsPerSec, '', '', '', '', '', '', '', '', '', '', '', '', '', '']);
    }
    for (const x of rep.ratios ?? []) {
      body.push(['ratio', rep.suite, x.label, '', '', '', '', '', '', '', '', x.path, x.baseline, x.stat, x.value, x.target.kind, x.target.value, x.ok, x.spread?.min, x.spread?.median, x.spread?.max, x.spread?.rounds, x.pathValue, x.baselineValue, x.unit]);
    }
  }
  return rows(header, body);
}

/** `--samples`: every retained sample, in measurement order. */
export function samplesCsv(reports: readonly BenchReport[]): string {
  const body: unknown[][] = [];
  for (const rep of reports) {
    for (const r of rep.results) {
      (r.samplesNs ?? []).forEach((ns, i) => body.push([rep.suite, r.name, r.batch ?? 1, i, ns]));
    }
  }
  return rows(['suite', 'name', 'batch', 'index', 'latency_ns'], body);
}
