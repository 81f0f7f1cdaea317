/**
 * The public VFIO-level view of an attached function and what hangs off it,
 * through the public API on real sim workers: device/region/IRQ info,
 * setIrqs, region access, the migration refusal; the one shared dext
 * connection per function with its refcount in inspect(); extra user
 * clients with secondary claims; the DMA companion; a hot reset reaching
 * the other function of a slot while an FLR stays with its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, IrqIndex, PassthroughError, RegionFlags, type Supervisor } from '../../../src/index.js';
import { DmaCmd, DmaCmdPage, DmaReg, DmaStatus } from '../../../src/apple/dma-companion.js';
import { IRQ_WAIT_MS } from '../../shared/deadline.js';
import { rejection } from '../../shared/thrown.js';

const MSIX = '0000:02:00.0';
const EDU = '0000:00:10.0';
const SLOT_F0 = '0000:03:00.0';
const SLOT_F1 = '0000:03:00.1';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});


describe('the VFIO-level view', () => {
  it('answers device, region and IRQ info as the original synthesises them', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(MSIX);
    expect(await h.vfio.deviceInfo()).toEqual({ flags: 3, numRegions: 9, numIrqs: 5 });
    const bar2 = await h.vfio.regionInfo(2);
    expect(bar2).toMatchObject({ index: 2, sizeBytes: 1024n * 1024n, offset: 2n << 20n });
    expect(bar2.flags & RegionFlags.MMAP).toBe(RegionFlags.MMAP);
    expect(await h.vfio.regionInfo(7)).toMatchObject({ sizeBytes: 4096n, offset: 7n << 20n });
    expect((await rejection(h.vfio.regionInfo(9))).context.errno).toBe('EINVAL');
    expect((await h.vfio.irqInfo(IrqIndex.MSIX)).count).toBe(h.info.irqVectors);
    expect(await h.vfio.irqInfo(IrqIndex.ERR)).toEqual({ index: IrqIndex.ERR, flags: 0, count: 0 });
    expect((await rejection(h.vfio.irqInfo(5))).context.errno).toBe('EINVAL');
    expect((await rejection(h.vfio.regionInfo(-1))).code).toBe('PT_ERR_INVALID_ARGUMENT');
  });

  it('reads config in blocks clamped at 4096, writes through the filter, refuses migration with the original text', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU);
    const head = await h.vfio.regionRead(7, 0, 64);
    expect(head.length).toBe(64);
    expect(head[0] | (head[1]! << 8)).toBe(0x1234);
    const tail = await h.vfio.regionRead(7, 4092, 8);
    expect([...tail.subarray(4)]).toEqual([0, 0, 0, 0]);
    // STATUS writes are dropped but accepted (rule 5): the size comes back.
    expect(await h.vfio.regionWrite(7, 6, new Uint8Array([0xff, 0xff]))).toBe(2);
    // A BAR access through the view: edu's liveness register inverts what is written.
    await h.vfio.regionWrite(0, 4, new Uint8Array([0x0f, 0, 0, 0]));
    expect([...(await h.vfio.regionRead(0, 4, 4))]).toEqual([0xf0, 0xff, 0xff, 0xff]);
    expect((await rejection(h.vfio.regionRead(0, 0x100000, 4))).context.errno).toBe('EINVAL');
    const m = await rejection(h.vfio.startMigration());
    expect(m.code).toBe('PT_ERR_NOT_SUPPORTED');
    expect(m.message).toMatch(/vfio-apple does not support migration/);
  });

  it('setIrqs switches modes and vector counts after attach; interrupts follow', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(MSIX);
    const regs = h.bar(0)!;
    // Vectors are enabled incrementally (QEMU adds MSI-X vectors as the guest unmasks them):
    // to shrink, disable the index, then enable what is wanted.
    await h.vfio.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 0 });
    expect(h.info).toMatchObject({ irqMode: 'none', irqVectors: 0 });
    await h.vfio.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 0, count: 4 });
    expect(h.info).toMatchObject({ irqMode: 'msix', irqVectors: 4 });
    let seq = h.irq.seq;
    regs.write32(0x08, 7); // not enabled: the dext drops it (masked interrupts are not latched)
    regs.write32(0x08, 2);
    await h.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(h.irq.drain()).toEqual([2]);
    await h.vfio.setIrqs({ index: IrqIndex.MSIX, action: 'trigger', start: 4, count: 4 });
    expect(h.info).toMatchObject({ irqMode: 'msix', irqVectors: 8 });
    seq = h.irq.seq;
    regs.write32(0x08, 7);
    await h.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(h.irq.drain()).toEqual([7]);
    expect((await rejection(h.vfio.setIrqs({ index: IrqIndex.MSIX, action: 'bogus' as never, start: 0, count: 1 }))).code).toBe(
      'PT_ERR_INVALID_ARGUMENT',
    );
  });
});

describe('one dext connection per function, shared', () => {
  it('shows its refcount and holders in inspect(); references come and go; detach closes it', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU, { id: 'edu' });
    // Connection reports travel on the worker's event stream, beside the attach reply: poll.
    await expect.poll(() => sup!.inspect().connections).toEqual([{ bdf: EDU, deviceId: 'edu', refs: 1, holders: ['device'] }]);
    const a = await h.dext({ shared: true, holder: 'tool' });
    const b = await h.dext({ shared: true });
    await expect.poll(() => sup!.inspect().connections[0]?.refs).toBe(3);
    expect(sup.inspect().connections[0]!.holders).toEqual(['device', 'tool', 'client']);
    // The same connection: a selector through it sees the attached function.
    expect(await a.call('configRead', 0, 2)).toBe(0x1234);
    await a.close();
    await a.close(); // idempotent
    await expect.poll(() => sup!.inspect().connections[0]?.refs).toBe(2);
    await b.close();
    await expect.poll(() => sup!.inspect().connections[0]?.refs).toBe(1);
    await h.detach();
    expect(sup.inspect().connections).toEqual([]);
    expect(sup.debug.resources().teardowns.edu).toMatchObject({ connectionRefs: 0 });
  });

  it('several clients of one function: an own user client claims as a secondary and keeps working', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU);
    const own = await h.dext();
    expect(own.shared).toBe(false);
    await own.call('claim'); // secondary: the container's connection is the opener
    expect(await own.call('configRead', 0, 4)).toBe(0x11e81234);
    expect(await own.call('identity')).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e8 });
    // Own clients do not count on the shared connection.
    await expect.poll(() => sup!.inspect().connections[0]?.refs).toBe(1);
    const bad = await rejection(own.call('configRead', 0));
    expect(bad.code).toBe('PT_ERR_INVALID_ARGUMENT');
    await own.close();
  });

  it('the DMA companion takes a reference and maps guest RAM through the shared connection', async () => {
    sup = await createSupervisor();
    const ram = new SharedArrayBuffer(1 << 20);
    const base = 0x4000_0000n;
    const h = await sup.attach(EDU, { id: 'edu', dmaCompanion: { guestRam: [{ gpa: base, buffer: ram, offsetBytes: 0, lengthBytes: ram.byteLength }] } });
    await expect.poll(() => sup!.inspect().connections[0]).toMatchObject({ refs: 2, holders: ['device', 'companion'] });
    expect(h.companion.read32(DmaReg.VERSION)).toBe(2);
    // One MAP request in guest memory: command page at +0, request at +0x100, response at +0x200.
    const dv = new DataView(ram);
    dv.setUint32(DmaCmdPage.TYPE, DmaCmd.MAP, true);
    dv.setUint32(DmaCmdPage.COUNT, 1, true);
    dv.setBigUint64(DmaCmdPage.REQ_GPA, base + 0x100n, true);
    dv.setBigUint64(DmaCmdPage.RESP_GPA, base + 0x200n, true);
    dv.setBigUint64(0x100, base + 0x10000n, true);
    dv.setUint32(0x108, 0x4000, true);
    h.companion.write32(DmaReg.CMD_GPA_LO, Number(base & 0xffffffffn));
    h.companion.write32(DmaReg.CMD_GPA_HI, Number(base >> 32n));
    h.companion.write32(DmaReg.DOORBELL, 1);
    expect(h.companion.read32(DmaReg.STATUS)).toBe(DmaStatus.OK);
    expect(dv.getUint32(DmaCmdPage.STATUS, true)).toBe(DmaStatus.OK);
    expect(dv.getBigUint64(0x200, true)).toBe(base + 0x10000n);
    expect(dv.getBigUint64(0x208, true)).not.toBe(0n);
    expect(dv.getUint32(0x210, true)).toBe(0x4000);
    await h.detach();
    expect(sup.inspect().connections).toEqual([]);
  });

  it('a function without a companion refuses its registers with PT_ERR_NOT_FOUND', async () => {
    sup = await createSupervisor();
    const h = await sup.attach(EDU);
    let e: unknown;
    try {
      h.companion.read32(0);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(PassthroughError);
    expect((e as PassthroughError).code).toBe('PT_ERR_NOT_FOUND');
  });

  it('refuses a second owner with the original text, before anything is spawned', async () => {
    sup = await createSupervisor();
    await sup.attach(EDU, { id: 'first' });
    const e = await rejection(sup.attach('00:10.0', { id: 'second' }));
    expect(e.code).toBe('PT_ERR_DUPLICATE_OWNER');
    expect(e.message).toBe('vfio-apple: duplicate dext owner for host PCI 00:10.0');
    expect(sup.inspect()).toMatchObject({ workers: 1, owners: [EDU] });
  });
});

describe('resets and the slot', () => {
  const SCRATCH = 0x40;

  it('a hot reset of one function of a slot resets the other, in its own worker', async () => {
    sup = await createSupervisor();
    const f0 = await sup.attach(SLOT_F0);
    const f1 = await sup.attach(SLOT_F1);
    f0.bar(0)!.write32(SCRATCH, 0xaaaa5555);
    f1.bar(0)!.write32(SCRATCH, 0x12345678);
    await f0.reset(); // the dual model has no FLR: the dext falls back to a hot reset of the slot
    expect(f0.bar(0)!.read32(SCRATCH)).toBe(0);
    expect(f1.bar(0)!.read32(SCRATCH)).toBe(0);
    expect((await f1.stats()).counters.resets).toBe(1);
    // The sibling's interrupts were re-enabled after the reset.
    const seq = f1.irq.seq;
    f1.bar(0)!.write32(0x08, 1);
    await f1.irq.waitAsync(seq, IRQ_WAIT_MS);
    expect(f1.irq.drain()).toEqual([1]);
  });

  it('an FLR reaches only its own function', async () => {
    sup = await createSupervisor();
    const nic = await sup.attach(MSIX);
    const f1 = await sup.attach(SLOT_F1);
    f1.bar(0)!.write32(SCRATCH, 0x12345678);
    nic.bar(0)!.write32(0x08, 0); // any state; the msix model has FLR
    await nic.reset();
    expect(f1.bar(0)!.read32(SCRATCH)).toBe(0x12345678);
    expect((await f1.stats()).counters.resets).toBe(0);
  });
});
