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
