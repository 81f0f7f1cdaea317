/**
 * README.md's code blocks, run (test/shared/readme-blocks.ts lists the kinds):
 * TypeScript programs are compiled with tsc (strict, NodeNext; `import … from
 * 'pcipt'` resolves to this package through its exports map) and must exit by
 * themselves; `pcipt …` lines run in a scratch directory; outputs shown in the
 * README are compared with what the commands print; the sample machine file
 * loads.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TRACE_LINE_SCHEMA } from '../../src/cli/schemas.js';
import { NVME_SAMPLE_DUMP } from '../../src/sim/index.js';
import { scaled } from '../shared/deadline.js';
import { readmeBlocks, type ReadmeBlock } from '../shared/readme-blocks.js';
import { parseJson, ROOT, runCli, validate } from './helpers.js';

const blocks = readmeBlocks(readFileSync(`${ROOT}/README.md`, 'utf8'));
const scratch = mkdtempSync(join(tmpdir(), 'pcipt-readme-'));
// Inside the package, so that 'pcipt' resolves to it (self-reference through the exports map).
const programs = join(ROOT, 'tmp', `readme-${process.pid}`);
mkdirSync(programs, { recursive: true });
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(programs, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')} did not exit by itself (${error.signal ?? error.message})\n${stderr}`));
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

/**
 * A budget for tsc plus a run: tsc alone takes 5 s on an idle 2-core machine and over 30 s on a
 * saturated one, so this is a ceiling for a hang, not a speed check.
 */
const kCompileAndRunMs = 600_000;

/** Compiles a README TypeScript block with tsc (strict, NodeNext, no skipLibCheck) and runs it. */
async function runProgram(block: ReadmeBlock): Promise<Run> {
  const id = block.args[0]!;
  const file = join(programs, `${id}.ts`);
  writeFileSync(file, block.code);
  const tsc = await exec(process.execPath, [
    `${ROOT}/node_modules/typescript/bin/tsc`,
    '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node',
    '--rootDir', programs, '--outDir', join(programs, 'out'), file,
  ]);
  expect(tsc.code, `tsc on the README's ${id} (line ${block.line}):\n${tsc.stdout}${tsc.stderr}`).toBe(0);
  return exec(process.execPath, [join(programs, 'out', `${id}.js`)], { timeoutMs: 60_000 });
}

const program = (id: string): ReadmeBlock => {
  const b = blocks.find((x) => x.kind === 'run' && x.args[0] === id);
  if (b === undefined) throw new Error(`README has no <!-- readme-test: run ${id} --> block`);
  return b;
};

describe('README code blocks, run', () => {
  it('every `run` block has assertions here', () => {
    expect(blocks.filter((b) => b.kind === 'run').map((b) => b.args[0])).toEqual(['first-program', 'trace-example']);
  });

  it('the first program compiles, prints what the README shows, and exits by itself', { timeout: scaled(180_000) }, async () => {
    const run = await runProgram(program('first-program'));
    expect(run.code, run.stderr).toBe(0);
    const shown = blocks.find((b) => b.kind === 'output-of' && b.args[0] === 'first-program');
    expect(run.stdout).toBe(shown?.code);
  }, kCompileAndRunMs);

  it('the trace example prints events (JSON lines, the raised vector among them) and their counts', { timeout: scaled(180_000) }, async () => {
    const run = await runProgram(program('trace-example'));
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { channel: string; payload: Record<string, unknown> });
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(validate(TRACE_LINE_SCHEMA, l)).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ channel: 'pcipt:irq:raise', payload: { bdf: '0000:02:00.0', vector: 7 } }));
    expect(lines).toContainEqual(expect.objectContaining({ channel: 'pcipt:region:write' }));
    expect(run.stderr).toContain('vectors [ 7 ]');
    expect(run.stderr).toMatch(/'pcipt:irq:raise': 1/);
  }, kCompileAndRunMs);

  it('`cli` blocks: every pcipt line exits 0 in a scratch directory', { timeout: scaled(180_000) }, async () => {
    // `pcipt` on PATH is this checkout's bin/pcipt.js.
    const bin = join(scratch, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'pcipt'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(`${ROOT}/bin/pcipt.js`)} "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, CI: '1', NO_COLOR: '1', FORCE_COLOR: '' };
    const lines = blocks.filter((b) => b.kind === 'cli').flatMap((b) => b.code.split('\n').map((l) => ({ b, l: l.replace(/\s+#\s.*$/, '').trim() })));
    const commands = lines.filter(({ l }) => l.startsWith('pcipt '));
    expect(commands.length).toBeGreaterThanOrEqual(10);
    for (const { b, l } of commands) {
      const run = await exec('sh', ['-c', l], { cwd: scratch, env, timeoutMs: 120_000 });
      expect(run.code, `README line ${b.line}: ${l}\n${run.stderr.slice(-2000)}`).toBe(0);
    }
    // What the lines wrote is there.
    expect(readFileSync(join(scratch, 'd.txt'), 'utf8')).toMatch(/^0000:00:10\.0 \n00: 34 12 e8 11/);
    expect(readFileSync(join(scratch, 'irq.csv'), 'utf8')).toMatch(/^kind,suite,name,/);
    expect(readFileSync(join(scratch, 'pcipt.bash'), 'utf8')).toContain('complete -F _pcipt pcipt');
  });

  it('`output-of pcipt …` blocks: the command prints those lines, in order', { timeout: scaled(180_000) }, async () => {
    for (const b of blocks.filter((x) => x.kind === 'output-of' && x.args[0] === 'pcipt')) {
      const run = await runCli(b.args.slice(1));
      expect(run.code).toBe(0);
      const out = run.stdout.split('\n');
      const want = b.code.trimEnd().split('\n');
      const at = out.indexOf(want[0]!);
      expect(at, `README line ${b.line}: "${want[0]}" not in the output of pcipt ${b.args.slice(1).join(' ')}`).toBeGreaterThanOrEqual(0);
      expect(out.slice(at, at + want.length)).toEqual(want);
    }
  });

  it('`json-of pcipt …` blocks: the command prints that document', async () => {
    const jsonBlocks = blocks.filter((x) => x.kind === 'json-of');
    expect(jsonBlocks.length).toBeGreaterThan(0);
    for (const b of jsonBlocks) {
      const run = await runCli(b.args.slice(1));
      expect(run.code).toBe(0);
      expect(parseJson(run), `README line ${b.line}`).toEqual(JSON.parse(b.code));
    }
  });

  it('the `machine` block is a machine pcipt loads (with a dump file beside it)', async () => {
    const b = blocks.find((x) => x.kind === 'machine')!;
    const dir = join(scratch, 'machine');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'my-gpu.lspci.txt'), NVME_SAMPLE_DUMP);
    writeFileSync(join(dir, 'machine.json'), b.code);
    const run = await runCli(['--machine', join(dir, 'machine.json'), 'ls', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect((parseJson(run) as { bdf: string }[]).map((d) => d.bdf)).toEqual(['0000:00:10.0', '0000:02:00.0', '0000:05:00.0']);
  });
});
