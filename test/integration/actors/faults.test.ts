/**
 * Dext faults injected at each lifecycle step (the sim's failSelector /
 * failMap, applied by the sim worker backend at creation through the
 * test-only `backendOptions.faults` / `mapFaults`), and a device that falls
 * off the bus while attached.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import { IOReturn, Selector } from '../../../src/dext/contract.js';
import { PassthroughError } from '../../../src/errors.js';
import { IRQ_WAIT_MS, eventually } from '../../shared/deadline.js';

const EDU_A = '0000:00:10.0';
const EDU_B = '0000:00:11.0';
const MSIX = '0000:02:00.0';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

function clean(s: Supervisor, owners: string[] = []): void {
  const r = s.debug.resources();
  expect(r).toMatchObject({ workers: owners.length, pendingCalls: 0 });
  expect(r.owners.sort()).toEqual([...owners].sort());
}

describe('faults at each attach step (sim, real workers)', () => {
  it.each([
    ['Claim', 'PT_ERR_CLAIM_FAILED', 'connecting'],
    ['SetupInterrupts', 'PT_ERR_IRQ_SETUP', 'connecting'],
  ] as const)('%s failing → attach rejects %s, nothing leaks, a sibling is unaffected', async (selector, code, step) => {
    sup = await createSupervisor({
      backendOptions: { faults: [{ bdf: EDU_A, selector, kernReturn: IOReturn.NotPermitted }] },
    });
    const sibling = await sup.attach(EDU_B);
    const err = await sup.attach(EDU_A).catch((e: unknown) => e);
    expect(PassthroughError.is(err, code)).toBe(true);
    expect((err as PassthroughError).context).toMatchObject({ bdf: EDU_A, step });
    if (selector === 'Claim') expect((err as PassthroughError).kernReturn).toBe(IOReturn.NotPermitted);
    clean(sup, [EDU_B]);
    expect(sup.list().map((d) => d.bdf)).toEqual([EDU_B]);
    expect(sibling.config.read16(0)).toBe(0x1234);
    // The worker reported its teardown: the failed connect left no reference behind.
    expect(Object.values(sup.debug.resources().teardowns)).toEqual([
      expect.objectContaining({ connectionRefs: 0, mappedBars: 0, state: 'stopped' }),
    ]);
  });

  it('a BAR map failing → attach rejects PT_ERR_IO in the mapping step', async () => {
    sup = await createSupervisor({
      backendOptions: { mapFaults: [{ bdf: MSIX, type: 3 /* BAR2 */, kernReturn: IOReturn.NoMemory }] },
    });
    const err = await sup.attach(MSIX).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PT_ERR_IO', context: { bdf: MSIX, step: 'mapping' } });
    clean(sup);
    expect(sup.debug.resources().teardowns.dev0).toMatchObject({ connectionRefs: 0, mappedBars: 0 });
  });

  it('GetBARInfo failing → the BAR reads as size 0 and is not mapped (spec rule 2), attach still succeeds', async () => {
    sup = await createSupervisor({
      backendOptions: { faults: [{ bdf: MSIX, selector: Selector.GetBARInfo, kernReturn: IOReturn.Error }] },
    });
    const h = await sup.attach(MSIX);
    expect(h.info.regions.slice(0, 6).every((r) => r.sizeBytes === 0)).toBe(true);
    expect(h.bar(0)).toBeUndefined();
    expect(h.bar(2)).toBeUndefined();
    expect(h.config.read16(0)).toBe(0x1234);
  });

  it('ResetDevice failing → reset rejects PT_ERR_IO and the device is faulted with that cause', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU_A);
    await sup.debug.injectFault(h.id, {
      kind: 'fail-selector',
      selector: Selector.ResetDevice,
      kernReturn: IOReturn.Error,
    });
    await expect(h.reset()).rejects.toMatchObject({ code: 'PT_ERR_IO' });
    await eventually(() => expect(sup!.list()[0]).toMatchObject({ state: 'faulted', cause: { code: 'PT_ERR_IO' } }));
  });

  it('a device that falls off the bus is faulted with PT_ERR_DEVICE_GONE; the others keep working', async () => {
    sup = await createSupervisor({ presenceCheckMs: 0 });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const b = await sup.attach(EDU_B, { id: 'b' });
    const faulted = new Promise<{ deviceId: string; cause: { code: string; context: Record<string, unknown> } }>((resolve) =>
      sup!.on('faulted', resolve as never),
    );
    await sup.debug.injectFault('a', { kind: 'fall-off-bus' });
    const ev = await faulted;
    expect(ev).toMatchObject({ deviceId: 'a', cause: { code: 'PT_ERR_DEVICE_GONE', context: { bdf: EDU_A } } });
    expect(sup.list().find((d) => d.id === 'a')).toMatchObject({ state: 'faulted', cause: { code: 'PT_ERR_DEVICE_GONE' } });
    await expect(a.reset()).rejects.toMatchObject({ code: 'PT_ERR_INVALID_STATE' });
    // b is untouched
    expect(sup.list().find((d) => d.id === 'b')).toMatchObject({ state: 'ready' });
    const seq = b.irq.seq;
    b.bar(0)!.write32(0x60, 1);
    await b.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(b.irq.drain()).toEqual([0]);
    await a.detach();
    expect(sup.debug.resources().teardowns.a).toMatchObject({ connectionRefs: 0, mappedBars: 0 });
  });

  it('the presence poll notices a lost device on its own', async () => {
    sup = await createSupervisor({ presenceCheckMs: 20 });
    const a = await sup.attach(EDU_A, { id: 'a' });
    const faulted = new Promise((resolve) => sup!.on('faulted', resolve));
    await sup.debug.injectFault('a', { kind: 'fall-off-bus', check: false });
    expect(sup.list()[0]!.state).toBe('ready'); // not noticed yet
    await expect(faulted).resolves.toMatchObject({ deviceId: 'a', cause: { code: 'PT_ERR_DEVICE_GONE' } });
    void a;
  });
});
