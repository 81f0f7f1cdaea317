import { afterEach, describe, expect, it } from 'vitest';
import { IOReturn, MemoryType } from '../../../src/dext/contract.js';
import { createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { SimDextClientImpl } from '../../../src/sim/client.js';
import type { Bdf } from '../../../src/types.js';
import { EDU0, expectKr } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());
const open = () => dext.connect(EDU0 as Bdf) as SimDextClientImpl;

describe('claim and refcount (spec §5)', () => {
  it('the first claim opens and sets COMMAND |= 0x06 only if changed; later claims are secondary', () => {
    dext = createSimDext();
    const fn = dext.model(EDU0);
    const a = open();
    const b = open();
    a.configWrite(4, 2, 0x0002); // memory already on
    a.claim();
    expect(fn.config[4]! & 0x07).toBe(0x06);
    expect(a.isOpener).toBe(true);
    b.configWrite(4, 2, 0x0000); // someone clears COMMAND; a secondary claim does not touch it
    b.claim();
    expect(fn.config[4]! & 0x07).toBe(0x00);
    expect(b.isOpener).toBe(false);
    expect(fn.refs).toBe(2);
    expect(fn.providerClaimed).toBe(true);
  });

  it('a secondary close only drops its ref', () => {
    dext = createSimDext();
    const fn = dext.model(EDU0);
    const a = open();
    const b = open();
    a.claim();
    b.claim();
    b.close();
    expect(fn.refs).toBe(1);
    expect(fn.providerClaimed).toBe(true);
    expect(a.isOpener).toBe(true);
    a.close();
    expect(fn.refs).toBe(0);
    expect(fn.providerClaimed).toBe(false);
  });

  it('an unclaimed client closing changes nothing', () => {
    dext = createSimDext();
    const fn = dext.model(EDU0);
    const a = open();
    const b = open();
    a.claim();
    b.close();
    expect(fn.refs).toBe(1);
    expect(fn.providerClaimed).toBe(true);
  });

  it('DEVIATION: the opener closing hands the opener role to the oldest remaining claimed client', () => {
    dext = createSimDext();
    const fn = dext.model(EDU0);
    const a = open();
    const b = open();
    const c = open();
    const unclaimed = open();
    a.claim();
    c.claim();
    b.claim(); // b connected before c but claimed after it: "oldest" is by connection order
    a.close();
    expect(fn.providerClaimed).toBe(true);
    expect(fn.refs).toBe(2);
    expect(b.isOpener).toBe(true);
    // The others keep working: gated selectors still pass the gate.
    expect(c.setupInterrupts()).toBe(1);
    expect(() => unclaimed.allocateDmaBuffer(4096n, 0n)).not.toThrow();
    b.close();
    expect(c.isOpener).toBe(true);
    expect(fn.refs).toBe(1);
    c.close();
    expect(fn.providerClaimed).toBe(false);
    expectKr(() => unclaimed.allocateDmaBuffer(4096n, 0n), IOReturn.NotOpen);
    // A fresh claim reopens.
    unclaimed.claim();
    expect(unclaimed.isOpener).toBe(true);
  });

  it('Stop releases interrupts, DMA regions, the DMA buffer and the claim', async () => {
    dext = createSimDext();
    const fn = dext.model(EDU0);
    const a = open();
    a.claim();
    a.setupInterrupts();
    const wait = a.waitInterrupt();
    const buf = new SharedArrayBuffer(16384);
    const va = dext.hostMemory.expose(buf);
    a.registerDmaRegion(1n, va, 16384n);
    a.allocateDmaBuffer(4096n, 0n);
    const bar = a.mapMemory(MemoryType.Bar0);
    expect(fn.dartMappings).toBe(2);
    a.close();
    expect(await wait.completion).toBe(IOReturn.Aborted);
    expect(fn.dartMappings).toBe(0);
    expect(fn.refs).toBe(0);
    expect(fn.clientCount).toBe(0);
    expect(() => bar.read(0, 4)).toThrowError(expect.objectContaining({ code: 'PT_ERR_BAR_RELEASED' }));
  });

  it('a failed claim (injected Open failure) leaves nothing claimed', () => {
    dext = createSimDext();
    const a = open();
    dext.faults.failSelector(EDU0, 1, IOReturn.NotPermitted, { count: 1 });
    expectKr(() => a.claim(), IOReturn.NotPermitted);
    expect(dext.model(EDU0).refs).toBe(0);
    a.claim();
    expect(dext.model(EDU0).refs).toBe(1);
  });
});
