/**
 * The `pcipt` command tree (commander@14): every command, option and help
 * text, in one place, so `--help`, the shell completions
 * (src/cli/completion.ts) and the README all describe the same thing.
 * Actions only parse and hand over; each command's work lives in
 * src/cli/commands/, imported lazily so `pcipt ls` starts fast.
 */
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES } from '../backends/index.js';
import { exitCodeHelpText } from './exit-codes.js';

/** The bench suites `pcipt bench` accepts. */
export const BENCH_SUITES = ['mmio', 'irq', 'config', 'attach', 'scale', 'liveness', 'all'] as const;

/** Shells `pcipt completion` writes a script for. */
export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;

/** What an action does once commander has parsed its command line. */
export type ActionRunner = (command: string, args: unknown[], cmd: Command) => Promise<void>;

/** A positive integer option value (commander reports a bad one as a usage error). */
export function positiveInt(name: string): (text: string) => number {
  return (text: string) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive integer`);
    }
    return n;
  };
}

/** A non-negative integer below 2^32 (a seed, an index). */
function uint32(name: string): (text: string) => number {
  return (text: string) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n >= 2 ** 32) {
      throw new InvalidArgumentError(`${name} must be an integer from 0 to 4294967295`);
    }
    return n;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The environment and files every command honours (the `--help` footer). */
export const ENVIRONMENT_HELP = `Environment:
  PCIPT_BACKEND    default for --backend (sim, linux, iokit)
  PCIPT_MACHINE    default for --machine (a sim machine JSON file)
  NO_COLOR         non-empty: no colour (--color=always still wins)
  FORCE_COLOR      non-empty: colour even on a pipe (0 or false: none)
  PCI_IDS          the pci.ids file for vendor and device names
                   (default: /usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids, .gz too)
  CI               non-empty: no progress bars`;

const PROGRAM_EXAMPLES = `Examples:
  pcipt ls                              functions the backend sees ([*] = attachable)
  pcipt info 00:10.0 --json             one function, QMP query-pci shape
  pcipt dump-config 00:10.0 > d.txt && lspci -F d.txt -vv
  pcipt bench irq --html irq.html       benchmark with a report to attach to an issue
  pcipt top -- demo                     live counters while the demo runs
  sudo pcipt --backend linux bind 0000:01:00.0
  pcipt completion bash > /etc/bash_completion.d/pcipt`;

/**
 * Builds the command tree. `run` is called with the command's name and its
 * parsed arguments (commander's action arguments, the Command last).
 */
export function buildProgram(version: string, run: ActionRunner, output?: { writeOut(s: string): void; writeErr(s: string): void }): Command {
  const program = new Command('pcipt');
  // Before the subcommands are created: they copy the program's settings, output included.
  if (output !== undefined) {
    program.configureOutput({
      writeOut: output.writeOut,
      writeErr: output.writeErr,
      outputError: () => {}, // main.ts prints errors in pcipt's own format
    });
  }
  const action =
    (name: string) =>
    (...args: unknown[]) =>
      run(name, args.slice(0, -1), args.at(-1) as Command);

  program
    .description(
      'PCI device passthrough for TypeScript: inspect, bind, benchmark, trace and watch PCI functions\n' +
        '(backends: sim, a simulated dext (default); linux, kernel VFIO; iokit, the macOS dext).',
    )
    .version(version, '--version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for pcipt or a command')
    .helpCommand(false)
    .addOption(new Option('--backend <name>', 'how devices are reached (env PCIPT_BACKEND)').choices(BACKEND_NAMES))
    .option('--machine <file>', 'sim machine description, JSON (sim only; env PCIPT_MACHINE)')
    .option('--json', 'machine output: one JSON document on stdout (top, trace: JSON lines)')
    .option('--color', 'colour: --color or --color=always, --color=never, --color=auto (default auto)')
    .option('--no-color', 'no colour (as NO_COLOR)')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', `\n${ENVIRONMENT_HELP}\n\n${exitCodeHelpText()}\n\n${PROGRAM_EXAMPLES}\n\nRun "pcipt help <command>" for a command's options and examples.`)
    .exitOverride();

  program
    .command('list-devices')
    .alias('ls')
    .description('list every PCI function the backend sees, bound or not; [*] = pcipt can attach it')
    .option('--all', 'also show bridges (hidden, as in the original CLI)')
    .addHelpText('after', `
Output: two lines per function,
  [*] 00:10.0 1234:11e8 QEMU edu device
      Unclassified device · sim · model edu
names from pci.ids (PCI_IDS), as lspci prints them. --json: an array with every function.
Examples:
  pcipt ls
  pcipt --backend linux ls --all`)
    .action(action('list-devices'));

  program
    .command('driver-status')
    .description('is the backend ready? (sim: always; linux: vfio modules, /dev/vfio; iokit: the dext, macOS only)')
    .addHelpText('after', '\nExit status: 0 when ready, 4 when not (the report is printed either way).\nExample: pcipt --backend linux driver-status --json')
    .action(action('driver-status'));

  program
    .command('info')
    .description('one function without claiming it: ids, class, BARs, interrupt modes, capabilities')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .addHelpText('after', `
--json prints QMP query-pci's PciDeviceInfo (bus, slot, function, class_info, id, irq, irq_pin,
qdev_id, regions with bar/type/address/size/prefetch/mem_type_64) plus pcipt's fields
(bdf, domain, revision, prog_if, interrupts, capabilities).
Example: pcipt info 0000:02:00.0 --json`)
    .action(action('info'));

  program
    .command('dump-config')
    .description('config space in the dump format `lspci -F FILE` and `setpci -A dump` read back')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .addOption(new Option('--size <bytes>', 'bytes to dump (default: all the backend exposes)').choices(['64', '256', '4096']))
    .addHelpText('after', `
Without --size: 4096 bytes when the function has non-zero extended space, else 256.
--size N dumps exactly N bytes, or fails when the backend exposes fewer.
Example: pcipt dump-config 00:10.0 > d.txt && lspci -F d.txt -vv`)
    .action(action('dump-config'));

  program
    .command('bind')
    .description('linux: hand a function to vfio-pci (driver_override + drivers_probe, as driverctl and dpdk-devbind do)')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .option('--group', 'bind every function of its IOMMU group that is not bound to vfio-pci yet')
    .option('--dry-run', 'print the sysfs writes instead of making them')
    .addHelpText('after', `
Checks that vfio-pci is loaded and that the function has an IOMMU group, then writes
  vfio-pci > /sys/bus/pci/devices/BDF/driver_override
  BDF      > /sys/bus/pci/devices/BDF/driver/unbind   (when a driver holds it)
  BDF      > /sys/bus/pci/drivers_probe
and reports the functions of the IOMMU group that must be bound too (or use --group).
Needs root (CAP_SYS_ADMIN). Example: sudo pcipt --backend linux bind 0000:01:00.0`)
    .action(action('bind'));

  program
    .command('unbind')
    .description('linux: give a function back from vfio-pci to its own driver (clears driver_override, reprobes)')
    .argument('<bdf>', 'PCI address, BB:DD.F or DDDD:BB:DD.F')
    .option('--dry-run', 'print the sysfs writes instead of making them')
    .action(action('unbind'));

  program
    .command('bench')
    .description('latency benchmarks beside same-run baselines: table, --json report, plots, CSV, HTML')
    .addArgument(new Argument('<suite>', 'suite to run').choices(BENCH_SUITES))
    .option('--duration-ms <ms>', "time budget per suite (default: 4000 under all, else the suite's own)", positiveInt('--duration-ms'))
    .option('--devices <n>', 'devices for the scale suite', positiveInt('--devices'), 128)
    .option('--plot <file>', 'write plots: a panel per path with p50/p99, baseline and target lines (.svg or .png)')
    .option('--plot-width <px>', 'plot width in pixels', positiveInt('--plot-width'), 1200)
    .option('--plot-height <px>', 'plot height in pixels (default: grows with the panels)', positiveInt('--plot-height'))
    .option('--csv <file>', 'write one row per result (name, samples, p50, p99, …) and per ratio, as CSV')
    .option('--samples <file>', 'write every raw sample (suite, name, batch, index, latency_ns), as CSV')
    .option('--html <file>', 'write one self-contained report: plots, tables and the machine (CPU, Node, load)')
    .option('--strict', 'exit 7 when a target ratio is missed')
    .addHelpText('after', `
Output paths are checked before anything runs. Plots need the optional renderers:
  npm install vega@^6.4 vega-lite@~6.4            (.svg and --html)
  npm install @resvg/resvg-js@^2.6                (.png)
Progress goes to stderr, with an ETA; it is off under CI and under --json on a pipe.
Examples:
  pcipt bench mmio
  pcipt bench all --json > report.json
  pcipt bench irq --plot irq.png --samples irq.csv --html irq.html`)
    .action(action('bench'));

  program
    .command('trace')
    .description('stream trace events as JSON lines while a workload runs (default: the demo)')
    .argument('[workload...]', 'a pcipt command to run as the workload, after `--` (e.g. -- bench irq)')
    .option('--filter <glob>', 'channel glob, repeatable (pcipt:irq:*; a leading - excludes)', collect)
    .option('--duration-ms <ms>', 'stop tracing after this long', positiveInt('--duration-ms'))
    .option('--list', 'list the declared trace points and exit')
    .addOption(new Option('--format <format>', 'json lines or text lines').choices(['json', 'text']).default('json'))
    .addHelpText('after', "\nExample: pcipt trace --filter 'pcipt:irq:*' -- bench irq --duration-ms 2000")
    .action(action('trace'));

  program
    .command('top')
    .description('live counters per device (IRQs/s, coalesced, masked, trapped MMIO/s, config, restarts, state)')
    .argument('[workload...]', 'a pcipt command to run and watch, after `--` (e.g. -- demo)')
    .option('--device <bdf>', 'attach and watch this function (repeatable; default: every attachable one when no workload)', collect)
    .option('--interval-ms <ms>', 'refresh interval', positiveInt('--interval-ms'), 1000)
    .option('--count <n>', 'stop after this many refreshes', positiveInt('--count'))
    .option('--call-timeout-ms <ms>', "deadline of each control call of top's own supervisor (default 5000)", positiveInt('--call-timeout-ms'))
    .addHelpText('after', `
On a terminal the table is redrawn in place; q or Ctrl-C quits. On a pipe, one row per device
per refresh; with --json, one JSON line per refresh. With a workload, top watches the supervisors
it creates and ends with it (exit status: the workload's).
Examples:
  pcipt top -- demo --iterations 200000
  pcipt top --json --count 5 --device 00:10.0`)
    .action(action('top'));

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
    .addHelpText('after', `
The guest's serial console streams to stdout (under --json: to stderr, and one report on stdout).
Any bzImage and initramfs work; test/guest/harness/prepare.sh builds Debian's i386 kernel and a
busybox initramfs. v86 (an optional peer dependency, pinned 0.5.462) must be installed.
Examples:
  pcipt guest --kernel vmlinuz --initrd initrd.cpio.gz --device 00:10.0 --until 'login|# $' --timeout 120`)
    .action(action('guest'));

  program
    .command('demo')
    .description('attach the default sim machine, run a short MMIO/IRQ/DMA workload, print devices and latencies')
    .option('--iterations <n>', 'workload iterations', positiveInt('--iterations'), 2000)
    .addHelpText('after', `
Prints the devices, then p50/p99/mean of fast-path and trapped MMIO, IRQ delivery and an edu DMA round
trip, measured on the main thread and in a worker standing in for a vCPU thread, then every device's
counters. Exit status 1 when a device failed to attach. npm start in a clone runs it.
Examples:
  pcipt demo
  pcipt demo --iterations 20000 --json`)
    .action(action('demo'));

  program
    .command('soak')
    .description('fault campaign on the sim backend: random attach/detach/reset/kill/fault/IRQ-storm/vCPU interleavings, invariants checked')
    .option('--seed <n>', 'campaign seed (default: random, printed)', uint32('--seed'))
    .option('--scenarios <n>', 'scenarios to run', positiveInt('--scenarios'), 100)
    .option('--only <index>', 'run one scenario of the seed (the replay a failure prints)', uint32('--only'))
    .option('--call-timeout-ms <ms>', 'control-call deadline of the campaign supervisor (default 5000)', positiveInt('--call-timeout-ms'))
    .option('--silence-ms <ms>', 'how long nothing may progress before a call counts as unsettled (default 10000)', positiveInt('--silence-ms'))
    .option('--verbose', 'print every round before it runs')
    .addHelpText('after', `
After every round: no leaked connection, worker, BAR lease or mapping; no lost unmasked
interrupt; no unsettled call; every error a PassthroughError with a code. A violation is
printed with the line that replays its scenario; exit status 1 when there was one.
Examples:
  pcipt soak --seed 1 --scenarios 200
  npm run soak -- --seed 1 --only 17 --verbose`)
    .action(action('soak'));

  program
    .command('completion')
    .description('print a shell completion script')
    .addArgument(new Argument('<shell>', 'shell').choices(COMPLETION_SHELLS))
    .addHelpText('after', `
  bash: pcipt completion bash > ~/.local/share/bash-completion/completions/pcipt
  zsh:  pcipt completion zsh > "\${fpath[1]}/_pcipt"
  fish: pcipt completion fish > ~/.config/fish/completions/pcipt.fish
The same scripts ship in the package's completions/ folder.`)
    .action(action('completion'));

  program
    .command('help')
    .description('show help for pcipt or a command')
    .argument('[command]', 'command name')
    .addHelpText('after', '\nAn unknown command is a usage error (exit 2).')
    .action(action('help'));

  return program;
}
