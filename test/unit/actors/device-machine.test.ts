import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import { deviceMachine, type StepInput } from '../../../src/actors/device.machine.js';
import { PassthroughError } from '../../../src/errors.js';

const ok = fromPromise<void, StepInput>(async () => {});
const never = fromPromise<void, StepInput>(() => new Promise<void>(() => {}));
const fails = (code: 'PT_ERR_CLAIM_FAILED' | 'PT_ERR_IO' | 'PT_ERR_NOT_SUPPORTED', selectorName?: string) =>
  fromPromise<void, StepInput>(async ({ input }) => {
    throw new PassthroughError(code, 'boom', { bdf: input.bdf, selectorName });
  });

const allOk = {
  openBackend: ok,
  connectDevice: ok,
  probeDevice: ok,
  mapRegions: ok,
  wireIrqs: ok,
  resetDevice: ok,
  teardown: ok,
};

function start(actors: Partial<typeof allOk>, clock?: SimulatedClock, log?: string[]) {
  const machine = deviceMachine.provide({
    actors: { ...allOk, ...actors },
    actions: {
      onReady: () => log?.push('ready'),
      onFaulted: () => log?.push('faulted'),
      onStopped: () => log?.push('stopped'),
    },
  });
  const actor = createActor(machine, {
    input: { deviceId: 'd0', bdf: '0000:00:10.0', stepTimeoutMs: 1000, stopTimeoutMs: 500 },
    ...(clock ? { clock } : {}),
  });
  actor.start();
  return actor;
}

describe('device.machine', () => {
  it('walks opening → … → ready, resets, stops', async () => {
    const log: string[] = [];
    const seen: string[] = [];
    const actor = start({}, undefined, log);
    actor.subscribe((s) => seen.push(String(s.value)));
    await waitFor(actor, (s) => s.matches('ready'));
    expect(seen).toEqual(expect.arrayContaining(['connecting', 'probing', 'mapping', 'wiringIrqs', 'ready']));
    actor.send({ type: 'device.reset' });
    expect(actor.getSnapshot().value).toBe('resetting');
    await waitFor(actor, (s) => s.matches('ready'));
    expect(actor.getSnapshot().context.resets).toBe(1);
    actor.send({ type: 'device.stop' });
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(log).toEqual(['ready', 'ready', 'stopped']);
  });

  it.each([
    ['opening', 'openBackend'],
    ['connecting', 'connectDevice'],
    ['probing', 'probeDevice'],
    ['mapping', 'mapRegions'],
    ['wiringIrqs', 'wireIrqs'],
  ] as const)('a failure in %s lands in faulted with the cause', async (state, actorName) => {
    const actor = start({ [actorName]: fails('PT_ERR_CLAIM_FAILED', 'Claim') });
    await waitFor(actor, (s) => s.matches('faulted'));
    const { cause, faultedIn } = actor.getSnapshot().context;
    expect(faultedIn).toBe(state);
    expect(cause?.code).toBe('PT_ERR_CLAIM_FAILED');
    expect(cause?.context).toMatchObject({ bdf: '0000:00:10.0', selectorName: 'Claim', deviceId: 'd0' });
    // faulted still stops cleanly
    actor.send({ type: 'device.stop' });
    await waitFor(actor, (s) => s.status === 'done');
  });

  it('a step past its deadline faults with PT_ERR_TIMEOUT (simulated clock)', () => {
    const clock = new SimulatedClock();
    const actor = start({ mapRegions: never }, clock);
    return (async () => {
      await waitFor(actor, (s) => s.matches('mapping'));
      clock.increment(999);
      expect(actor.getSnapshot().value).toBe('mapping');
      clock.increment(1);
      expect(actor.getSnapshot().value).toBe('faulted');
      expect(actor.getSnapshot().context.cause).toMatchObject({ code: 'PT_ERR_TIMEOUT', context: { state: 'mapping' } });
    })();
  });

  it('a runtime fault event in ready faults with that cause; reset failure faults too', async () => {
    const actor = start({ resetDevice: fails('PT_ERR_IO') });
    await waitFor(actor, (s) => s.matches('ready'));
    actor.send({ type: 'device.reset' });
    await waitFor(actor, (s) => s.matches('faulted'));
    expect(actor.getSnapshot().context).toMatchObject({ faultedIn: 'resetting', cause: { code: 'PT_ERR_IO' } });

    const b = start({});
    await waitFor(b, (s) => s.matches('ready'));
    const gone = new PassthroughError('PT_ERR_DEVICE_GONE', 'fell off the bus', { bdf: '0000:00:10.0' }).toJSON();
    b.send({ type: 'device.fault', error: gone });
    expect(b.getSnapshot().value).toBe('faulted');
    expect(b.getSnapshot().context.cause?.code).toBe('PT_ERR_DEVICE_GONE');
  });

  it('a reset the device does not offer (PT_ERR_NOT_SUPPORTED) leaves it ready and records the refusal', async () => {
    const actor = start({ resetDevice: fails('PT_ERR_NOT_SUPPORTED') });
    await waitFor(actor, (s) => s.matches('ready'));
    actor.send({ type: 'device.reset' });
    const after = await waitFor(actor, (s) => !s.matches('resetting'));
    expect(after.value).toBe('ready');
    expect(after.context).toMatchObject({ refusals: 1, resets: 0, cause: undefined });
    expect(after.context.lastRefusal?.code).toBe('PT_ERR_NOT_SUPPORTED');
    actor.stop();
  });

  it('teardown that hangs still reaches stopped after stopTimeout, with the error recorded', async () => {
    const clock = new SimulatedClock();
    const actor = start({ teardown: never }, clock);
    await waitFor(actor, (s) => s.matches('ready'));
    actor.send({ type: 'device.stop' });
    actor.send({ type: 'device.stop' }); // idempotent
    expect(actor.getSnapshot().value).toBe('stopping');
    clock.increment(500);
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(actor.getSnapshot().context.teardownError?.code).toBe('PT_ERR_TIMEOUT');
  });

  it('stop during an attach step goes straight to stopping', async () => {
    const actor = start({ probeDevice: never });
    await waitFor(actor, (s) => s.matches('probing'));
    actor.send({ type: 'device.stop' });
    await waitFor(actor, (s) => s.status === 'done');
    expect(actor.getSnapshot().context.cause).toBeUndefined();
  });
});
