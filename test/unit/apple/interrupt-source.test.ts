/**
 * rule 7 with a scripted client: each WaitInterrupt is a deferred the test
 * completes, so every branch of the handler is forced deterministically.
 */
import { describe, expect, it } from 'vitest';
import { createAppleDeviceIoOps } from '../../../src/apple/device-io-ops.js';
import { createAppleDeviceState } from '../../../src/apple/device-state.js';
import { createAppleInterruptSource, type BlockingInterruptWait } from '../../../src/apple/interrupt-source.js';
import { IOReturn, type IrqWords } from '../../../src/dext/contract.js';
import { dextError } from '../../../src/dext/kern-return.js';
import { IrqIndex } from '../../../src/vfio/device-io-ops.js';
import { toBdf } from '../../../src/types.js';
import { createFakeClient } from './fake-dext.js';

const BDF = toBdf('0000:00:10.0');

function scriptedClient() {
  const waits: { resolve: (s: number) => void; cancelled: boolean }[] = [];
  let pending: IrqWords = [0n, 0n, 0n, 0n];
  let failCheck = 0;
  const client = createFakeClient(BDF, {
    waitInterrupt: () => {
      let resolve!: (s: number) => void;
      const completion = new Promise<number>((r) => (resolve = r));
      const w = { resolve, cancelled: false };
      waits.push(w);
      return {
        completion,
        cancel: () => {
          w.cancelled = true;
          resolve(IOReturn.Aborted);
        },
      };
    },
    checkInterrupt: () => {
      if (failCheck > 0) {
        failCheck--;
        throw dextError(IOReturn.NotReady, 14, { bdf: BDF });
      }
      const p = pending;
      pending = [0n, 0n, 0n, 0n];
      return p;
    },
  });
  return {
    client,
    waits,
    setPending: (p: IrqWords) => (pending = p),
    failNextCheck: () => failCheck++,
  };
}

function setup() {
  const s = scriptedClient();
  const state = createAppleDeviceState(BDF, s.client);
  const ops = createAppleDeviceIoOps(state);
  const got: number[] = [];
  ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 4, sink: { deliver: (v) => got.push(v) } });
  const src = createAppleInterruptSource(state);
  return { ...s, state, ops, got, src };
}

describe('apple interrupt source (rule 7)', () => {
  it('rule 7: arms once at creation; a completion drains, delivers lowest first and re-arms', async () => {
    const t = setup();
    expect(t.waits).toHaveLength(1);
    t.setPending([0b1010n, 0n, 0n, 0n]);
    const p = t.src.next();
    t.waits[0]!.resolve(IOReturn.Success);
    expect(await p).toBe(2);
    expect(t.got).toEqual([1, 3]);
    expect(t.waits).toHaveLength(2);
  });

  it('rule 7: nothing pending → 0 delivered, re-armed', async () => {
    const t = setup();
    const p = t.src.next();
    t.waits[0]!.resolve(IOReturn.Success);
    expect(await p).toBe(0);
    expect(t.waits).toHaveLength(2);
  });

  it('rule 7: CheckInterrupt failure → re-arm and return 0', async () => {
    const t = setup();
    t.failNextCheck();
    t.setPending([1n, 0n, 0n, 0n]);
    const p = t.src.next();
    t.waits[0]!.resolve(IOReturn.Success);
    expect(await p).toBe(0);
    expect(t.got).toEqual([]);
    expect(t.waits).toHaveLength(2);
  });

  it('rule 7: no connection → return without re-arming', async () => {
    const t = setup();
    const p = t.src.next();
    t.state.client = undefined;
    t.waits[0]!.resolve(IOReturn.Success);
    expect(await p).toBe(0);
    expect(t.waits).toHaveLength(1);
  });

  it('wake() cancels the armed wait; the next call re-arms; a pending interrupt is not lost', async () => {
    const t = setup();
    const p = t.src.next();
    t.src.wake();
    expect(await p).toBe(0);
    expect(t.waits[0]!.cancelled).toBe(true);
    t.setPending([1n, 0n, 0n, 0n]);
    const q = t.src.next();
    expect(t.waits).toHaveLength(2);
    t.waits[1]!.resolve(IOReturn.Success);
    expect(await q).toBe(1);
    expect(t.got).toEqual([0]);
  });

  it('close() ends a pending next and all later ones with 0 and arms nothing more', async () => {
    const t = setup();
    const p = t.src.next();
    t.src.close();
    t.src.close();
    expect(await p).toBe(0);
    expect(await t.src.next()).toBe(0);
    expect(t.waits).toHaveLength(1);
    expect(t.waits[0]!.cancelled).toBe(true);
  });

  it('nextSync is the hook for a blocking client: defined only when the client offers one', () => {
    const t = scriptedClient();
    let woken = 0;
    const blocking: BlockingInterruptWait = {
      waitInterruptSync: () => IOReturn.Success,
      wakeInterruptSync: () => void woken++,
    };
    const state = createAppleDeviceState(BDF, Object.assign(t.client, blocking));
    const ops = createAppleDeviceIoOps(state);
    const got: number[] = [];
    ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink: { deliver: (v) => got.push(v) } });
    const src = createAppleInterruptSource(state);
    t.setPending([1n, 0n, 0n, 0n]);
    expect(src.nextSync!(10)).toBe(1);
    expect(got).toEqual([0]);
    src.wake();
    expect(woken).toBe(1);
  });
});

describe('deliverPending', () => {
  it('rule 7: every one of 256 vectors is found, lowest first, including bits 31, 32 and 63', async () => {
    const { deliverPending } = await import('../../../src/apple/interrupt-source.js');
    const state = createAppleDeviceState(BDF, undefined);
    const ops = createAppleDeviceIoOps(state);
    const got: number[] = [];
    ops.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 256, sink: { deliver: (v) => got.push(v) } });
    const all = (1n << 64n) - 1n;
    expect(deliverPending(state, [all, all, all, all])).toBe(256);
    expect(got).toEqual(Array.from({ length: 256 }, (_, i) => i));
    got.length = 0;
    deliverPending(state, [(1n << 63n) | (1n << 32n) | (1n << 31n), 0n, 0n, 1n << 63n]);
    expect(got).toEqual([31, 32, 63, 255]);
  });
});
