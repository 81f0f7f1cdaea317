/**
 * `pcipt trace [--filter GLOB]... [--duration-ms N] [-- workload]`: streams
 * trace events as JSON lines on stdout (one event per line, cloud-hypervisor
 * `--event-monitor` style) while a workload runs. The workload is another
 * pcipt command run in this process (default `demo`); its own output goes to
 * stderr so stdout carries only events. A summary (events per channel) ends
 * on stderr. `--format text` prints QEMU-style text lines instead of JSON;
 * `--list` prints the declared trace points.
 */
import {
  createJsonLinesTraceWriter,
  createTextTraceWriter,
  selectTracePoints,
  TRACE_POINTS,
  TRACE_POINT_NAMES,
} from '../../trace.js';
import { nestedGlobals, type CommandContext } from '../context.js';
import { usageError } from '../exit-codes.js';
import type { CliStreams } from '../io.js';

/** Options of the trace command. */
export interface TraceCliOptions {
  filter?: string[];
  durationMs?: number;
  list?: boolean;
  /** `json` (default: JSON lines) or `text` (one QEMU-style line per event). */
  format?: 'json' | 'text';
}

/** Runs a nested pcipt command line; returns its exit code. */
export type RunNested = (argv: string[], streams: CliStreams) => Promise<number>;

/** Runs trace. A workload that fails gives its exit code; a filter that selects nothing is a usage error. */
export async function traceCommand(
  ctx: CommandContext,
  workload: string[],
  opts: TraceCliOptions,
  runNested: RunNested,
): Promise<number> {
  const { output } = ctx;
  if (opts.list === true) {
    const points = selectTracePoints(opts.filter ?? []);
    if (output.json) output.emitJson(points.map((name) => ({ name, payload: TRACE_POINTS[name] })));
    else for (const name of points) output.out(`${name}  ${output.color.dim(TRACE_POINTS[name])}`);
    return 0;
  }
  const filter = opts.filter ?? [];
  if (selectTracePoints(filter).length === 0) {
    throw usageError(`--filter ${filter.join(' ')} selects no trace point (pcipt trace --list shows them)`, {
      filter,
      known: TRACE_POINT_NAMES.length,
    });
  }
  const args = workload.length > 0 ? [...workload] : ['demo'];
  if (args[0] === 'trace') throw usageError('the trace workload cannot be trace itself');
  // The nested command inherits the backend choice; its stdout is our stderr.
  const globals = nestedGlobals(ctx.options);
  const nestedStreams: CliStreams = { stdout: ctx.output.streams.stderr, stderr: ctx.output.streams.stderr, env: ctx.output.streams.env };

  const sink = (opts.format === 'text' ? createTextTraceWriter : createJsonLinesTraceWriter)(ctx.output.streams.stdout, filter);
  let timer: NodeJS.Timeout | undefined;
  try {
    // --duration-ms bounds the stream; the workload still finishes before we exit.
    if (opts.durationMs !== undefined) timer = setTimeout(() => sink.close(), opts.durationMs);
    const code = await runNested([...globals, ...args], nestedStreams);
    return code;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    sink.close();
    const counts = Object.entries(sink.counts()).filter(([, n]) => n > 0);
    const total = counts.reduce((a, [, n]) => a + n, 0);
    output.log(`trace: ${total} event${total === 1 ? '' : 's'}${counts.length > 0 ? ` (${counts.map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}`);
  }
}
