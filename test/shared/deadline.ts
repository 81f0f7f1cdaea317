/**
 * Test budgets on a loaded machine. Deadlines in pcipt follow progress; what
 * is left in the tests is a bound that only ends a FAILING wait (an interrupt
 * that never comes, a test that hangs), so it can be generous at no cost to a
 * passing run. `PCIPT_TEST_TIMEOUT_SCALE` (default 1; `.ci/stress` sets 4)
 * multiplies them all, vitest's own testTimeout/hookTimeout included
 * (vitest.config.ts).
 */
import { vi } from 'vitest';

const raw = Number(process.env.PCIPT_TEST_TIMEOUT_SCALE ?? '1');

/** The scale factor (≥ 1; a bad value counts as 1). */
export const TIMEOUT_SCALE = Number.isFinite(raw) && raw >= 1 ? raw : 1;

/** `ms` times {@link TIMEOUT_SCALE}. */
export function scaled(ms: number): number {
  return Math.round(ms * TIMEOUT_SCALE);
}

/** How long a test waits for an interrupt it caused before calling it lost (returns as soon as it comes). */
export const IRQ_WAIT_MS = scaled(20_000);

/** How long a test waits for a state it caused to show (vi.waitFor's own default is 1 s: too short under load). */
export const SETTLE_MS = scaled(20_000);

/** `vi.waitFor` with a {@link SETTLE_MS} budget: retries `fn` until it stops throwing. */
export function eventually<T>(fn: () => T | Promise<T>, opts: { timeout?: number; interval?: number } = {}): Promise<T> {
  return vi.waitFor(fn, { timeout: SETTLE_MS, interval: 20, ...opts });
}
