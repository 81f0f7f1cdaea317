/**
 * The iokit IRQ pump thread (src/actors/irq-pump.worker.ts over
 * src/iokit/pump-source.ts) against the C stand-in of IOKit: the
 * device side is a real client + apple interrupt source as the iokit device
 * worker builds them; the hand-off gives the dext's one completion to a
 * pump thread attached to the same connection, which raises the IrqLine in
 * the shared control block. Needs the compiled entry (npx tsc -p tsconfig.json).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startIrqPumpThread } from '../../src/actors/worker/irq-pump-thread.js';
import type { PassthroughError } from '../../src/errors.js';
import { createDeviceControlBlock, IrqLine } from '../../src/fastpath/index.js';
import { createAppleDeviceState } from '../../src/apple/device-state.js';
import { createAppleInterruptSource } from '../../src/apple/interrupt-source.js';
import { createIokitDextDriver, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { createIokitPumpSource, iokitPumpDescriptor } from '../../src/iokit/pump-source.js';
import { toBdf } from '../../src/types.js';
import { useStandin } from './helpers.js';
import { nextVectors } from '../shared/irq.js';
import { wakeIrqPump } from '../../src/actors/worker/irq-pump-thread.js';

const s = useStandin();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The device side: connected, claimed, interrupts set up, MSI vectors `inUse` routed (nrVectors 4), source armed. */
function device(opts: { mode?: 'msi' | 'intx'; inUse?: number[] } = {}) {
  const client = createIokitDextDriver({ libraries: s.libraries }).connect(toBdf('04:00.0')) as IokitDextClient;
  client.claim();
  expect(client.setupInterrupts()).toBe(8);
  const state = createAppleDeviceState(client.bdf, client);
  const source = createAppleInterruptSource(state);
  const sink = { deliver(): void {} };
  state.irq.mode = opts.mode ?? 'msi';
  state.irq.nrVectors = opts.mode === 'intx' ? 1 : 4;
  for (const v of opts.inUse ?? [0, 1]) {
    state.irq.inUse[v] = true;
    state.irq.sinks[v] = sink;
  }
  cleanups.push(() => {
    source.close();
    client.close();
  });
  return { client, state, source };
}

/** Hands `dev` off to a pump thread; returns it with the line it raises and the faults it reported. */
async function pump(dev: ReturnType<typeof device>, waitSliceMs = 30_000) {
  const desc = iokitPumpDescriptor(dev.state, dev.source, dev.client.connection, s.libraries)!;
  expect(desc).toBeDefined();
  const control = createDeviceControlBlock();
  const line = new IrqLine(control);
  const faults: PassthroughError[] = [];
  const thread = startIrqPumpThread({
    control,
    descriptor: { backend: 'iokit', options: { ...desc } },
    wake: (wakePort) => wakeIrqPump(dev.source, wakePort),
    onFault: (e) => faults.push(e),
    waitSliceMs,
  });
  cleanups.push(() => thread.stop());
  await thread.ready;
  return { thread, line, faults };
}

/** Resolves when the stand-in holds an armed completion (the pump thread is in, or entering, mach_msg). */
async function armed(): Promise<void> {
  for (let i = 0; i < 5000 && !s.ctl.deviceState(4).completionArmed; i++) await new Promise((r) => setImmediate(r));
  expect(s.ctl.deviceState(4).completionArmed).toBe(true);
}

describe('iokitPumpDescriptor (device-worker side of the hand-off)', () => {
  it('snapshots rule 7 (in use and below nr_vectors; INTx as vector 0) and stops the device source from waiting', async () => {
    const dev = device({ inUse: [0, 2, 5] }); // 5 ≥ nrVectors 4: never delivered
    expect(s.ctl.deviceState(4).completionArmed).toBe(true); // the source armed at creation
    const desc = iokitPumpDescriptor(dev.state, dev.source, dev.client.connection, s.libraries);
    expect(desc).toEqual({ connection: dev.client.connection, bdf: '0000:04:00.0', libraries: s.libraries, mode: 'msi', nrVectors: 4, vectors: [0, 2] });
    expect(dev.source.handedOff).toBe(true);
    await expect(dev.source.next()).rejects.toMatchObject({ code: 'PT_ERR_INVALID_STATE' });
    expect(() => dev.source.nextSync!(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_INVALID_STATE' }));
    expect(s.ctl.deviceState(4).completionArmed).toBe(true); // the dext's completion stays until the pump re-arms (replaces) it
  });

  it('INTx: vector 0, without libraries when none were set', () => {
    const dev = device({ mode: 'intx', inUse: [0] });
    dev.source.handOff();
    expect(iokitPumpDescriptor(dev.state, dev.source, dev.client.connection, undefined)).toEqual({
      connection: dev.client.connection,
      bdf: '0000:04:00.0',
      mode: 'intx',
      nrVectors: 1,
      vectors: [0],
    });
  });

  it('returns undefined when nothing is routed (no pump)', () => {
    const dev = device({ inUse: [] });
    expect(iokitPumpDescriptor(dev.state, dev.source, dev.client.connection, s.libraries)).toBeUndefined();
    expect(dev.source.handedOff).toBe(true);
  });
});

describe('createIokitPumpSource (in this thread)', () => {
  it('blocks in the native wait, delivers by the snapshot (INTx: any bit is vector 0), and its close() leaves the connection open', () => {
    const dev = device({ mode: 'intx', inUse: [0] });
    const desc = iokitPumpDescriptor(dev.state, dev.source, dev.client.connection, s.libraries)!;
    const got: number[] = [];
    const src = createIokitPumpSource(desc, { deliver: (v) => got.push(v) });
    expect(src.nextSync(0)).toBe(0); // nothing pending: times out
    expect(s.ctl.raise(4, 5)).toBe(true);
    expect(src.nextSync(1000)).toBe(1);
    expect(got).toEqual([0]);
    src.wake();
    expect(src.nextSync(1000)).toBe(0); // a queued wake ends the next wait at once
    src.close();
    expect(dev.client.getIdentity().bus).toBe(4); // the device worker's connection is intact
  });
});

describe('iokit IRQ pump thread', () => {
  it('an interrupt raised in the stand-in arrives on the IrqLine through the thread', async () => {
    const dev = device();
    const { thread, line, faults } = await pump(dev);
    expect(typeof thread.wakePort).toBe('number');
    for (const v of [1, 0, 1]) {
      const seq = line.seq;
      await armed();
      expect(s.ctl.raise(4, v)).toBe(true);
      expect(nextVectors(line, seq)).toEqual([v]);
    }
    expect(faults).toEqual([]);
  });

  it('a masked, a not-in-use and an out-of-range vector are not delivered', async () => {
    const dev = device({ inUse: [0, 1] }); // vector 3 < nrVectors but not in use; 5 ≥ nrVectors
    dev.client.setIrqMask([0xfdn, 0n, 0n, 0n]); // vector 1 masked in the dext
    const { line, faults } = await pump(dev);
    const seq = line.seq;
    await armed();
    expect(s.ctl.raise(4, 1)).toBe(false); // masked: the dext does not latch it
    expect(s.ctl.raise(4, 3)).toBe(true); // latched, but dropped by the pump (not in use)
    expect(s.ctl.raise(4, 5)).toBe(true); // latched, but dropped (≥ nr_vectors)
    expect(s.ctl.raise(4, 0)).toBe(true);
    const got = nextVectors(line, seq);
    // Whatever CheckInterrupt batches the pump saw, only vector 0 reached the line.
    expect(got).toEqual([0]);
    expect(line.drain()).toEqual([]);
    expect(faults).toEqual([]);
  });

  it('stop while the thread is blocked in mach_msg returns promptly and the thread exits 0', async () => {
    const dev = device();
    const { thread, faults } = await pump(dev, 30_000); // a lost wake would take 30 s
    await armed();
    const t0 = performance.now();
    await thread.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await thread.exited).toBe(0);
    expect(faults).toEqual([]);
    // The thread dropped only its own port: the device worker's connection still answers.
    expect(dev.client.getIdentity().bus).toBe(4);
  });
});
