/**
 * The IRQ pump shape on the IOKit backend: a worker blocked in the native
 * WaitInterrupt (mach_msg) receives interrupts raised elsewhere, and is woken
 * from the main thread through its wake port so it can exit on its own
 * (worker.terminate() cannot interrupt a blocking native call, eco §2.3).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { IOReturn } from '../../src/dext/contract.js';
import { createIokitDextDriver, wakeInterruptWaiter, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { toBdf } from '../../src/types.js';
import { useStandin } from './helpers.js';

const s = useStandin();
const FIXTURE = fileURLToPath(new URL('../../dist/test/fixtures/iokit-irq-waiter.js', import.meta.url));

type Msg = { type: 'ready'; wakePort: number } | { type: 'pending'; words: string[] } | { type: 'done'; kr: number; at: number } | { type: 'error'; message: string };

/** Messages of a worker as an async queue. */
function inbox(worker: Worker) {
  const queue: Msg[] = [];
  const waiters: ((m: Msg) => void)[] = [];
  worker.on('message', (m: Msg) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<Msg>((r) => waiters.push(r))),
  };
}

/** Resolves when the stand-in reports the armed completion (the worker is in, or entering, mach_msg). */
async function armed(): Promise<void> {
  for (let i = 0; i < 2000 && !s.ctl.deviceState(4).completionArmed; i++) await new Promise((r) => setImmediate(r));
  expect(s.ctl.deviceState(4).completionArmed).toBe(true);
}

describe('blocking interrupt wait in a worker', () => {
  test('interrupts complete the blocked wait; a wake from the main thread ends it and the worker exits', async () => {
    expect(existsSync(FIXTURE), `${FIXTURE} missing: run npm run build`).toBe(true);
    const main = createIokitDextDriver({ libraries: s.libraries }).connect(toBdf('04:00.0')) as IokitDextClient;
    main.claim();
    expect(main.setupInterrupts()).toBe(8);
    const worker = new Worker(FIXTURE, {
      workerData: { libraries: s.libraries, connection: main.connection, bdf: main.bdf, timeoutMs: 20_000 },
    });
    const exited = new Promise<number>((r) => worker.once('exit', r));
    const box = inbox(worker);
    const ready = await box.next();
    expect(ready.type).toBe('ready');
    const wakePort = (ready as { wakePort: number }).wakePort;

    await armed();
    expect(s.ctl.raise(4, 3)).toBe(true);
    expect(await box.next()).toEqual({ type: 'pending', words: ['8', '0', '0', '0'] });

    await armed();
    expect(s.ctl.raise(4, 64 + 1)).toBe(false); // vector 65 ≥ 8: dropped, the worker stays blocked
    expect(s.ctl.raise(4, 7)).toBe(true);
    expect(await box.next()).toEqual({ type: 'pending', words: ['128', '0', '0', '0'] });

    await armed();
    const t0 = Date.now();
    expect(wakeInterruptWaiter(wakePort, { libraries: s.libraries })).toBe(true);
    const done = await box.next();
    expect(done).toMatchObject({ type: 'done', kr: IOReturn.Aborted });
    expect((done as { at: number }).at - t0).toBeLessThan(1000);
    expect(await exited).toBe(0);
    // the worker dropped only its own port; the main thread's connection is intact
    expect(main.getIdentity().bus).toBe(4);
    main.close();
    // the port is gone: a late wake reports it
    expect(wakeInterruptWaiter(wakePort, { libraries: s.libraries })).toBe(false);
  });
});
