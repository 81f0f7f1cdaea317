// Shell completions: the shipped scripts are the generator's output (generated from the command tree),
// and each shell loads its script and completes commands, suite names, backends and options.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMPLETION_FILES, completionScript, type Shell } from '../../src/cli/completion.js';
import { packageVersion } from '../../src/cli/main.js';
import { buildProgram } from '../../src/cli/program.js';
import { ROOT, runCli } from './helpers.js';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const file = (shell: Shell): string => `${ROOT}/completions/${COMPLETION_FILES[shell]}`;
for (const shell of ['zsh', 'fish'] as const) {
  if (!has(shell)) console.warn(`[completion] ${shell} is not installed: its script is checked against the generator only (apt-get install ${shell})`);
}

/** Runs the bash completion function on a command line (the word under the cursor last). */
function bashComplete(words: string[]): string[] {
  const script = `source ${JSON.stringify(file('bash'))}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; _pcipt; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

/** fish's own completion engine (`complete -C`) on a command line, candidates only. */
function fishComplete(line: string): string[] {
  const out = execFileSync('fish', ['-c', `source ${JSON.stringify(file('fish'))}; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!);
}

describe('completion scripts', () => {
  it('completions/ holds exactly what `pcipt completion <shell>` prints (regenerate: pcipt completion bash > completions/pcipt.bash, …)', async () => {
    const program = buildProgram(packageVersion(), async () => {});
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const generated = completionScript(shell, program);
      expect(readFileSync(file(shell), 'utf8'), `completions/${COMPLETION_FILES[shell]} is stale`).toBe(generated);
      const run = await runCli(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(generated);
    }
    expect((await runCli(['completion', 'tcsh'])).code).toBe(2);
  });

  it('bash: commands, suites, backends, options of the command and the global ones', () => {
    expect(bashComplete(['pcipt', 'b'])).toEqual(['bind', 'bench']);
    expect(bashComplete(['pcipt', '--backend', 'linux', 'b'])).toEqual(['bind', 'bench']);
    expect(bashComplete(['pcipt', 'bench', 'a']).sort()).toEqual(['all', 'attach']);
    expect(bashComplete(['pcipt', '--backend', 'l'])).toEqual(['linux']);
    expect(bashComplete(['pcipt', 'bench', 'mmio', '--pl'])).toEqual(['--plot', '--plot-width', '--plot-height']);
    expect(bashComplete(['pcipt', 'dump-config', '00:10.0', '--size', ''])).toEqual(['64', '256', '4096']);
    expect(bashComplete(['pcipt', 'ls', '--js'])).toEqual(['--json']);
  });

  it.skipIf(!has('fish'))('fish: the script parses and fish completes from it', () => {
    execFileSync('fish', ['-n', file('fish')]);
    expect(fishComplete('pcipt be')).toEqual(['bench']);
    expect(fishComplete('pcipt bench a')).toEqual(['all', 'attach']);
    expect(fishComplete('pcipt --backend ')).toEqual(['iokit', 'linux', 'sim']);
    expect(fishComplete('pcipt top --int')).toEqual(['--interval-ms']);
  });

  it.skipIf(!has('zsh'))('zsh: the script parses and registers _pcipt for pcipt with compinit', () => {
    execFileSync('zsh', ['-n', file('zsh')]);
    const out = execFileSync('zsh', ['-fc', `autoload -Uz compinit && compinit -u -d "$(mktemp)"; source ${JSON.stringify(file('zsh'))}; print -r -- $_comps[pcipt]`], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('_pcipt');
  });
});
