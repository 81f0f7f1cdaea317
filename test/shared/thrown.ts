/** The PassthroughError-capturing helper every unit test shares. */
import { PassthroughError } from '../../src/errors.js';

/**
 * The PassthroughError `fn` throws synchronously. Rethrows any other error;
 * fails the test when nothing is thrown.
 */
export function thrown(fn: () => unknown): PassthroughError {
  try {
    fn();
  } catch (e) {
    if (!PassthroughError.is(e)) throw e;
    return e;
  }
  throw new Error('expected a PassthroughError, nothing was thrown');
}

/** The PassthroughError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<PassthroughError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!PassthroughError.is(e)) throw new Error(`expected a PassthroughError rejection, got ${e === undefined ? 'a resolution' : String(e)}`);
  return e;
}
