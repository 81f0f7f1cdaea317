import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { supervisionMachine, type SupervisionStepInput } from '../../../src/actors/supervision.machine.js';
import { PassthroughError } from '../../../src/errors.js';

function harness(opts: { failStartAt?: number[] } = {}) {
  let now = 0;
  const log: string[] = [];
  const starts: number[] = [];
  const machine = supervisionMachine.provide({
    actors: {
      startWorker: fromPromise<void, SupervisionStepInput>(async ({ input }) => {
        starts.push(input.generation);
        if (opts.failStartAt?.includes(input.generation)) {
          throw new PassthroughError('PT_ERR_CLAIM_FAILED', 'no', { bdf: input.bdf });
        }
      }),
      stopWorker: fromPromise<void, SupervisionStepInput>(async () => {
        log.push('stop');
      }),
    },
    actions: {
      workerLost: (_, p) => log.push(`lost:${p.exitCode}`),
      onRestart: ({ context }) => log.push(`restart:${context.restarts}`),
      onFaulted: ({ context }) => log.push(`faulted:${context.cause?.code}`),
      onFailed: () => log.push('failed'),
    },
  });
  const actor = createActor(machine, {
    input: { deviceId: 'd', bdf: '0000:00:10.0', policy: { maxRestarts: 2, windowMs: 1000 }, now: () => now },
  });
  actor.start();
  return { actor, log, starts, setNow: (t: number) => (now = t) };
}

const exit = (code = 1) => ({ type: 'worker.exited' as const, exitCode: code, error: undefined });

describe('supervisor.machine (slot)', () => {
  it('restarts one-for-one within the policy, then gives up with PT_ERR_RESTART_LIMIT', async () => {
    const { actor, log, starts, setNow } = harness();
    await waitFor(actor, (s) => s.matches('running'));
    setNow(100);
    actor.send(exit());
    await waitFor(actor, (s) => s.matches('running'));
    setNow(200);
    actor.send(exit());
    await waitFor(actor, (s) => s.matches('running'));
    setNow(300);
    actor.send(exit());
    expect(actor.getSnapshot().value).toBe('faulted');
    expect(actor.getSnapshot().context).toMatchObject({ restarts: 2, cause: { code: 'PT_ERR_RESTART_LIMIT' } });
    expect(starts).toEqual([0, 1, 2]);
    expect(log).toEqual(['lost:1', 'restart:1', 'lost:1', 'restart:2', 'lost:1', 'faulted:PT_ERR_RESTART_LIMIT']);
    actor.send({ type: 'device.stop' });
    await waitFor(actor, (s) => s.status === 'done');
    expect(log.at(-1)).toBe('stop');
  });

  it('restarts again once old crashes leave the window', async () => {
    const { actor, setNow } = harness();
    await waitFor(actor, (s) => s.matches('running'));
    for (const t of [0, 10, 1010, 1020]) {
      setNow(t);
      actor.send(exit());
      await waitFor(actor, (s) => s.matches('running') || s.matches('faulted'));
    }
    expect(actor.getSnapshot().value).toBe('running');
    expect(actor.getSnapshot().context.restarts).toBe(4);
  });

  it('a failed first start is `failed` (attach rejects); a failed restart is `faulted` with that cause', async () => {
    const first = harness({ failStartAt: [0] });
    await waitFor(first.actor, (s) => s.matches('failed'));
    expect(first.actor.getSnapshot().context.cause).toMatchObject({ code: 'PT_ERR_CLAIM_FAILED', context: { deviceId: 'd' } });

    const later = harness({ failStartAt: [1] });
    await waitFor(later.actor, (s) => s.matches('running'));
    later.actor.send(exit());
    await waitFor(later.actor, (s) => s.matches('faulted'));
    expect(later.actor.getSnapshot().context.cause?.code).toBe('PT_ERR_CLAIM_FAILED');
  });

  it('a device fault from the worker faults the slot without a restart', async () => {
    const { actor, starts } = harness();
    await waitFor(actor, (s) => s.matches('running'));
    const cause = new PassthroughError('PT_ERR_DEVICE_GONE', 'gone').toJSON();
    actor.send({ type: 'device.faulted', cause });
    expect(actor.getSnapshot().value).toBe('faulted');
    expect(starts).toEqual([0]);
  });
});
