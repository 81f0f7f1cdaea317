/**
 * The liveness word on a bare control block: the state machine of
 * markLiveness, and what each fast-path waiter does when it changes. The
 * thread-level behaviour (a real worker dying) is in
 * test/integration/actors/liveness.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { ConfigPort, IrqLine, Liveness, createDeviceControlBlock, livenessOf, markLiveness, markServerAlive, markServerGone } from '../../../src/fastpath/index.js';
import { thrown } from '../../shared/thrown.js';

describe('liveness word', () => {
  it('starts NONE; a server start makes it ALIVE; DETACHED is final; WORKER_EXITED does not replace DEVICE_GONE', () => {
    const control = createDeviceControlBlock();
    expect(livenessOf(control)).toBe(Liveness.NONE);
    markServerAlive(control);
    expect(livenessOf(control)).toBe(Liveness.ALIVE);
    expect(markLiveness(control, Liveness.ALIVE)).toBe(false); // idempotent
    expect(markLiveness(control, Liveness.DEVICE_GONE)).toBe(true);
    markServerGone(control);
    expect(livenessOf(control)).toBe(Liveness.DEVICE_GONE);
    expect(markLiveness(control, Liveness.DETACHED)).toBe(true);
    markServerAlive(control);
    expect(markLiveness(control, Liveness.WORKER_EXITED)).toBe(false);
    expect(livenessOf(control)).toBe(Liveness.DETACHED);
  });

  it.each([
    [Liveness.WORKER_EXITED, 'PT_ERR_WORKER_EXITED'],
    [Liveness.DETACHED, 'PT_ERR_NOT_ATTACHED'],
    [Liveness.DEVICE_GONE, 'PT_ERR_DEVICE_GONE'],
  ] as const)('state %i: waitSync, waitAsync and config calls fail at once with %s', async (state, code) => {
    const control = createDeviceControlBlock();
    markServerAlive(control);
    markLiveness(control, state);
    const line = new IrqLine(control);
    expect(thrown(() => line.waitSync(line.seq, 60_000)).code).toBe(code);
    expect(thrown(() => line.waitSync(line.seq, 60_000, { spinIterations: 1e9 })).code).toBe(code);
    await expect(line.waitAsync(line.seq, 60_000)).rejects.toMatchObject({ code });
    expect(thrown(() => new ConfigPort(control, { timeoutMs: 60_000 }).read32(0)).code).toBe(code);
  });

  it('a parked waitAsync wakes with the error when the state changes, and a restart (a new ALIVE) fails it too', async () => {
    const control = createDeviceControlBlock();
    markServerAlive(control);
    const line = new IrqLine(control);
    const parked = line.waitAsync(line.seq, 60_000);
    markLiveness(control, Liveness.DETACHED);
    await expect(parked).rejects.toMatchObject({ code: 'PT_ERR_NOT_ATTACHED' });

    const other = createDeviceControlBlock();
    markServerAlive(other);
    const line2 = new IrqLine(other);
    const parked2 = line2.waitAsync(line2.seq, 60_000);
    markServerGone(other);
    markServerAlive(other); // restarted before the waiter ran
    await expect(parked2).rejects.toMatchObject({ code: 'PT_ERR_WORKER_EXITED' });
    // A wait that starts after the restart works again.
    const again = line2.waitAsync(line2.seq, 60_000);
    line2.raise(9);
    await expect(again).resolves.toBeTypeOf('number');
    expect(line2.drain()).toEqual([9]);
  });

  it('after detach the line refuses raise, drain, mask and unmask with PT_ERR_NOT_ATTACHED; counters stay readable', () => {
    const control = createDeviceControlBlock();
    const line = new IrqLine(control);
    line.raise(1);
    markLiveness(control, Liveness.DETACHED);
    for (const f of [() => line.raise(2), () => line.drain(), () => line.mask(3), () => line.unmask(3), () => line.raiseWords([0, 0, 0, 0, 0, 0, 0, 1])]) {
      expect(thrown(f).code).toBe('PT_ERR_NOT_ATTACHED');
    }
    expect(line.counters().raised).toBe(1);
  });
});

describe('waitSync keeps its timeout in every mode', () => {
  it('spinning: 10 ms asked with a spin budget of 10^12 polls times out (returns lastSeq) long before the spin could end', () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    const t0 = performance.now();
    expect(line.waitSync(seq, 10, { spinIterations: 1e12 })).toBe(seq);
    expect(line.waitSync(seq, 10, { spinIterations: Infinity })).toBe(seq);
    // 10^12 polls would take minutes; a generous bound, not a latency target.
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('parking and spinning: 0 ms returns at once with lastSeq; a raise before the wait returns the new sequence', () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    expect(line.waitSync(seq, 0)).toBe(seq);
    expect(line.waitSync(seq, 0, { spinIterations: 5000 })).toBe(seq);
    line.raise(4);
    expect(line.waitSync(seq, 10_000, { spinIterations: 1e12 })).not.toBe(seq);
  });

  it('refuses bad timeouts, spin counts and sequences with PT_ERR_INVALID_ARGUMENT naming the parameter', () => {
    const line = new IrqLine(createDeviceControlBlock());
    const seq = line.seq;
    for (const [args, param] of [
      [[seq, -1], 'timeoutMs'],
      [[seq, Number.NaN], 'timeoutMs'],
      [[seq, 10n], 'timeoutMs'],
      [[seq, Symbol('t')], 'timeoutMs'],
      [[seq, 10, { spinIterations: -1 }], 'spinIterations'],
      [[seq, 10, { spinIterations: 1n }], 'spinIterations'],
      [[seq, 10, null], 'opts'],
      [[`${seq}`, 10], 'lastSeq'],
    ] as const) {
      const e = thrown(() => (line.waitSync as (...a: unknown[]) => number)(...args));
      expect(e).toBeInstanceOf(PassthroughError);
      expect([param, e.code, e.context.param]).toEqual([param, 'PT_ERR_INVALID_ARGUMENT', param]);
    }
  });
});
