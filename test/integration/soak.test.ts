/**
 * The fault campaign in CI: a short seeded campaign must break no invariant;
 * plans are a pure function of (seed, index), so the printed replay line
 * rebuilds the scenario; and the checks do catch what they are for (a leaked
 * lease, an untyped error).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, openFastPath, type Supervisor } from '../../src/index.js';
import { replayCommand, runSoak } from '../../bench/soak.js';
import { checkRound } from '../../bench/soak-checks.js';
import { typedFailure, type ScenarioContext } from '../../bench/soak-ops.js';
import { planScenario } from '../../bench/soak-plan.js';
import { VcpuPool } from '../../bench/soak-vcpu-pool.js';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

function context(s: Supervisor, silenceMs: number): ScenarioContext {
  return {
    sup: s,
    scenario: 0,
    round: 0,
    handles: new Map(),
    detached: [],
    progress: { n: 0 },
    vcpu: undefined as unknown as VcpuPool,
    silenceMs,
    syncTimeoutMs: 2000,
    outcomes: {},
    violations: [],
    disturbed: new Set(),
    nextId: () => 'x',
  };
}

describe('fault campaign', () => {
  it('plans are a pure function of (seed, index)', () => {
    expect(planScenario(7, 3)).toEqual(planScenario(7, 3));
    expect(planScenario(7, 3)).not.toEqual(planScenario(7, 4));
    expect(planScenario(7, 3)).not.toEqual(planScenario(8, 3));
    expect(replayCommand(7, 3)).toBe('npm run soak -- --seed 7 --only 3');
  });

  // The campaign bounds its own waits by progress (silence, not wall time): the budget
  // here is only a backstop for a hang the campaign cannot see.
  it('30 seeded scenarios break no invariant', { timeout: 900_000 }, async () => {
    const report = await runSoak({ seed: 20261202, scenarios: 30 });
    expect(report.violations).toEqual([]);
    expect(report.scenarios).toBe(30);
    // The campaign did what it says: devices attached, interrupts stormed, vCPU calls made.
    expect(report.outcomes.attach?.ok).toBeGreaterThan(0);
    expect(report.outcomes.storm?.ok).toBeGreaterThan(0);
    expect(report.outcomes.vcpu?.ok).toBeGreaterThan(0);
  });

  it('the checks catch a leaked BAR lease and an untyped error', async () => {
    sup = await createSupervisor();
    const h = await sup.attach('0000:00:10.0');
    const ctx = context(sup, 200);
    ctx.handles.set(0, [h]);
    await checkRound(ctx);
    expect(ctx.violations).toEqual([]);
    const fp = openFastPath(h.descriptor()); // a second holder of BAR0, never closed
    await checkRound(ctx);
    expect(ctx.violations).toContainEqual(expect.objectContaining({ kind: 'leak', detail: expect.stringMatching(/BAR0 has 2 lease holders at rest/) }));
    fp.close();
    typedFailure(ctx, 'reset', new TypeError('x is not a function'));
    expect(ctx.violations.at(-1)).toMatchObject({ kind: 'untyped-error', detail: 'reset: TypeError: x is not a function' });
  });
});
