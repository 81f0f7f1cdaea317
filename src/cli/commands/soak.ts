/**
 * `pcipt soak [--seed N] [--scenarios N] [--only I]`: the fault campaign
 * (bench/soak.ts) on the default sim machine. Prints one line per ten
 * scenarios on stderr, then a summary and every violation with the command
 * line that replays its scenario. `--json` prints the whole report. Exit
 * status 1 when an invariant was broken.
 */
import type { SoakReport } from '../../../bench/soak.js';
import type { CommandContext } from '../context.js';
import { usageError } from '../exit-codes.js';

/** Options of `pcipt soak`. */
export interface SoakCommandOptions {
  seed?: number;
  scenarios: number;
  only?: number;
  callTimeoutMs?: number;
  silenceMs?: number;
  verbose?: boolean;
}

/** Runs the campaign. */
export async function soakCommand(ctx: CommandContext, opts: SoakCommandOptions): Promise<number> {
  const { output } = ctx;
  if (ctx.options.backend !== 'sim' || ctx.options.machine !== undefined) {
    throw usageError('soak runs on the default sim machine (no --backend other than sim, no --machine)', { backend: ctx.options.backend });
  }
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
  const { runSoak } = await import('../../../bench/soak.js');
  output.log(`soak: seed ${seed}, ${opts.only === undefined ? `${opts.scenarios} scenarios` : `scenario ${opts.only}`}`);
  const report: SoakReport = await runSoak({
    seed,
    scenarios: opts.scenarios,
    ...(opts.only === undefined ? {} : { only: opts.only }),
    ...(opts.callTimeoutMs === undefined ? {} : { callTimeoutMs: opts.callTimeoutMs }),
    ...(opts.silenceMs === undefined ? {} : { silenceMs: opts.silenceMs }),
    onScenario: (done, total, violations) => {
      if (done % 10 === 0 || done === total) output.log(`soak: ${done}/${total} scenarios, ${violations} violations`);
    },
    // Said at once, so a long campaign's failure is seen (and replayable) before it ends.
    onViolation: (v) => output.log(`soak: VIOLATION scenario ${v.scenario} round ${v.round}: ${v.kind}: ${v.detail} (replay: ${v.replay})`),
    ...(opts.verbose === true ? { onRound: (s: number, r: number, text: string) => output.log(`soak: scenario ${s} round ${r}: ${text}`) } : {}),
  });
  if (output.json) {
    output.emitJson(report);
  } else {
    output.out(
      `soak: seed ${report.seed}: ${report.scenarios} scenarios, ${report.rounds} rounds, ${report.operations} operations in ` +
        `${(report.elapsedMs / 1000).toFixed(1)} s: ${report.violations.length} violations`,
    );
    for (const v of report.violations) {
      output.out(`  scenario ${v.scenario} round ${v.round}: ${v.kind}: ${v.detail}`);
      output.out(`    replay: ${v.replay}`);
    }
  }
  return report.violations.length === 0 ? 0 : 1;
}
