/**
 * The fault campaign (`npm run soak -- --seed N --scenarios N`, `pcipt soak`):
 * seeded random interleavings over the public API on the sim backend:
 * attach, detach, reset, worker kills, dext selector errors, surprise
 * removal, interrupt storms and synchronous calls from vCPU threads, with
 * the invariants of soak-checks.ts after every round and after every
 * scenario's teardown. A failing scenario is reported with the command
 * line that replays it alone.
 *
 * Scenarios share one supervisor (and its warm pool) for speed, and a ready
 * device of one scenario serves the next when both want it (soak-plan.ts).
 * Every 50 scenarios, and at the end, everything is detached and the
 * supervisor must be empty. After a scenario with a violation the
 * supervisor is replaced, so one failure does not cascade.
 */
import { createSupervisor, type Supervisor } from '../src/index.js';
import { checkEmpty, checkRound } from './soak-checks.js';
import { detachHandle, runOp, typedFailure, Unsettled, violate, type ScenarioContext, type SoakOutcome, type SoakViolation } from './soak-ops.js';
import { describeRound, planScenario, SOAK_FUNCTIONS } from './soak-plan.js';
import { VcpuPool } from './soak-vcpu-pool.js';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Campaign seed (32-bit). */
  seed: number;
  /** Scenarios to run (0 … scenarios-1), unless `only` is given. */
  scenarios: number;
  /** Run just this scenario (a replay). */
  only?: number;
  /** Control-call deadline of the supervisor (callTimeoutMs; default 5000). */
  callTimeoutMs?: number;
  /** Silence that counts as "stuck" (no progress anywhere), ms (default 10000). */
  silenceMs?: number;
  /** Called after each scenario. */
  onScenario?: (done: number, total: number, violations: number) => void;
  /** Called with each violation as soon as its scenario ends (with its replay line). */
  onViolation?: (v: SoakReportViolation) => void;
  /** Called with each round's plan before it runs (replays print it). */
  onRound?: (scenario: number, round: number, text: string) => void;
}

/** A violation with the line that replays its scenario. */
export interface SoakReportViolation extends SoakViolation {
  replay: string;
}

/** What a campaign reports. */
export interface SoakReport {
  seed: number;
  scenarios: number;
  rounds: number;
  operations: number;
  elapsedMs: number;
  violations: SoakReportViolation[];
  /** Outcome counts by operation kind. */
  outcomes: Record<string, SoakOutcome>;
}

/** The command line that replays scenario `index` of campaign `seed`. */
export function replayCommand(seed: number, index: number): string {
  return `npm run soak -- --seed ${seed} --only ${index}`;
}

async function newSupervisor(callTimeoutMs: number, progress: { n: number }): Promise<Supervisor> {
  const sup = await createSupervisor({ restart: { maxRestarts: 2, windowMs: 60_000 }, callTimeoutMs, warmWorkers: 1 });
  sup.on('trace', () => progress.n++);
  return sup;
}

/** Full teardowns (everything detached, the supervisor checked empty) happen this often, in scenarios. */
const EMPTY_CHECK_EVERY = 50;

/** Detaches every handle the campaign holds (each must resolve). */
async function detachAll(ctx: ScenarioContext): Promise<void> {
  await Promise.all(
    [...ctx.handles.entries()].flatMap(([fn, list]) =>
      list.map((h) => detachHandle(ctx, fn, h).catch((e: unknown) => typedFailure(ctx, 'detach', e))),
    ),
  );
}

/**
 * Brings the supervisor to the scenario's start state: exactly the `start`
 * functions attached and ready. A ready device of the previous scenario is
 * kept; anything else is detached (and checked), missing ones attached.
 */
async function prepare(ctx: ScenarioContext, start: readonly number[]): Promise<void> {
  await Promise.all(
    SOAK_FUNCTIONS.map(async (_, fn) => {
      const list = ctx.handles.get(fn) ?? [];
      const keep = start.includes(fn) && list.length === 1 && list[0]!.state === 'ready';
      if (keep) return;
      for (const h of list) await detachHandle(ctx, fn, h).catch((e: unknown) => typedFailure(ctx, 'detach', e));
      if (start.includes(fn)) await runOp(ctx, { kind: 'attach', fn, arg: 0 });
    }),
  );
}

/** Runs a campaign. Never rejects for a violation: they are in the report. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const callTimeoutMs = o.callTimeoutMs ?? 5000;
  const silenceMs = o.silenceMs ?? 10_000;
  const progress = { n: 0 };
  const vcpu = new VcpuPool(2);
  const report: SoakReport = { seed: o.seed >>> 0, scenarios: 0, rounds: 0, operations: 0, elapsedMs: 0, violations: [], outcomes: {} };
  const t0 = performance.now();
  const indices = o.only === undefined ? Array.from({ length: o.scenarios }, (_, i) => i) : [o.only];
  let ids = 0;
  const fresh = async (index: number): Promise<ScenarioContext> => ({
    sup: await newSupervisor(callTimeoutMs, progress),
    scenario: index,
    round: 0,
    handles: new Map(),
    detached: [],
    progress,
    vcpu,
    silenceMs,
    syncTimeoutMs: Math.max(100, Math.min(callTimeoutMs, 2000)),
    outcomes: report.outcomes,
    violations: [],
    disturbed: new Set(),
    nextId: () => `d${ids++}`,
  });
  let ctx = await fresh(indices[0] ?? 0);
  try {
    for (const [n, index] of indices.entries()) {
      ctx.scenario = index;
      ctx.round = -1;
      ctx.violations = [];
      const plan = planScenario(report.seed, index);
      let broken = false;
      try {
        ctx.disturbed = new Set();
        await prepare(ctx, plan.start);
        for (const [r, ops] of plan.rounds.entries()) {
          ctx.round = r;
          o.onRound?.(index, r, describeRound(ops));
          // A storm is judged only when nothing else of its round touches the same function.
          ctx.disturbed = new Set(ops.filter((x) => x.kind !== 'storm' && x.kind !== 'vcpu').map((x) => x.fn));
          await Promise.all(ops.map((op) => runOp(ctx, op)));
          report.rounds++;
          report.operations += ops.length;
          await checkRound(ctx);
        }
        if (n === indices.length - 1 || (n + 1) % EMPTY_CHECK_EVERY === 0) {
          ctx.round = -1;
          await detachAll(ctx);
          checkEmpty(ctx);
        }
      } catch (e) {
        if (!(e instanceof Unsettled)) throw e;
        violate(ctx, 'unsettled', e.message);
        broken = true;
      }
      report.scenarios++;
      for (const v of ctx.violations) {
        const found = { ...v, replay: replayCommand(report.seed, index) };
        report.violations.push(found);
        o.onViolation?.(found);
      }
      if (broken || ctx.violations.length > 0) {
        // Go on from a fresh supervisor, so one failure does not cascade; a stuck close is abandoned.
        await Promise.race([ctx.sup.close().catch(() => {}), new Promise((r) => setTimeout(r, silenceMs).unref())]);
        ctx = await fresh(index);
      }
      o.onScenario?.(report.scenarios, indices.length, report.violations.length);
    }
  } finally {
    await ctx.sup.close();
    await vcpu.close();
  }
  report.elapsedMs = Math.round(performance.now() - t0);
  return report;
}
