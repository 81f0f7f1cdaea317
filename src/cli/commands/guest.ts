/**
 * `pcipt guest`: boots a guest in v86 (any bzImage and initramfs) with the
 * chosen functions passed through (attached by a supervisor on the global
 * `--backend`, default sim, turned into guest-facing functions by the guest
 * layer, plugged in by the v86 adapter) and streams the guest's serial
 * console to stdout. With `--until REGEX` it exits 0 when a console line
 * matches and 1 (PT_ERR_TIMEOUT) when `--timeout` passes first; without it,
 * the guest runs until `--timeout` or Ctrl-C. Progress goes to stderr.
 * `--json`: the console goes to stderr and stdout gets one
 * {@link GuestReport} at the end.
 */
import type { DeviceHandle } from '../../actors/supervisor/handle.js';
import { createSupervisor, type Supervisor } from '../../actors/supervisor/supervisor.js';
import { PassthroughError, toPassthroughError } from '../../errors.js';
import { toBdf } from '../../types.js';
import { loadGuestFunctionFactory, supervisedFunctionSpecs, type GuestFunctionFactory } from '../../adapters/supervised.js';
import type { V86AdapterCounters, V86FunctionSpec } from '../../adapters/v86.js';
import { createV86Machine, DEFAULT_CMDLINE, installedV86Version, type V86Machine } from '../../adapters/v86-machine.js';
import type { CommandContext } from '../context.js';
import { usageError } from '../exit-codes.js';

/** Options of `pcipt guest`. */
export interface GuestCommandOptions {
  kernel: string;
  initrd?: string;
  /** Appended to the default kernel command line. */
  append?: string;
  /** Guest RAM in MiB. */
  memory: number;
  /** Host functions to pass through. */
  device?: string[];
  /** Exit 0 on the first console line matching this. */
  until?: string;
  /** Seconds before giving up (default 600 with --until, none without). */
  timeout?: number;
}

/** Seams for tests: where functions come from. */
export interface GuestCommandDeps {
  /** The guest layer's factory (default: {@link loadGuestFunctionFactory}). */
  factory?: () => Promise<GuestFunctionFactory>;
  /** Functions to pass through besides `--device` ones (tests: in-process functions). */
  extraSpecs?: () => V86FunctionSpec[];
}

/** The `guest --json` document. */
export interface GuestReport {
  /** `matched`: --until matched; `timeout`: --timeout passed first (exit 1); `ended`: no --until, the time was up or Ctrl-C. */
  outcome: 'matched' | 'timeout' | 'ended';
  /** The console line that matched, or null. */
  match: string | null;
  /** Seconds from start to the match (or the end). */
  elapsedS: number;
  v86: string;
  memoryMiB: number;
  cmdline: string;
  devices: { hostBdf: string | null; guestBdf: string; bars: { bar: number; address: string }[] }[];
  counters: V86AdapterCounters | null;
  /** Every console line. */
  console: string[];
}

/** Runs `pcipt guest`. */
export async function guestCommand(ctx: CommandContext, opts: GuestCommandOptions, deps: GuestCommandDeps = {}): Promise<number> {
  let until: RegExp | undefined;
  if (opts.until !== undefined) {
    try {
      until = new RegExp(opts.until);
    } catch (e) {
      throw usageError(`--until is not a valid regular expression: ${(e as Error).message}`, { until: opts.until });
    }
  }
  const bdfs = (opts.device ?? []).map((d) => toBdf(d));
  const timeoutS = opts.timeout ?? (until === undefined ? undefined : 600);
  const cmdline = opts.append === undefined ? DEFAULT_CMDLINE : `${DEFAULT_CMDLINE} ${opts.append}`;
  const { output } = ctx;
  const log = (line: string): void => output.log(output.errColor.dim(`[pcipt guest] ${line}`));
  const t0 = performance.now();
  const elapsed = (): number => Math.round((performance.now() - t0) / 100) / 10;

  let sup: Supervisor | undefined;
  let machine: V86Machine | undefined;
  const stopSignals: (() => void)[] = [];
  try {
    const specs: V86FunctionSpec[] = [...(deps.extraSpecs?.() ?? [])];
    if (bdfs.length > 0) {
      const factory = await (deps.factory ?? loadGuestFunctionFactory)();
      sup = await createSupervisor({ backend: ctx.options.backend, ...(ctx.options.machine === undefined ? {} : { machine: ctx.options.machine }) });
      const handles: DeviceHandle[] = [];
      for (const bdf of bdfs) {
        handles.push(await sup.attach(bdf));
        log(`attached ${bdf} (${ctx.options.backend})`);
      }
      specs.push(...(await supervisedFunctionSpecs(handles, factory)));
    }
    log(`v86 ${installedV86Version() ?? '?'}, ${opts.memory} MiB, kernel ${opts.kernel}${opts.initrd === undefined ? '' : `, initrd ${opts.initrd}`}`);
    machine = await createV86Machine({ kernel: opts.kernel, initrd: opts.initrd, cmdline, memoryMiB: opts.memory, functions: specs });
    for (const f of machine.attachment?.functions ?? []) {
      const bars = [...f.placed].map(([bar, at]) => `BAR${bar === 6 ? ' ROM' : bar} 0x${at.toString(16)}`).join(', ');
      log(`${f.name} is guest ${f.guestBdf}${bars === '' ? '' : ` (${bars})`}`);
    }

    const write = (line: string): void => (output.json ? output.log(line) : output.out(line));
    let resolveEnd!: (v: { outcome: GuestReport['outcome']; match: string | null }) => void;
    const ended = new Promise<{ outcome: GuestReport['outcome']; match: string | null }>((r) => (resolveEnd = r));
    machine.onLine((line) => {
      write(line);
      if (until?.test(line) === true) resolveEnd({ outcome: 'matched', match: line });
    });
    const timer = timeoutS === undefined ? undefined : setTimeout(() => resolveEnd({ outcome: until === undefined ? 'ended' : 'timeout', match: null }), timeoutS * 1000);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const onSignal = (): void => resolveEnd({ outcome: until === undefined ? 'ended' : 'timeout', match: null });
      process.once(sig, onSignal);
      stopSignals.push(() => process.off(sig, onSignal));
    }
    log(`booting${until === undefined ? '' : `, until /${until.source}/`}${timeoutS === undefined ? '' : ` (timeout ${timeoutS} s)`}`);
    machine.start();
    const end = await ended;
    if (timer !== undefined) clearTimeout(timer);
    const elapsedS = elapsed();
    if (end.outcome === 'matched') log(`matched after ${elapsedS} s`);
    const report: GuestReport = {
      ...end,
      elapsedS,
      v86: installedV86Version() ?? 'unknown',
      memoryMiB: opts.memory,
      cmdline,
      devices: (machine.attachment?.functions ?? []).map((f) => ({
        hostBdf: f.hostBdf ?? null,
        guestBdf: f.guestBdf,
        bars: [...f.placed].map(([bar, at]) => ({ bar, address: `0x${at.toString(16)}` })),
      })),
      counters: machine.attachment?.counters() ?? null,
      console: [...machine.lines],
    };
    if (output.json) output.emitJson(report);
    if (end.outcome === 'timeout') {
      throw new PassthroughError('PT_ERR_TIMEOUT', `no console line matched /${until!.source}/ within ${timeoutS} s`, { until: until!.source, timeoutS });
    }
    return 0;
  } catch (e) {
    const error = toPassthroughError(e);
    // The --json document (if any) is already on stdout; an error document would make two.
    if (output.json && error.code === 'PT_ERR_TIMEOUT') {
      output.log(`pcipt: ${error.message} [${error.code}]`);
      return 1;
    }
    throw error;
  } finally {
    for (const off of stopSignals) off();
    await machine?.close();
    await sup?.close();
  }
}
