/**
 * MSI-X table and PBA semantics under random interleavings of entry mask,
 * unmask, function mask, enable / disable, host raises and polls, against a
 * reference model: every message the embedder gets is one the model
 * predicts, in the same order; none is lost (each raise of an enabled
 * vector is delivered exactly once, now or at its unmask), none duplicated.
 * Once over a fake device (many runs), once over a real sim worker (the
 * MSI-X function's doorbell raises the host vector; fewer runs).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor/supervisor.js';
import type { GuestPciFunction } from '../../src/guest/contract.js';
import { createGuestFunction } from '../../src/guest/function.js';
import { hostControlForHandle, openGuestFunction } from '../../src/guest/index.js';
import { GuestDriver } from '../unit/guest/helpers/driver-model.js';
import { fakeDevice } from '../unit/guest/helpers/fake-device.js';

const VECTORS = 12;

type Op =
  | { kind: 'raise'; v: number }
  | { kind: 'poll' }
  | { kind: 'mask'; v: number }
  | { kind: 'unmask'; v: number }
  | { kind: 'fmask' }
  | { kind: 'funmask' }
  | { kind: 'disable' }
  | { kind: 'enable' };

/** Raises may name a vector past the table (the host has more vectors than the guest's table shows). */
const vec = fc.integer({ min: 0, max: VECTORS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: VECTORS + 1 }).map((v) => ({ kind: 'raise' as const, v })) },
  { weight: 5, arbitrary: fc.constant({ kind: 'poll' as const }) },
  { weight: 4, arbitrary: vec.map((v) => ({ kind: 'mask' as const, v })) },
  { weight: 4, arbitrary: vec.map((v) => ({ kind: 'unmask' as const, v })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fmask' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'funmask' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'disable' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'enable' as const }) },
);

/** The reference: PCI MSI-X as msix.c has it, restated over plain sets. */
class Model {
  enabled = true;
  fmask = false;
  readonly masked = new Set<number>(Array.from({ length: VECTORS }, (_, v) => v));
  readonly pba = new Set<number>();
  readonly host = new Set<number>();
  readonly sent: number[] = [];
  dropped = 0;

  #open(v: number): boolean {
    return this.enabled && !this.fmask && !this.masked.has(v);
  }
  apply(o: Op): void {
    switch (o.kind) {
      case 'raise':
        this.host.add(o.v);
        return;
      case 'poll':
        this.#poll();
        return;
      case 'mask':
        this.masked.add(o.v);
        return;
      case 'unmask':
        this.masked.delete(o.v);
        if (this.#open(o.v) && this.pba.delete(o.v)) this.sent.push(o.v);
        return;
      case 'fmask':
        this.fmask = true;
        return;
      case 'funmask':
        this.fmask = false;
        this.#flush();
        return;
      case 'disable':
        // A mode change first delivers what the host raised before it, in the old mode.
        if (this.enabled) this.#poll();
        this.enabled = false;
        this.pba.clear();
        return;
      case 'enable':
        if (!this.enabled) this.#poll();
        this.enabled = true;
        this.#flush();
        return;
    }
  }
  #poll(): void {
    for (const v of [...this.host].sort((a, b) => a - b)) {
      if (!this.enabled || v >= VECTORS) this.dropped++;
      else if (this.#open(v)) this.sent.push(v);
      else this.pba.add(v);
    }
    this.host.clear();
  }
  #flush(): void {
    for (const v of [...this.pba].sort((a, b) => a - b)) {
      if (this.#open(v)) {
        this.pba.delete(v);
        this.sent.push(v);
      }
    }
  }
}

/** Applies an op through the guest-driver model; `raise` is left to the caller. */
function drive(drv: GuestDriver, o: Op): void {
  switch (o.kind) {
    case 'mask':
      return drv.msixMask(o.v, true);
    case 'unmask':
      return drv.msixMask(o.v, false);
    case 'fmask':
      return drv.msixFunctionMask(true);
    case 'funmask':
      return drv.msixFunctionMask(false);
    case 'disable':
      return drv.msixDisable();
    case 'enable': {
      const m = drv.msixInfo();
      drv.fn.configWrite(m.cap + 2, 2, drv.cfg16(m.cap + 2) | 0x8000);
      return;
    }
    default:
      return;
  }
}

/** Final check: every vector the model still holds in its PBA is pending in the guest's PBA, and only those. */
function checkPba(drv: GuestDriver, model: Model, entries: number): void {
  for (let v = 0; v < Math.min(entries, VECTORS); v++) expect(drv.msixPending(v), `PBA bit ${v}`).toBe(model.pba.has(v));
}

describe('guest MSI-X: no lost or duplicated interrupt under random interleavings', () => {
  it('over a fake device', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        // No interrupt pin: a host vector 0 while MSI-X is off has nowhere to go either (dropped, counted).
        const dev = fakeDevice({ pin: 0, bars: [{ index: 0, sizeBytes: 0x1000, type: 0 }], msix: { vectors: VECTORS, bar: 0, tableOffset: 0x800, pbaOffset: 0xc00 } });
        const sent: number[] = [];
        const ledger = new Ledger();
        const fn = createGuestFunction(dev, { sink: { msi: (_a, d) => (sent.push(d), ledger.sent(d)) } });
        const drv = setupGuest(fn, VECTORS);
        const model = new Model();
        for (const o of ops) {
          ledger.before(o);
          if (o.kind === 'raise') dev.line.raise(o.v);
          else if (o.kind === 'poll') fn.poll();
          else drive(drv, o);
          ledger.after(o);
          model.apply(o);
          expect(sent).toEqual(model.sent);
        }
        // Drain everything: unmask all, poll; the model and the layer agree and nothing is left behind.
        for (const o of [{ kind: 'enable' }, { kind: 'funmask' }, { kind: 'poll' }, ...Array.from({ length: VECTORS }, (_, v) => ({ kind: 'unmask', v }))] as Op[]) {
          ledger.before(o);
          if (o.kind === 'poll') fn.poll();
          else drive(drv, o);
          ledger.after(o);
          model.apply(o);
        }
        expect(sent).toEqual(model.sent);
        expect([...ledger.owed], 'raised, never sent').toEqual([]);
        expect(model.pba.size).toBe(0);
        checkPba(drv, model, VECTORS);
        expect(fn.stats).toMatchObject({ msiSent: model.sent.length, dropped: model.dropped });
      }),
      { numRuns: 400 },
    );
  });

  describe('over a real sim worker (MSI-X function, doorbell raises)', () => {
    let sup: Supervisor;
    beforeAll(async () => {
      sup = await createSupervisor({ callTimeoutMs: 5000 });
    });
    afterAll(async () => {
      await sup.close();
    });

    it('agrees with the model', async () => {
      const h = await sup.attach('0000:02:00.0', { id: 'msix' });
      const totals = { sent: 0, latched: 0 };
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
            await h.reset(); // a fresh device (doorbell counters) for each run
            const sent: number[] = [];
            const ledger = new Ledger();
            const fn = openGuestFunction(h.descriptor(), {
              regions: h.info.regions,
              control: hostControlForHandle(h),
              sink: { msi: (_a, d) => (sent.push(d), ledger.sent(d)) },
            });
            try {
              const drv = setupGuest(fn, 256);
              await fn.whenIdle();
              const model = new Model();
              for (const o of ops) {
                ledger.before(o);
                if (o.kind === 'raise') await doorbell(fn, drv, h.irq, o.v);
                else if (o.kind === 'poll') fn.poll();
                else drive(drv, o);
                // A guest enable or disable switches the host's mode through the control plane,
                // asynchronously: let it land, or a doorbell rung between the old mode's disable and
                // the new one's enable is raised in neither (the host drops it, as a real one would).
                if (o.kind === 'enable' || o.kind === 'disable') await fn.whenIdle();
                ledger.after(o);
                model.apply(o);
                expect(sent).toEqual(model.sent);
              }
              for (const o of [{ kind: 'enable' }, { kind: 'funmask' }, { kind: 'poll' }, ...Array.from({ length: VECTORS }, (_, v) => ({ kind: 'unmask', v }))] as Op[]) {
                ledger.before(o);
                if (o.kind === 'poll') fn.poll();
                else drive(drv, o);
                ledger.after(o);
                model.apply(o);
              }
              expect(sent).toEqual(model.sent);
              expect([...ledger.owed], 'raised, never sent').toEqual([]);
              checkPba(drv, model, 256);
              await fn.whenIdle();
              expect(fn.stats.controlErrors).toBe(0);
              totals.sent += fn.stats.msiSent;
              totals.latched += fn.stats.latched;
            } finally {
              fn.close();
            }
          }),
          { numRuns: 25 },
        );
      } finally {
        await h.detach();
      }
      // The runs did exercise both paths: messages sent at poll and released from the PBA.
      expect(totals.sent).toBeGreaterThan(0);
      expect(totals.latched).toBeGreaterThan(0);
    });
  });
});

/** Sizes and maps BAR0, enables MSI-X with data = vector, every entry masked. */
function setupGuest(fn: GuestPciFunction, entries: number): GuestDriver {
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
  drv.msixEnable(Math.min(entries, VECTORS), 0xfee0_0000n, 0);
  return drv;
}

/**
 * Rings the MSI-X function's doorbell for vector `v` and waits until the host
 * raise is on the line (or counted as coalesced). With MSI-X off the host is
 * in INTx mode (once the switch has landed) and the doorbell pulses the pin:
 * vector 0 on the line.
 */
async function doorbell(fn: GuestPciFunction, drv: GuestDriver, irq: { counters(): { raised: number } }, v: number): Promise<void> {
  const before = irq.counters().raised;
  fn.mmioWrite(drv.at(0, 0x08), 4, v);
  const deadline = Date.now() + 5000;
  while (irq.counters().raised === before) {
    if (Date.now() > deadline) throw new Error(`doorbell ${v} never reached the IRQ line`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * The two invariants, independent of how masking works: a message is only
 * ever sent for a vector the guest is owed (raised while MSI-X was enabled,
 * not yet sent: none duplicated, none invented), and nothing is owed once
 * everything is unmasked and polled (none lost). Disabling MSI-X forgives
 * what is owed (the PBA is cleared).
 */
class Ledger {
  readonly #host = new Set<number>();
  readonly owed = new Set<number>();
  enabled = true;
  sent(v: number): void {
    expect(this.owed.has(v), `message for vector ${v} that nothing raised since its last message`).toBe(true);
    this.owed.delete(v);
  }
  before(o: Op): void {
    if (o.kind === 'raise') this.#host.add(o.v);
    // A poll, and a mode change (which delivers the host line first), settle what the host raised.
    if (o.kind === 'poll' || (o.kind === 'disable' && this.enabled) || (o.kind === 'enable' && !this.enabled)) {
      for (const v of this.#host) if (this.enabled && v < VECTORS) this.owed.add(v);
      this.#host.clear();
    }
  }
  /** After the op ran (a disable's own drain has delivered what it could). */
  after(o: Op): void {
    if (o.kind === 'disable') {
      this.enabled = false;
      this.owed.clear();
    }
    if (o.kind === 'enable') this.enabled = true;
  }
}
