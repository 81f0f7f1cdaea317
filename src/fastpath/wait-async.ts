/**
 * Typed access to Atomics.waitAsync: Node 20 has it, but the ES2022 lib the
 * project compiles against does not declare it (it arrived in ES2024).
 * Remember: it does not keep the event loop alive (eco §3.1).
 */

/** What Atomics.waitAsync returns. */
export type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };

type WaitAsyncFn = (typedArray: Int32Array, index: number, value: number, timeoutMs?: number) => WaitAsyncResult;

/** Atomics.waitAsync, typed. @internal */
export const atomicsWaitAsync: WaitAsyncFn = (Atomics as unknown as { waitAsync: WaitAsyncFn }).waitAsync.bind(Atomics);
