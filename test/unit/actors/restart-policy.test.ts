import { describe, expect, it } from 'vitest';
import { decideRestart, DEFAULT_RESTART_POLICY } from '../../../src/actors/restart-policy.js';

describe('restart policy (one-for-one, intensity window)', () => {
  it('allows maxRestarts within the window, then gives up', () => {
    const p = { maxRestarts: 3, windowMs: 1000 };
    let history: readonly number[] = [];
    for (const [t, attempt] of [
      [0, 1],
      [10, 2],
      [20, 3],
    ] as const) {
      const d = decideRestart(p, history, t);
      expect(d).toMatchObject({ action: 'restart', attempt });
      history = d.history;
    }
    expect(decideRestart(p, history, 999)).toMatchObject({ action: 'give-up', restartsInWindow: 3 });
  });

  it('forgets restarts older than the window (half-open)', () => {
    const p = { maxRestarts: 2, windowMs: 100 };
    expect(decideRestart(p, [0, 50], 100)).toMatchObject({ action: 'restart', attempt: 2, history: [50, 100] });
    expect(decideRestart(p, [0, 50], 99)).toMatchObject({ action: 'give-up' });
  });

  it('maxRestarts 0 never restarts; defaults are 3 in 10 s', () => {
    expect(decideRestart({ maxRestarts: 0, windowMs: 10 }, [], 0).action).toBe('give-up');
    expect(DEFAULT_RESTART_POLICY).toEqual({ maxRestarts: 3, windowMs: 10_000 });
  });
});
