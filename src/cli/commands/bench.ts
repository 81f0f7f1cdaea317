/**
 * `pcipt bench <mmio|irq|config|attach|scale|all>`: runs the suites with a
 * progress bar (and ETA) on stderr, prints a table per suite (name, p50,
 * p99, mean, ops/s) and the target ratios (value, target, PASS/MISS), or
 * with `--json` the BenchReport (one suite) or `{ suites: [...] }` (all).
 * `--plot`, `--csv`, `--samples` and `--html` write files: their paths (and
 * the optional plot renderers) are checked before anything runs, and they
 * are written after the report is printed, so a failed write never loses a
 * finished run. Exit 0 even when a target is missed (a shared CI box is
 * noisy) unless `--strict` (exit 7).
 */
import os from 'node:os';
import type { BenchReport } from '../../../bench/report.js';
import { PassthroughError } from '../../errors.js';
import { createProgress, progressEnabled } from '../progress.js';
import { formatNs, formatOps, renderTable } from '../table.js';
import type { CommandContext } from '../context.js';
import { ExitCode, exitCodeFor } from '../exit-codes.js';
import { checkOutputs, needsSamples, planOutputs, writeOutputs, type BenchOutputOptions } from '../bench/outputs.js';
import { SUITE_ORDER, checkSuiteOptions, runSuite, type SuiteName } from '../bench/suites.js';
import { ratioText, reportExtras, spreadText, targetText, verdictText } from '../bench/ratio-text.js';

/** Options of bench (from commander). */
export interface BenchCommandOptions extends BenchOutputOptions {
  durationMs?: number;
  devices: number;
  plotWidth: number;
  plotHeight?: number;
  strict?: boolean;
}

/** Run details the HTML report shows (what the command line was, and the version). */
export interface BenchRunInfo {
  command: string;
  version: string;
}

/**
 * Budget per suite for `bench all` without --duration-ms: keeps
 * `pcipt bench all --json` well under five minutes on a 2-core machine.
 */
export const ALL_SUITE_BUDGET_MS = 4000;

/**
 * How long a suite may go without reporting progress before the CLI gives up
 * on it (it may be wedged on a dead worker). Every progress report starts the
 * wait again, so a long suite on a slow machine (1,024 devices to attach) is
 * not cut off while it advances.
 */
export function suiteDeadlineMs(durationMs: number | undefined): number {
  return Math.max(180_000, 15 * (durationMs ?? 10_000));
}

/** A deadline that {@link StallDeadline.touch} pushes back; rejects with PT_ERR_TIMEOUT once it passes. */
class StallDeadline {
  readonly expired: Promise<never>;
  #timer: NodeJS.Timeout | undefined;
  #reject!: (e: unknown) => void;
  readonly #suite: string;
  readonly #ms: number;

  constructor(suite: string, ms: number) {
    this.#suite = suite;
    this.#ms = ms;
    this.expired = new Promise<never>((_resolve, reject) => (this.#reject = reject));
    this.expired.catch(() => {});
    this.touch();
  }

  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => this.#reject(new PassthroughError('PT_ERR_TIMEOUT', `bench suite ${this.#suite} made no progress for ${this.#ms} ms`, { suite: this.#suite, timeoutMs: this.#ms })),
      this.#ms,
    );
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** The `bench all --json` document. */
export interface BenchAllDocument {
  suites: BenchReport[];
}

/** Runs bench. */
export async function benchCommand(ctx: CommandContext, suite: SuiteName | 'all', opts: BenchCommandOptions, run: BenchRunInfo = { command: `pcipt bench ${suite}`, version: '' }): Promise<number> {
  const { output } = ctx;
  // Every output path, and the renderers plots need, before minutes of measuring.
  const outputs = planOutputs(opts);
  await checkOutputs(outputs);
  const names = suite === 'all' ? SUITE_ORDER : [suite];
  checkSuiteOptions(names, opts);
  const progress = createProgress(output.streams.stderr, {
    enabled: progressEnabled(output.streams.stderr, output.streams.env, output.json),
    title: 'bench',
  });
  const startedAt = new Date();
  const reports: BenchReport[] = [];
  try {
    for (const [i, name] of names.entries()) {
      progress.update(i / names.length, name);
      const durationMs = opts.durationMs ?? (suite === 'all' ? ALL_SUITE_BUDGET_MS : undefined);
      const deadline = new StallDeadline(name, suiteDeadlineMs(durationMs));
      try {
        const work = runSuite(name, {
          ...(durationMs === undefined ? {} : { durationMs }),
          devices: opts.devices,
          retainSamples: needsSamples(outputs),
          onProgress: (fraction, label) => {
            deadline.touch();
            progress.update((i + fraction) / names.length, `${name}: ${label}`);
          },
        });
        reports.push(await Promise.race([work, deadline.expired]));
      } finally {
        deadline.clear();
      }
    }
    progress.update(1, 'done');
  } finally {
    progress.done();
  }
  const finishedAt = new Date();
  const loadAfter = os.loadavg();

  // The report first: a file that cannot be written must not lose a finished run.
  const forJson = reports.map(stripSamples);
  if (output.json) {
    output.emitJson(suite === 'all' ? ({ suites: forJson } satisfies BenchAllDocument) : forJson[0]);
  } else {
    for (const report of forJson) printReport(ctx, report);
  }

  const machine = reports[0]?.machine;
  const title = `pcipt bench ${suite} (${machine?.cpus ?? '?'} CPUs${machine?.cpuModel === undefined ? '' : `, ${machine.cpuModel}`}, Node ${machine?.node ?? process.version})`;
  const { written, failed } = await writeOutputs(
    outputs,
    reports,
    { widthPx: opts.plotWidth, ...(opts.plotHeight === undefined ? {} : { heightPx: opts.plotHeight }), title },
    { title, command: run.command, version: run.version, startedAt, finishedAt, loadAfter },
  );
  for (const o of written) output.log(`${o.option.slice(2)} written to ${o.path}`);
  for (const e of failed) output.log(`${output.errColor.red('pcipt:')} ${e.message} ${output.errColor.dim(`[${e.code}]`)}`);
  if (failed.length > 0) return exitCodeFor(failed[0]!);
  const missed = reports.some((r) => (r.ratios ?? []).some((x) => !x.ok));
  return missed && opts.strict === true ? ExitCode.TARGET_MISSED : ExitCode.OK;
}

/** The report without raw samples (kept for plots only; they would swell the JSON). */
function stripSamples(report: BenchReport): BenchReport {
  return { ...report, results: report.results.map(({ samplesNs: _drop, ...rest }) => rest) };
}

function printReport(ctx: CommandContext, report: BenchReport): void {
  const { out, color: c } = ctx.output;
  out(c.bold(`${report.suite}`) + c.dim(`  (${report.machine.cpus} CPUs${report.machine.cpuModel ? `, ${report.machine.cpuModel}` : ''}, Node ${report.machine.node})`));
  const rows = report.results.map((r) => [
    r.name,
    String(r.samples),
    formatNs(r.latencyNs.p50),
    formatNs(r.latencyNs.p99),
    formatNs(r.latencyNs.mean),
    formatOps(r.opsPerSec),
  ]);
  for (const line of renderTable(
    [{ header: 'name' }, { header: 'samples', right: true }, { header: 'p50', right: true }, { header: 'p99', right: true }, { header: 'mean', right: true }, { header: 'ops/s', right: true }],
    rows,
  )) {
    out(`  ${line}`);
  }
  // Suite-specific figures beyond the shared schema (scale: devices, lost IRQs, RSS per device, …).
  const extras = reportExtras(report);
  if (extras.length > 0) out(`  ${extras.map(([k, v]) => `${k} ${v}`).join(' · ')}`);
  for (const line of report.notes ?? []) out(`  ${line}`);
  const ratios = report.ratios ?? [];
  if (ratios.length > 0) {
    out();
    const ratioRows = ratios.map((x) => [x.label, ratioText(x.value), targetText(x), verdictText(x), spreadText(x)]);
    const lines = renderTable(
      [{ header: 'ratio' }, { header: 'value', right: true }, { header: 'target', right: true }, { header: 'result' }, { header: 'per round: min–median–max (verdict: median)' }],
      ratioRows,
      (row, col, padded) => (col === 3 ? (ratios[row]!.ok ? c.green(padded) : c.red(padded)) : padded),
    );
    for (const line of lines) out(`  ${line}`);
  }
  out();
}
