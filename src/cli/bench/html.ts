/**
 * `pcipt bench --html FILE`: one self-contained page to attach to an issue:
 * the machine (CPU, cores, memory, OS, Node, load before and after), the
 * command line, each suite's results and ratios, and the plots (inline SVG).
 * No script, no external resource.
 */
import type { BenchReport } from '../../../bench/report.js';
import { formatNs, formatOps } from '../table.js';
import { ratioText, reportExtras, spreadText, targetText, verdictText } from './ratio-text.js';

/** What the page says besides the reports. */
export interface HtmlReportInfo {
  title: string;
  /** The command line that produced it. */
  command: string;
  /** pcipt's version. */
  version: string;
  startedAt: Date;
  finishedAt: Date;
  /** 1/5/15-minute load averages when the run ended. */
  loadAfter: readonly number[];
  /** The plots as SVG markup. */
  plotSvg: string;
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function table(head: readonly string[], body: readonly (readonly string[])[], numeric: ReadonlySet<number>): string {
  const th = head.map((h, i) => `<th${numeric.has(i) ? ' class="n"' : ''}>${escapeHtml(h)}</th>`).join('');
  const tr = body.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function suiteSection(report: BenchReport): string {
  const results = report.results.map((r) => [
    escapeHtml(r.name),
    String(r.samples),
    String(r.batch ?? 1),
    formatNs(r.latencyNs.p50),
    formatNs(r.latencyNs.p99),
    formatNs(r.latencyNs.mean),
    formatNs(r.latencyNs.min),
    formatNs(r.latencyNs.max),
    formatOps(r.opsPerSec),
  ]);
  const ratios = (report.ratios ?? []).map((x) => [
    escapeHtml(x.label),
    ratioText(x.value),
    escapeHtml(spreadText(x)),
    targetText(x),
    `<b class="${x.ok ? 'pass' : 'miss'}">${verdictText(x)}</b>`,
  ]);
  const extras = reportExtras(report);
  return [
    `<h2>${escapeHtml(report.suite)}</h2>`,
    table(['result', 'samples', 'batch', 'p50', 'p99', 'mean', 'min', 'max', 'ops/s'], results, new Set([1, 2, 3, 4, 5, 6, 7, 8])),
    ratios.length === 0 ? '' : table(['ratio (same run)', 'value', 'per round: min–median–max', 'target', 'result (median of rounds)'], ratios, new Set([1, 2, 3])),
    extras.length === 0 ? '' : `<p>${extras.map(([k, v]) => `${escapeHtml(k)} <b>${escapeHtml(v)}</b>`).join(' · ')}</p>`,
    (report.notes ?? []).length === 0 ? '' : `<pre>${(report.notes ?? []).map(escapeHtml).join('\n')}</pre>`,
  ].join('\n');
}

/** The page. */
export function renderHtmlReport(reports: readonly BenchReport[], info: HtmlReportInfo): string {
  const m = reports[0]?.machine;
  const gib = m?.totalMemBytes === undefined ? '' : `${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB`;
  const machine: [string, string][] = [
    ['CPU', `${m?.cpuModel ?? 'unknown'} × ${m?.cpus ?? '?'}`],
    ['memory', gib],
    ['OS', [m?.platform, m?.release, m?.arch].filter((x) => x !== undefined).join(' ')],
    ['Node', m?.node ?? process.version],
    ['pcipt', info.version],
    ['load (1/5/15 min)', `before ${(m?.loadAvg ?? []).join(' / ')}, after ${info.loadAfter.map((x) => x.toFixed(2)).join(' / ')}`],
    ['run', `${info.startedAt.toISOString()} → ${info.finishedAt.toISOString()} (${((info.finishedAt.getTime() - info.startedAt.getTime()) / 1000).toFixed(1)} s)`],
    ['command', `<code>${escapeHtml(info.command)}</code>`],
  ];
  const misses = reports.flatMap((r) => r.ratios ?? []).filter((x) => !x.ok).length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(info.title)}</title>
<style>
body { font: 14px/1.4 "DejaVu Sans", system-ui, sans-serif; margin: 2em; color: #222; max-width: 1300px; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f4f4f4; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #2ca02c; } .miss { color: #d62728; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dt { color: #666; } dd { margin: 0; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(info.title)}</h1>
<p>${misses === 0 ? '<b class="pass">every target met</b>' : `<b class="miss">${misses} target${misses === 1 ? '' : 's'} missed</b>`} · latencies are per operation; each ratio compares two paths measured in the same run.</p>
<h2>machine</h2>
<dl>
${machine.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${k === 'command' ? v : escapeHtml(v)}</dd>`).join('\n')}
</dl>
${reports.map(suiteSection).join('\n')}
<h2>plots</h2>
${info.plotSvg}
</body>
</html>
`;
}
