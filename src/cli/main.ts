/**
 * The `pcipt` command line. `bin/pcipt.js` calls {@link main} and sets
 * process.exitCode from its result; the command tree is src/cli/program.ts.
 *
 * Conventions (README.md, "Command line"): one JSON document on stdout under
 * `--json`, logs and progress on stderr, colour by `--color`, NO_COLOR,
 * FORCE_COLOR and the TTY, exit codes from src/cli/exit-codes.ts, and
 * PCIPT_BACKEND / PCIPT_MACHINE as defaults for `--backend` / `--machine`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { BACKEND_NAMES, isBackendName } from '../backends/index.js';
import type { Supervisor } from '../actors/supervisor/supervisor.js';
import type { BackendName } from '../vfio/backend.js';
import { PassthroughError, toPassthroughError } from '../errors.js';
import { createCommandContext, type CommandContext, type GlobalOptions } from './context.js';
import { ExitCode, exitCodeFor, usageError } from './exit-codes.js';
import { COLOR_MODES, createOutput, processStreams, type CliStreams, type ColorMode } from './io.js';
import { buildProgram } from './program.js';

export { BENCH_SUITES } from './program.js';

/** Options of {@link main}. */
export interface MainOptions {
  /** Streams and environment (default: the process's). */
  streams?: CliStreams;
  /** Called with every supervisor a command creates (`top` watches a workload's supervisors through it). */
  onSupervisor?: (supervisor: Supervisor) => void;
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

/** The options part of argv (before `--`). */
function head(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

/** True when `--json` appears among the options, for errors raised before parsing finished. */
function argvWantsJson(argv: readonly string[]): boolean {
  return head(argv).includes('--json');
}

/**
 * The colour mode from `--color[=WHEN]` / `--no-color` (the last one wins),
 * and argv with `--color=WHEN` rewritten to what commander knows. Throws a
 * usage error for a WHEN that is not always, never or auto.
 */
export function parseColorArgs(argv: readonly string[]): { mode: ColorMode | undefined; argv: string[] } {
  const end = argv.indexOf('--');
  const options = end < 0 ? [...argv] : argv.slice(0, end);
  let mode: ColorMode | undefined;
  const out: string[] = [];
  for (const arg of options) {
    if (arg === '--color') mode = 'always';
    else if (arg === '--no-color') mode = 'never';
    else if (arg.startsWith('--color=')) {
      const when = arg.slice('--color='.length);
      if (!(COLOR_MODES as readonly string[]).includes(when)) {
        throw usageError(`--color must be always, never or auto (got "${when}")`, { option: '--color', value: when });
      }
      mode = when as ColorMode;
      if (when !== 'auto') out.push(when === 'always' ? '--color' : '--no-color');
      continue;
    }
    out.push(arg);
  }
  return { mode, argv: end < 0 ? out : [...out, ...argv.slice(end)] };
}

/** `--backend`, else PCIPT_BACKEND, else sim; a bad PCIPT_BACKEND is a usage error. */
function backendFrom(option: string | undefined, env: Record<string, string | undefined>): BackendName {
  if (option !== undefined) return option as BackendName;
  const fromEnv = env.PCIPT_BACKEND;
  if (fromEnv === undefined || fromEnv === '') return 'sim';
  if (!isBackendName(fromEnv)) {
    throw usageError(`PCIPT_BACKEND must be one of ${BACKEND_NAMES.join(', ')} (got "${fromEnv}")`, { env: 'PCIPT_BACKEND', value: fromEnv });
  }
  return fromEnv;
}

/** `--machine`, else PCIPT_MACHINE (sim only: ignored, with no error, when the backend is not sim and the env set it). */
function machineFrom(option: string | undefined, env: Record<string, string | undefined>, backend: BackendName): string | undefined {
  if (option !== undefined) return option;
  const fromEnv = env.PCIPT_MACHINE;
  return fromEnv === undefined || fromEnv === '' || backend !== 'sim' ? undefined : fromEnv;
}

/**
 * Runs the CLI on `argv` (without `node` and the script path) and returns the
 * exit code. Never throws and never calls process.exit.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const streams = options.streams ?? processStreams();
  let exitCode: number = ExitCode.OK;
  let ctx: CommandContext | undefined;
  let color: ColorMode | undefined;

  const contextFor = (cmd: Command): CommandContext => {
    const g = cmd.optsWithGlobals() as { backend?: string; machine?: string; json?: boolean };
    const backend = backendFrom(g.backend, streams.env);
    const globals: GlobalOptions = {
      backend,
      backendSource: g.backend !== undefined ? 'option' : backend !== 'sim' || (streams.env.PCIPT_BACKEND ?? '') !== '' ? 'env' : 'default',
      machine: machineFrom(g.machine, streams.env, backend),
      json: g.json === true,
      color,
    };
    ctx = createCommandContext(
      globals,
      createOutput(streams, { json: globals.json, color }),
      options.onSupervisor === undefined ? {} : { onSupervisor: options.onSupervisor },
    );
    return ctx;
  };

  const program = buildProgram(
    packageVersion(),
    async (name, args, cmd) => {
      exitCode = await runCommand(argv, name, args, cmd, contextFor, program, streams, options);
    },
    { writeOut: (s) => void streams.stdout.write(s), writeErr: (s) => void streams.stderr.write(s) },
  );

  try {
    const parsed = parseColorArgs(argv);
    color = parsed.mode;
    await program.parseAsync(parsed.argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return commanderExit(e, streams, argv, color);
    const error = toPassthroughError(e);
    const output = ctx?.output ?? createOutput(streams, { json: argvWantsJson(argv), color: colorOrUndefined(argv) });
    output.error(error);
    return exitCodeFor(error);
  }
}

/** The colour mode for an error printed before parsing finished (a bad `--color=` value gives none). */
function colorOrUndefined(argv: readonly string[]): ColorMode | undefined {
  try {
    return parseColorArgs(argv).mode;
  } catch {
    return undefined;
  }
}

/** Dispatches one parsed command to its module. */
async function runCommand(
  argv: readonly string[],
  name: string,
  args: unknown[],
  cmd: Command,
  contextFor: (cmd: Command) => CommandContext,
  program: Command,
  streams: CliStreams,
  options: MainOptions,
): Promise<number> {
  const nested = (argv: string[], nestedStreams: CliStreams, onSupervisor?: (s: Supervisor) => void): Promise<number> =>
    main(argv, { streams: nestedStreams, ...(onSupervisor ?? options.onSupervisor ? { onSupervisor: onSupervisor ?? options.onSupervisor! } : {}) });
  switch (name) {
    case 'help':
      return helpCommand(program, args[0] as string | undefined);
    case 'completion': {
      const { completionScript } = await import('./completion.js');
      streams.stdout.write(completionScript(args[0] as 'bash' | 'zsh' | 'fish', program));
      return ExitCode.OK;
    }
    case 'list-devices':
      return (await import('./commands/list-devices.js')).listDevicesCommand(contextFor(cmd), args[0] as { all?: boolean });
    case 'driver-status':
      return (await import('./commands/driver-status.js')).driverStatusCommand(contextFor(cmd));
    case 'info':
      return (await import('./commands/info.js')).infoCommand(contextFor(cmd), args[0] as string);
    case 'dump-config':
      return (await import('./commands/dump-config.js')).dumpConfigCommand(contextFor(cmd), args[0] as string, args[1] as { size?: string });
    case 'bind':
    case 'unbind': {
      const { bindCommand } = await import('./commands/bind.js');
      return bindCommand(contextFor(cmd), name, args[0] as string, args[1] as { group?: boolean; dryRun?: boolean });
    }
    case 'bench': {
      const { benchCommand } = await import('./commands/bench.js');
      const command = `pcipt ${[...argv].join(' ')}`;
      return benchCommand(contextFor(cmd), args[0] as never, args[1] as never, { command, version: packageVersion() });
    }
    case 'trace': {
      const { traceCommand } = await import('./commands/trace.js');
      return traceCommand(contextFor(cmd), args[0] as string[], args[1] as never, (a, s) => nested(a, s));
    }
    case 'top': {
      const { topCommand } = await import('./commands/top.js');
      return topCommand(contextFor(cmd), args[0] as string[], args[1] as never, nested);
    }
    case 'guest':
      return (await import('./commands/guest.js')).guestCommand(contextFor(cmd), args[0] as never);
    case 'soak':
      return (await import('./commands/soak.js')).soakCommand(contextFor(cmd), args[0] as never);
    case 'demo':
      return (await import('./commands/demo.js')).demoCommand(contextFor(cmd), args[0] as { iterations: number });
    default:
      throw new PassthroughError('PT_ERR_INTERNAL', `no handler for command ${name}`, { command: name });
  }
}

/** `help [command]`: the program's or a command's help on stdout; an unknown command is a usage error. */
function helpCommand(program: Command, name: string | undefined): number {
  if (name === undefined) {
    program.outputHelp();
    return ExitCode.OK;
  }
  const sub = program.commands.find((c) => c.name() === name || c.aliases().includes(name));
  if (sub === undefined) {
    const known = program.commands.map((c) => c.name());
    const near = known.find((k) => k.startsWith(name.slice(0, 2)));
    throw usageError(`unknown command '${name}'${near === undefined ? '' : ` (did you mean ${near}?)`}; commands: ${known.join(', ')}`, {
      command: name,
    });
  }
  sub.outputHelp(); // with the command's examples and notes
  return ExitCode.OK;
}

/** Maps a commander exit to ours: help/version → 0, everything else → usage error (2). */
function commanderExit(e: CommanderError, streams: CliStreams, argv: readonly string[], color: ColorMode | undefined): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return ExitCode.OK;
  if (e.code === 'commander.help') {
    if (e.exitCode === 0) return ExitCode.OK;
    // No command given: commander printed the usage on stderr; --json still gets its error document.
    if (argvWantsJson(argv)) createOutput(streams, { json: true, color: 'never' }).error(usageError('a command is required'));
    return ExitCode.USAGE;
  }
  const message = e.message.replace(/^error: /, '');
  const error: PassthroughError = usageError(message, { commanderCode: e.code });
  createOutput(streams, { json: argvWantsJson(argv), color }).error(error);
  streams.stderr.write(`(run "pcipt help" for usage)\n`);
  return ExitCode.USAGE;
}
