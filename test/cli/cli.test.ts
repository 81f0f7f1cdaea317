// Exit codes, usage errors, the JSON error document and colour handling of the built CLI.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { exitCodeHelpText } from '../../src/cli/exit-codes.js';
import { ERROR_SCHEMA } from '../../src/cli/schemas.js';
import { parseJson, ROOT, runCli, validate } from './helpers.js';

const ESC = '\x1b[';

describe('pcipt basics', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  it('help lists every command on stdout and exits 0', async () => {
    const run = await runCli(['help']);
    expect(run.code).toBe(0);
    for (const cmd of ['list-devices|ls', 'driver-status', 'info', 'dump-config', 'bench', 'trace', 'demo']) {
      expect(run.stdout).toContain(cmd);
    }
  });

  it('--help stands in for a man page: commands, environment, the exit-code table, examples', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(exitCodeHelpText());
    for (const text of ['Environment:', 'PCIPT_BACKEND', 'PCIPT_MACHINE', 'NO_COLOR', 'FORCE_COLOR', 'PCI_IDS', 'Examples:', 'bind [options] <bdf>', 'top [options] [workload...]', 'completion <shell>']) {
      expect(run.stdout).toContain(text);
    }
  });

  it('help <command> prints that command\'s help with its examples; an alias works; an unknown command is refused (2)', async () => {
    const top = await runCli(['help', 'top']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: pcipt top \[options\] \[workload\.\.\.\]/);
    expect(top.stdout).toContain('pcipt top -- demo --iterations 200000');
    expect((await runCli(['help', 'ls'])).stdout).toMatch(/^Usage: pcipt list-devices\|ls/);
    const unknown = await runCli(['help', 'nosuch', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^pcipt: unknown command 'nosuch'; commands: list-devices, .*\[PT_ERR_INVALID_ARGUMENT\]$/m);
    expect((parseJson(unknown) as { error: { code: string } }).error.code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect((await runCli(['help', 'benc'])).stderr).toContain("(did you mean bench?)");
  });

  it('PCIPT_BACKEND is the default backend and is validated; --backend wins over it', async () => {
    const iokit = await runCli(['driver-status', '--json'], { PCIPT_BACKEND: 'iokit' });
    expect(parseJson(iokit)).toMatchObject({ backend: 'iokit' });
    expect((parseJson(await runCli(['--backend', 'sim', 'driver-status', '--json'], { PCIPT_BACKEND: 'iokit' })) as { backend: string }).backend).toBe('sim');
    const bad = await runCli(['ls', '--json'], { PCIPT_BACKEND: 'vmware' });
    expect(bad.code).toBe(2);
    expect((parseJson(bad) as { error: { message: string } }).error.message).toBe('PCIPT_BACKEND must be one of sim, linux, iokit (got "vmware")');
  });

  it('no command: usage on stderr, exit 2', async () => {
    const run = await runCli([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Usage: pcipt');
  });

  it('unknown command → exit 2 with a pcipt: message', async () => {
    const run = await runCli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^pcipt: unknown command 'frobnicate'.*\[PT_ERR_INVALID_ARGUMENT\]/m);
    const json = await runCli(['frobnicate', '--json']);
    expect(json.code).toBe(2);
    const doc = parseJson(json);
    expect(validate(ERROR_SCHEMA, doc)).toEqual([]);
    expect(doc).toMatchObject({ error: { code: 'PT_ERR_INVALID_ARGUMENT', context: { commanderCode: 'commander.unknownCommand' } } });
  });

  it('unknown option and bad option values → exit 2', async () => {
    expect((await runCli(['ls', '--bogus'])).code).toBe(2);
    expect((await runCli(['--backend', 'vmware', 'ls'])).code).toBe(2);
    expect((await runCli(['dump-config', '00:10.0', '--size', '100'])).code).toBe(2);
    expect((await runCli(['bench', 'nosuchsuite'])).code).toBe(2);
    expect((await runCli(['bench', 'mmio', '--duration-ms', '-5'])).code).toBe(2);
    expect((await runCli(['bench', 'mmio', '--plot', 'out.gif'])).code).toBe(2);
  });

  it('invalid BDF → exit 2; under --json the error document is on stdout', async () => {
    const human = await runCli(['info', '00:zz.0']);
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/^pcipt: invalid PCI address "00:zz\.0".* \[PT_ERR_INVALID_BDF\]$/m);

    const json = await runCli(['info', '00:zz.0', '--json']);
    expect(json.code).toBe(2);
    const doc = parseJson(json) as { error: { code: string; context: Record<string, unknown> } };
    expect(validate(ERROR_SCHEMA, doc)).toEqual([]);
    expect(doc.error.code).toBe('PT_ERR_INVALID_BDF');
    expect(doc.error.context.input).toBe('00:zz.0');
  });

  it('an unknown function → exit 3 (not found) with its code', async () => {
    const run = await runCli(['info', '00:1f.7', '--json']);
    expect(run.code).toBe(3);
    expect((parseJson(run) as { error: { code: string } }).error.code).toBe('PT_ERR_NOT_FOUND');
  });

  it.skipIf(process.platform === 'darwin')('iokit off macOS → exit 4 from every command (driver-status explains, the others fail alike)', async () => {
    const status = await runCli(['--backend', 'iokit', 'driver-status']);
    expect(status.code).toBe(4);
    expect(status.stdout).toContain('macOS-only');
    const statusJson = await runCli(['--backend', 'iokit', 'driver-status', '--json']);
    expect(statusJson.code).toBe(4);
    expect(parseJson(statusJson)).toMatchObject({ backend: 'iokit', ready: false, state: 'unsupported-platform' });
    for (const args of [['ls'], ['demo'], ['info', '00:10.0'], ['dump-config', '00:10.0'], ['top', '--count', '1']]) {
      const run = await runCli(['--backend', 'iokit', ...args, '--json']);
      expect(run.code, args.join(' ')).toBe(4);
      expect((parseJson(run) as { error: { code: string } }).error.code).toBe('PT_ERR_PLATFORM');
    }
  });

  it('--machine with a non-sim backend is a usage error', async () => {
    expect((await runCli(['--backend', 'linux', '--machine', 'x.json', 'ls'])).code).toBe(2);
  });
});

describe('colour', () => {
  it('FORCE_COLOR colours the device list (so the NO_COLOR checks below can fail)', async () => {
    const run = await runCli(['ls'], { FORCE_COLOR: '1' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(ESC);
  });

  it('--color=always wins over NO_COLOR (a per-invocation flag beats the environment)', async () => {
    expect((await runCli(['--color=always', 'ls'], { NO_COLOR: '1' })).stdout).toContain(ESC);
    expect((await runCli(['ls', '--color'], { NO_COLOR: '1' })).stdout).toContain(ESC);
    expect((await runCli(['--color=never', 'ls'], { FORCE_COLOR: '1' })).stdout).not.toContain(ESC);
    expect((await runCli(['--color=auto', 'ls'], { NO_COLOR: '1', FORCE_COLOR: '1' })).stdout).not.toContain(ESC);
  });

  it('--color=WHEN is validated: anything but always, never or auto is a usage error', async () => {
    const run = await runCli(['--color=yes', 'ls', '--json']);
    expect(run.code).toBe(2);
    expect(run.stdout).not.toContain(ESC);
    expect((parseJson(run) as { error: { message: string } }).error.message).toContain('--color must be always, never or auto');
  });

  it('NO_COLOR wins over FORCE_COLOR: no escape codes anywhere', async () => {
    for (const args of [['ls'], ['info', '00:10.0'], ['driver-status'], ['info', 'bad']]) {
      const run = await runCli(args, { NO_COLOR: '1', FORCE_COLOR: '1' });
      expect(run.stdout + run.stderr).not.toContain(ESC);
    }
  });

  it('an empty NO_COLOR counts as unset (no-color.org)', async () => {
    const run = await runCli(['ls'], { NO_COLOR: '', FORCE_COLOR: '1' });
    expect(run.stdout).toContain(ESC);
  });

  it('--no-color turns colour off; a pipe gets none by default', async () => {
    expect((await runCli(['--no-color', 'ls'], { FORCE_COLOR: '1' })).stdout).not.toContain(ESC);
    expect((await runCli(['ls'])).stdout).not.toContain(ESC);
  });
});
