/**
 * `vi.waitFor` polls until its callback stops throwing, for 1 s by default. One second is a
 * wall-clock budget a saturated 2-core machine breaks (a worker restart alone can take longer), so
 * every test gets a hang ceiling instead: 60 s unless the call gives its own timeout. A waitFor
 * still ends as soon as the condition holds; only a condition that never holds waits this long.
 */
import { vi } from 'vitest';

const kWaitForCeilingMs = 60_000;
const original = vi.waitFor.bind(vi);

vi.waitFor = ((callback: Parameters<typeof vi.waitFor>[0], options?: Parameters<typeof vi.waitFor>[1]) =>
  original(
    callback,
    typeof options === 'number' ? options : { interval: 10, ...options, timeout: options?.timeout ?? kWaitForCeilingMs },
  )) as typeof vi.waitFor;
