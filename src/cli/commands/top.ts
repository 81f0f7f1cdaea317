/**
 * `pcipt top [--device BDF]... [--interval-ms N] [--count N] [-- workload]`:
 * live counters per device from `Supervisor.list()` and `stats()`: IRQs/s,
 * coalesced, dropped while masked, trapped MMIO/s, config cycles, restarts
 * and state, and the refcount and holders of its shared dext connection
 * from `inspect()` (src/cli/top-sampler.ts).
 *
 * What it watches: with a workload (another pcipt command, run in this
 * process, as `trace` does), every supervisor the workload creates, until the
 * workload ends; without one, the functions it attaches itself (`--device`,
 * else every attachable one), until q, Ctrl-C or `--count`.
 *
 * How it shows them: on a terminal, a table redrawn in place on the
 * alternate screen (the last frame stays printed when top ends; the
 * workload's own output follows it on stderr); on a pipe, one table row per
 * device per refresh; under `--json`, one JSON line per refresh.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Supervisor } from '../../actors/supervisor/supervisor.js';
import { PassthroughError, toPassthroughError } from '../../errors.js';
import { nestedGlobals, type CommandContext } from '../context.js';
import { usageError } from '../exit-codes.js';
import type { CliStreams, TextSink } from '../io.js';
import { renderTable } from '../table.js';
import { TOP_COLUMNS, TopSampler, type StatsSource, type TopFrame } from '../top-sampler.js';

/** Options of top (from commander). */
export interface TopCliOptions {
  device?: string[];
  intervalMs: number;
  count?: number;
  /** Deadline of each control call (attach steps included) of top's own supervisor. */
  callTimeoutMs?: number;
}

/** Runs a nested pcipt command line, reporting each supervisor it creates; returns its exit code. */
export type RunWatched = (argv: string[], streams: CliStreams, onSupervisor: (s: Supervisor) => void) => Promise<number>;

/** Keeps the last `limitBytes` of a workload's output, to print after the screen is restored. */
function tailBuffer(limitBytes: number): TextSink & { text(): string } {
  let chunks: string[] = [];
  let size = 0;
  return {
    write(chunk: string) {
      chunks.push(chunk);
      size += chunk.length;
      while (size > limitBytes && chunks.length > 1) size -= chunks.shift()!.length;
      return true;
    },
    text: () => {
      const t = chunks.join('');
      chunks = [];
      size = 0;
      return t;
    },
  };
}

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';

/** Runs top. Exit status: the workload's when it ran to its end, else 0. */
export async function topCommand(ctx: CommandContext, workload: string[], opts: TopCliOptions, runWatched: RunWatched): Promise<number> {
  const { output } = ctx;
  const streams = output.streams;
  if (workload.length > 0 && opts.device !== undefined) throw usageError('top watches either --device functions or a workload, not both');
  if (workload[0] === 'top') throw usageError('the top workload cannot be top itself');

  const mode = output.json ? 'json' : streams.stdout.isTTY === true ? 'tty' : 'plain';
  const sources: StatsSource[] = [];
  const watched: Supervisor[] = [];
  let own: Supervisor | undefined;
  let workloadDone: Promise<number> | undefined;
  let workloadCode: number | undefined;
  const buffered = tailBuffer(256 * 1024);

  if (workload.length === 0) {
    own = await ctx.createSupervisor(opts.callTimeoutMs === undefined ? {} : { callTimeoutMs: opts.callTimeoutMs });
    sources.push(own);
    try {
      await attachForTop(ctx, own, opts.device);
    } catch (e) {
      await own.close();
      throw e;
    }
  } else {
    const sink = mode === 'tty' ? buffered : streams.stderr;
    const nested: CliStreams = { stdout: sink, stderr: sink, env: streams.env };
    workloadDone = runWatched([...nestedGlobals(ctx.options), ...workload], nested, (s) => {
      watched.push(s);
      sources.push(s);
    }).then((code) => (workloadCode = code));
  }

  // Quit on q / Ctrl-C (raw terminal), SIGINT (a pipe), --count, or the workload's end.
  let quit: () => void = () => {};
  const quitting = new Promise<'quit'>((resolve) => (quit = () => resolve('quit')));
  const onKey = (chunk: Buffer | string): void => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (/[qQ\x03]/.test(text)) quit();
  };
  const onSigint = (): void => quit();
  const keys = mode === 'tty' && streams.stdin?.isTTY === true ? streams.stdin : undefined;
  process.once('SIGINT', onSigint);
  if (keys !== undefined) {
    keys.setRawMode?.(true);
    keys.on('data', onKey);
    keys.resume();
  }
  if (mode === 'tty') streams.stdout.write(ALT_SCREEN_ON);

  const t0 = performance.now();
  const sampler = new TopSampler(t0);
  let last: TopFrame | undefined;
  let refreshes = 0;
  let userQuit = false;
  try {
    for (;;) {
      const frame = await sampler.sample(sources, () => performance.now());
      if (frame.devices.length > 0 || last === undefined) last = frame;
      refreshes++;
      draw(ctx, mode, frame, refreshes === 1);
      if (opts.count !== undefined && refreshes >= opts.count) break;
      const next = await Promise.race([
        sleep(opts.intervalMs).then(() => 'tick' as const),
        quitting,
        ...(workloadDone === undefined ? [] : [workloadDone.then(() => 'done' as const)]),
      ]);
      if (next === 'quit') {
        userQuit = true;
        break;
      }
      if (next === 'done') break;
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (keys !== undefined) {
      keys.off('data', onKey);
      keys.setRawMode?.(false);
      keys.pause();
    }
    if (mode === 'tty') {
      streams.stdout.write(ALT_SCREEN_OFF);
      if (last !== undefined) for (const line of frameLines(ctx, last)) streams.stdout.write(`${line}\n`);
    }
    if (own !== undefined) await own.close();
  }

  if (workloadDone !== undefined) {
    if (workloadCode === undefined) {
      // Stopped before the workload ended: closing its supervisors makes it fail fast.
      await Promise.all(watched.map((s) => s.close().catch(() => {})));
      await Promise.race([workloadDone, sleep(10_000)]);
    }
    const text = buffered.text();
    if (text !== '') streams.stderr.write(text);
    return userQuit || workloadCode === undefined ? 0 : workloadCode;
  }
  return 0;
}

/** Attaches `bdfs` (or every attachable function) to top's own supervisor; a --device that fails is an error. */
async function attachForTop(ctx: CommandContext, sup: Supervisor, bdfs: string[] | undefined): Promise<void> {
  if (bdfs !== undefined) {
    for (const bdf of bdfs) await sup.attach(bdf);
    return;
  }
  const functions = (await sup.listFunctions()).filter((f) => f.attachable);
  if (functions.length === 0) throw new PassthroughError('PT_ERR_NOT_FOUND', `the ${ctx.options.backend} backend has no attachable function`, {});
  for (const f of functions) {
    try {
      await sup.attach(f.bdf);
    } catch (e) {
      const err = toPassthroughError(e);
      ctx.output.log(`top: ${f.bdf} not attached: ${err.message} [${err.code}]`);
    }
  }
}

/** The frame as table lines (title, header, one row per device). */
function frameLines(ctx: CommandContext, frame: TopFrame): string[] {
  const c = ctx.output.color;
  const rows = frame.devices.map((r) => TOP_COLUMNS.map((col) => col.cell(r)));
  const stateCol = TOP_COLUMNS.findIndex((col) => col.header === 'STATE');
  const table = renderTable(TOP_COLUMNS, rows, (row, col, padded) => {
    if (col !== stateCol) return padded;
    const state = frame.devices[row]!.state;
    return state === 'ready' ? c.green(padded) : state === 'faulted' ? c.red(padded) : c.yellow(padded);
  });
  const title = `pcipt top · ${ctx.options.backend} · ${frame.devices.length} device${frame.devices.length === 1 ? '' : 's'} · ${(frame.timeMs / 1000).toFixed(1)} s`;
  return [c.bold(title), ...(frame.devices.length === 0 ? ['(no devices yet)'] : table)];
}

function draw(ctx: CommandContext, mode: 'json' | 'tty' | 'plain', frame: TopFrame, first: boolean): void {
  const { streams } = ctx.output;
  if (mode === 'json') {
    streams.stdout.write(`${JSON.stringify(frame)}\n`);
    return;
  }
  if (mode === 'plain') {
    // A log: the header once, then one row per device per refresh, with the time in front.
    const rows = frame.devices.map((r) => [(frame.timeMs / 1000).toFixed(1), ...TOP_COLUMNS.map((col) => col.cell(r))]);
    const lines = renderTable([{ header: 'T(s)', right: true }, ...TOP_COLUMNS], rows);
    for (const line of first ? lines : lines.slice(1)) streams.stdout.write(`${line}\n`);
    return;
  }
  // Home, each line then erase-to-end-of-line, then erase below: no flicker, no scrolling.
  const lines = [...frameLines(ctx, frame), '', ctx.output.color.dim('q or Ctrl-C quits')];
  streams.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\x1b[J`);
}
