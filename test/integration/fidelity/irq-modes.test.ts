/**
 * Issue 14, point 1 through the public API: interrupt modes follow the
 * function's capabilities (QEMU's pci.c on the same ops). Real device
 * workers on the sim backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/index.js';
import { rejection } from '../../shared/thrown.js';

const EDU = '0000:00:10.0';
const PIN_ONLY = '0000:00:12.0';
const MSIX = '0000:02:00.0';
const EDU_IRQ_RAISE = 0x60;
const EDU_IRQ_ACK = 0x64;

const machine = {
  functions: [
    { bdf: EDU, model: 'edu' as const },
    { bdf: PIN_ONLY, model: 'edu' as const, options: { msi: false } },
    { bdf: MSIX, model: 'msix' as const, options: { vectors: 256 } },
  ],
};

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});


describe('interrupt modes follow the capabilities (public API, sim)', () => {
  it('a function with only an interrupt pin attaches in INTx mode and its interrupt arrives as vector 0', async () => {
    sup = await createSupervisor({ machine, callTimeoutMs: 5000 });
    const h = await sup.attach(PIN_ONLY);
    expect(h.info.irqMode).toBe('intx');
    expect(h.info.irqVectors).toBe(1);
    // The seed's IRQ info still says MSI has the dext's one vector; the capability list decides.
    expect(h.info.irqs[1]).toMatchObject({ index: 1, count: 1 });
    const seq = h.irq.seq;
    h.bar(0)!.write32(EDU_IRQ_RAISE, 1);
    await h.irq.waitAsync(seq, 3000);
    expect(h.irq.drain()).toEqual([0]);
    h.bar(0)!.write32(EDU_IRQ_ACK, 1);
  });

  it('MSI for a function with an MSI capability, capped by Multiple Message Capable (edu: 1 vector)', async () => {
    sup = await createSupervisor({ machine, callTimeoutMs: 5000 });
    const h = await sup.attach(EDU);
    expect(h.info).toMatchObject({ irqMode: 'msi', irqVectors: 1 });
  });

  it("{ irq: 'msi' } on an MSI-X-only function is refused with a typed error naming what it has", async () => {
    sup = await createSupervisor({ machine, callTimeoutMs: 5000 });
    const e = await rejection(sup.attach(MSIX, { irq: 'msi' }));
    expect(e.code).toBe('PT_ERR_NOT_SUPPORTED');
    expect(e.errno).toBe('EINVAL');
    expect(e.message).toContain('interrupt mode msi refused: the function has no MSI capability; it offers MSI-X (256 vectors)');
    // Nothing is left attached; the default mode still works.
    expect(sup.list()).toEqual([]);
    const h = await sup.attach(MSIX);
    expect(h.info).toMatchObject({ irqMode: 'msix', irqVectors: 256 });
  });

  it("{ irq: 'msix' } and { irq: 'msi' } on the pin-only function are refused; { irq: 'intx' } on edu is taken", async () => {
    sup = await createSupervisor({ machine, callTimeoutMs: 5000 });
    const e = await rejection(sup.attach(PIN_ONLY, { irq: 'msix' }));
    expect(e.message).toContain('the function has no MSI-X capability; it offers INTx (1 vector)');
    expect((await rejection(sup.attach(PIN_ONLY, { irq: 'msi' }))).message).toContain('no MSI capability; it offers INTx (1 vector)');
    const h = await sup.attach(EDU, { irq: 'intx' });
    expect(h.info).toMatchObject({ irqMode: 'intx', irqVectors: 1 });
  });
});
