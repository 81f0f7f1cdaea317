import { afterEach, describe, expect, it } from 'vitest';
import { IOReturn, MemoryType } from '../../../src/dext/contract.js';
import { DoorbellReg, createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { DUAL0, EDU0, MSIX } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());

function ready(bdf: string) {
  const c = dext.connect(bdf as Bdf);
  c.claim();
  c.setupInterrupts();
  return c;
}

describe('IRQ page protocol (spec §4)', () => {
  it('msix: raising vectors in all four bitmap words through the doorbell', () => {
    dext = createSimDext();
    const c = ready(MSIX);
    const bar0 = c.mapMemory(MemoryType.Bar0);
    for (const v of [0, 63, 64, 130, 255]) bar0.write(DoorbellReg.DOORBELL, 4, BigInt(v));
    expect(c.checkInterrupt()).toEqual([(1n << 63n) | 1n, 1n, 1n << 2n, 1n << 63n]);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]); // read and clear
    expect(bar0.read(DoorbellReg.RAISE_COUNT, 4)).toBe(5n);
    expect(bar0.read(DoorbellReg.LAST_VECTOR, 4)).toBe(255n);
    bar0.write(DoorbellReg.DOORBELL, 4, 256n); // past the table
    expect(bar0.read(DoorbellReg.ERRORS, 4)).toBe(1n);
  });

  it('masked interrupts are dropped, not latched', () => {
    dext = createSimDext();
    const c = ready(MSIX);
    c.setIrqMask([~2n & 0xffffffffffffffffn, 0n, 0n, 0n]);
    dext.model(MSIX).raise(1);
    dext.model(MSIX).raise(64);
    dext.model(MSIX).raise(2);
    expect(c.checkInterrupt()).toEqual([4n, 0n, 0n, 0n]);
    c.setIrqMask([~0n & 0xffffffffffffffffn, 1n, 0n, 0n]);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]); // unmasking does not bring them back
    dext.model(MSIX).raise(64);
    expect(c.checkInterrupt()).toEqual([0n, 1n, 0n, 0n]);
  });

  it('a vector raised twice before a check coalesces into one bit', () => {
    dext = createSimDext();
    const c = ready(MSIX);
    dext.model(MSIX).raise(7);
    dext.model(MSIX).raise(7);
    expect(c.checkInterrupt()).toEqual([128n, 0n, 0n, 0n]);
  });

  it('WaitInterrupt is one-shot and completes at once when something is pending', async () => {
    dext = createSimDext();
    const c = ready(MSIX);
    const w1 = c.waitInterrupt();
    let settled = false;
    void w1.completion.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    dext.model(MSIX).raise(3);
    expect(await w1.completion).toBe(IOReturn.Success);
    // One-shot: the next raise has no stored completion until re-armed; the bit is pending.
    dext.model(MSIX).raise(4);
    const w2 = c.waitInterrupt();
    expect(await w2.completion).toBe(IOReturn.Success); // pending → completes at once
    expect(c.checkInterrupt()).toEqual([0b11000n, 0n, 0n, 0n]);
  });

  it('a newer wait releases the older one; cancel settles Aborted', async () => {
    dext = createSimDext();
    const c = ready(MSIX);
    const older = c.waitInterrupt();
    const newer = c.waitInterrupt();
    expect(await older.completion).toBe(IOReturn.Aborted);
    newer.cancel();
    newer.cancel();
    expect(await newer.completion).toBe(IOReturn.Aborted);
    const third = c.waitInterrupt();
    dext.model(MSIX).raise(0);
    expect(await third.completion).toBe(IOReturn.Success);
    third.cancel(); // after settling: no effect
  });

  it('interrupts reach every client with interrupts set up; a client without setup is not touched', () => {
    dext = createSimDext();
    const a = ready(MSIX);
    const b = dext.connect(MSIX as Bdf);
    b.claim();
    const cc = dext.connect(MSIX as Bdf);
    cc.setupInterrupts();
    dext.model(MSIX).raise(9);
    expect(a.checkInterrupt()[0]).toBe(1n << 9n);
    expect(cc.checkInterrupt()[0]).toBe(1n << 9n);
    expect(() => b.checkInterrupt()).toThrowError(expect.objectContaining({ code: 'PT_ERR_NOT_READY' }));
  });

  it('MSI-X per-entry mask: the device latches into the PBA and delivers on unmask', () => {
    dext = createSimDext();
    const c = ready(MSIX);
    const bar0 = c.mapMemory(MemoryType.Bar0);
    const ctrl = 0x4000 + 16 * 5 + 12;
    bar0.write(ctrl, 4, 1n); // mask entry 5
    dext.model(MSIX).raise(5);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    expect(dext.model(MSIX).msixPending()[0]).toBe(32n);
    expect(bar0.read(0x8000, 8)).toBe(32n);
    bar0.write(ctrl, 4, 0n);
    expect(c.checkInterrupt()).toEqual([32n, 0n, 0n, 0n]);
    expect(bar0.read(0x8000, 8)).toBe(0n);
  });

  it('MSI without bus master delivers nothing', () => {
    dext = createSimDext();
    const c = ready(DUAL0);
    c.configWrite(4, 2, 0x0002);
    dext.model(DUAL0).raise(0);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
  });

  it('dual: MSI with 4 messages; vector ≥ enabled messages is dropped', () => {
    dext = createSimDext();
    const c = ready(DUAL0);
    const bar0 = c.mapMemory(MemoryType.Bar0);
    bar0.write(DoorbellReg.DOORBELL, 4, 3n);
    expect(c.checkInterrupt()).toEqual([8n, 0n, 0n, 0n]);
    expect(bar0.read(DoorbellReg.ID, 4)).toBe(0x5a020000n);
  });

  it('INTx fallback: with MSI disabled edu asserts pin A; COMMAND.INTX_DISABLE holds it back', () => {
    dext = createSimDext();
    const c = ready(EDU0);
    c.configWrite(0x42, 2, 0); // guest disables MSI
    const bar0 = c.mapMemory(MemoryType.Bar0);
    bar0.write(0x60, 4, 1n);
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    expect(c.configRead(6, 2) & 0x8).toBe(0x8); // STATUS.INTERRUPT while asserted
    bar0.write(0x64, 4, 1n);
    expect(c.configRead(6, 2) & 0x8).toBe(0);
    c.configWrite(4, 2, 0x0406);
    bar0.write(0x60, 4, 2n);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    c.configWrite(4, 2, 0x0006); // re-enabling INTx with the line high delivers
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
  });

  it('close tears the IRQ state down: pending zeroed, page gone', async () => {
    dext = createSimDext();
    const c = ready(MSIX);
    dext.model(MSIX).raise(1);
    const page = c.mapMemory(MemoryType.IrqPage);
    expect(page.read(0, 8)).toBe(2n);
    c.close();
    expect(new BigUint64Array(page.buffer!)[0]).toBe(0n);
  });
});
