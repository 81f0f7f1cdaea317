/**
 * The `pcipt` command line (commander@14): list-devices, driver-status,
 * info, dump-config, bench, trace, demo, guest. `bin/pcipt.js` calls {@link main}
 * and sets process.exitCode from its result.
 *
 * Conventions (README.md, "Command line"): one JSON document on stdout under `--json`,
 * logs and progress on stderr, colour only for a TTY and never under
 * NO_COLOR, exit codes 0 ok / 1 runtime error / 2 usage / 3 backend
 * unavailable. Heavy commands (bench, plot, demo) are imported lazily so
 * `list-devices` starts fast.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES } from '../backends/index.js';
import type { BackendName } from '../vfio/backend.js';
import type { BenchCommandOptions } from './commands/bench.js';
import type { GuestCommandOptions } from './commands/guest.js';
import { PassthroughError, toPassthroughError } from '../errors.js';
import { createCommandContext, type CommandContext, type GlobalOptions } from './context.js';
import { ExitCode, exitCodeFor, usageError } from './exit-codes.js';
import { createOutput, processStreams, type CliStreams } from './io.js';

/** The bench suites `pcipt bench` accepts. */
export const BENCH_SUITES = ['mmio', 'irq', 'config', 'attach', 'scale', 'all'] as const;

/** Options of {@link main}. */
export interface MainOptions {
  /** Streams and environment (default: the process's). */
  streams?: CliStreams;
}

/** The package version (package.json next to dist/). */
export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pcipt' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return '0.0.0';
}

/** A positive integer option value (commander reports a bad one as a usage error). */
function positiveInt(name: string): (text: string) => number {
  return (text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** True when `--json` appears among the options (before `--`), for errors raised before parsing finished. */
function argvWantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Runs the CLI on `argv` (without `node` and the script path) and returns the
 * exit code. Never throws and never calls process.exit.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const streams = options.streams ?? processStreams();
  let exitCode: number = ExitCode.OK;
  let ctx: CommandContext | undefined;

  const program = new Command('pcipt');
  const contextFor = (cmd: Command): CommandContext => {
    const g = cmd.optsWithGlobals() as { backend: BackendName; machine?: string; json?: boolean; color?: boolean };
    const globals: GlobalOptions = {
      backend: g.backend,
      machine: g.machine,
      json: g.json === true,
      color: colorFlag(argv),
    };
    ctx = createCommandContext(globals, createOutput(streams, { json: globals.json, colorFlag: globals.color }));
    return ctx;
  };

  program
    .description('PCI device passthrough for TypeScript: inspect, benchmark and trace devices (backends: sim, linux, iokit)')
    .version(packageVersion(), '--version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addOption(new Option('--backend <name>', 'how devices are reached').choices(BACKEND_NAMES).default('sim'))
    .option('--machine <file>', 'sim machine description (JSON; sim backend only)')
    .option('--json', 'print one JSON document on stdout (logs and progress go to stderr)')
    .option('--color', 'force colour on')
    .option('--no-color', 'turn colour off (NO_COLOR does the same)')
    .configureOutput({
      writeOut: (s) => void streams.stdout.write(s),
      writeErr: (s) => void streams.stderr.write(s),
      outputError: () => {}, // printed by the catch below, in pcipt's own format
    })
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();

  program
    .command('list-devices')
    .alias('ls')
    .description('list every PCI function the backend sees; [*] = attachable')
    .option('--all', 'also show bridges (hidden like the original CLI)')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const { listDevicesCommand } = await import('./commands/list-devices.js');
      exitCode = await listDevicesCommand(contextFor(cmd), opts);
    });

  program
    .command('driver-status')
    .description('is the backend ready? (sim: always; linux: vfio modules, /dev/vfio; iokit: the dext, macOS only)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { driverStatusCommand } = await import('./commands/driver-status.js');
      exitCode = await driverStatusCommand(contextFor(cmd));
    });

  program
    .command('info')
    .description('one function in QMP query-pci shape, with interrupt modes and capabilities')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .action(async (bdf: string, _opts: unknown, cmd: Command) => {
      const { infoCommand } = await import('./commands/info.js');
      exitCode = await infoCommand(contextFor(cmd), bdf);
    });

  program
    .command('dump-config')
    .description('config space in the dump format `lspci -F FILE` reads back')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .option('--size <bytes>', '64, 256 or 4096 (default: all the backend exposes)')
    .action(async (bdf: string, opts: { size?: string }, cmd: Command) => {
      const { dumpConfigCommand } = await import('./commands/dump-config.js');
      exitCode = await dumpConfigCommand(contextFor(cmd), bdf, opts);
    });

  program
    .command('bench')
    .description('latency benchmarks with baselines and targets; table, --json report, --plot SVG/PNG')
    .addArgument(new Argument('<suite>', 'suite to run').choices(BENCH_SUITES))
    .option('--duration-ms <ms>', 'time budget per suite (default: 4000 under all, else the suite\'s own)', positiveInt('--duration-ms'))
    .option('--devices <n>', 'devices for the scale suite', positiveInt('--devices'), 128)
    .option('--plot <file>', 'write a latency histogram and percentile plot (.svg or .png)')
    .option('--plot-width <px>', 'plot width in pixels', positiveInt('--plot-width'), 900)
    .option('--plot-height <px>', 'plot height in pixels', positiveInt('--plot-height'), 700)
    .option('--strict', 'exit 1 when a target ratio is missed')
    .action(async (suite: (typeof BENCH_SUITES)[number], opts: BenchCommandOptions, cmd: Command) => {
      const { benchCommand } = await import('./commands/bench.js');
      exitCode = await benchCommand(contextFor(cmd), suite, opts);
    });

  program
    .command('trace')
    .description('stream trace events as JSON lines while a workload runs (default: the demo)')
    .argument('[workload...]', 'a pcipt command to run as the workload, after `--` (e.g. -- bench irq)')
    .option('--filter <glob>', 'channel glob, repeatable (pcipt:irq:*; a leading - excludes)', collect)
    .option('--duration-ms <ms>', 'stop tracing after this long', positiveInt('--duration-ms'))
    .option('--list', 'list the declared trace points and exit')
    .addOption(new Option('--format <format>', 'json lines or text lines').choices(['json', 'text']).default('json'))
    .action(async (workload: string[], opts: { filter?: string[]; durationMs?: number; list?: boolean; format: 'json' | 'text' }, cmd: Command) => {
      const { traceCommand } = await import('./commands/trace.js');
      exitCode = await traceCommand(contextFor(cmd), workload, opts, (args, nestedStreams) =>
        main(args, { streams: nestedStreams }),
      );
    });

  program
    .command('guest')
    .description('boot a guest in v86 with functions passed through; stream its serial console (exit 0 when --until matches)')
    .requiredOption('--kernel <file>', 'bzImage to boot')
    .option('--initrd <file>', 'initramfs')
    .option('--append <args>', 'appended to the kernel command line (console=ttyS0 …)')
    .option('--memory <MiB>', 'guest RAM in MiB', positiveInt('--memory'), 128)
    .option('--device <bdf>', 'host function to pass through (repeatable)', collect)
    .option('--until <regex>', 'exit 0 when a console line matches (1 on timeout)')
    .option('--timeout <s>', 'seconds before giving up (default 600 with --until)', positiveInt('--timeout'))
    .action(async (opts: GuestCommandOptions, cmd: Command) => {
      const { guestCommand } = await import('./commands/guest.js');
      exitCode = await guestCommand(contextFor(cmd), opts);
    });

  program
    .command('demo')
    .description('attach the default sim machine, run a short MMIO/IRQ/DMA workload, print devices and latencies')
    .option('--iterations <n>', 'workload iterations', positiveInt('--iterations'), 2000)
    .action(async (opts: { iterations: number }, cmd: Command) => {
      const { demoCommand } = await import('./commands/demo.js');
      exitCode = await demoCommand(contextFor(cmd), opts);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExit(e, streams, argv);
    const error = toPassthroughError(e);
    const output = ctx?.output ?? createOutput(streams, { json: argvWantsJson(argv), colorFlag: colorFlag(argv) });
    output.error(error);
    return exitCodeFor(error);
  }
}

function colorFlag(argv: readonly string[]): boolean | undefined {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  if (head.includes('--no-color')) return false;
  if (head.includes('--color')) return true;
  return undefined;
}

/** Maps a commander exit to ours: help/version → 0, everything else → usage error (2). */
function commanderExit(e: CommanderError, streams: CliStreams, argv: readonly string[]): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return ExitCode.OK;
  if (e.code === 'commander.help') {
    if (e.exitCode === 0) return ExitCode.OK;
    // No command given: commander printed the usage on stderr; --json still gets its error document.
    if (argvWantsJson(argv)) createOutput(streams, { json: true, colorFlag: false }).error(usageError('a command is required'));
    return ExitCode.USAGE;
  }
  const message = e.message.replace(/^error: /, '');
  const error: PassthroughError = usageError(message, { commanderCode: e.code });
  createOutput(streams, { json: argvWantsJson(argv), colorFlag: colorFlag(argv) }).error(error);
  streams.stderr.write(`(run "pcipt help" for usage)\n`);
  return ExitCode.USAGE;
}
