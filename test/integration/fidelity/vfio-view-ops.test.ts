/**
 * Issue 14, point 7, the VFIO-level view's operations through the public
 * API on real sim workers, where vfio-view.test.ts leaves gaps:
 * - setIrqs mask / unmask by range (the original ignores them and keeps the
 *   dext's mask, so nothing raised while "masked" is lost: it is held in the
 *   IrqLine until drained, and the unmask replays nothing), and switches
 *   between index types (MSI ↔ INTx) on a function that has both;
 * - MSI with Multiple Message Capable 4 (the `dual` model);
 * - region read / write at every width the original accepts, and its errno
 *   for what it refuses; config block reads clamped at 4096;
 * - `vfio.reset()` (an FLR) on a two-function slot whose other function
 *   has no FLR: only its own function goes back to power-on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, IrqIndex, type DeviceHandle, type Supervisor } from '../../../src/index.js';
import { rejection } from '../../shared/thrown.js';

/** dual: MSI (64-bit, Multiple Message Capable 4) and INTx pin A; BAR0 all trapped, scratch at 0x40. */
const DUAL = '0000:03:00.0';
const DOORBELL = 0x08;
const ERRORS = 0x14;
const SCRATCH = 0x40;
const CMD_INTX_DISABLE = 0x0400;
const CAP_MSI = 0x05;
const CAP_EXP = 0x10;
/** An upper bound for an interrupt to arrive: waitAsync returns as soon as it does (the machine may be saturated). */
const WAIT_MS = 30_000;

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});


/** A little-endian config value read through the view (region 7). */
async function cfg(h: DeviceHandle, offset: number, width: 1 | 2 | 4): Promise<number> {
  const b = await h.vfio.regionRead(7, offset, width);
  let v = 0;
  for (let i = width - 1; i >= 0; i--) v = v * 256 + b[i]!;
  return v;
}

/** The offset of capability `id` in the function's list (0 when absent), read through the view. */
async function capability(h: DeviceHandle, id: number): Promise<number> {
  let at = (await cfg(h, 0x34, 1)) & 0xfc;
  for (let hops = 0; at !== 0 && hops < 48; hops++) {
    if ((await cfg(h, at, 1)) === id) return at;
    at = (await cfg(h, at + 1, 1)) & 0xfc;
  }
  return 0;
}

/** Rings doorbell `v` and returns what the line drains once it moved. */
async function ring(h: DeviceHandle, v: number): Promise<number[]> {
  const seq = h.irq.seq;
  h.bar(0)!.write32(DOORBELL, v);
  await h.irq.waitAsync(seq, WAIT_MS);
  return h.irq.drain();
}

describe('setIrqs mask and unmask through the view', () => {
  it('a vector raised while its range is masked is held in the line and drained once after the unmask; nothing is dropped or replayed', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(DUAL);
    expect(h.info).toMatchObject({ irqMode: 'msi', irqVectors: 4 });
    await h.vfio.setIrqs({ index: IrqIndex.MSI, action: 'mask', start: 1, count: 2 });
    // The view's mask never becomes a drop: the line's own mask stays clear and the mode is unchanged.
    expect([0, 1, 2, 3].map((v) => h.irq.isMasked(v))).toEqual([false, false, false, false]);
    expect(h.info).toMatchObject({ irqMode: 'msi', irqVectors: 4 });
    const seq = h.irq.seq;
    h.bar(0)!.write32(DOORBELL, 2);
    await h.irq.waitAsync(seq, WAIT_MS);
    // Held: pending in the shared bitmap until the embedder takes it.
    expect(h.irq.isPending(2)).toBe(true);
    await h.vfio.setIrqs({ index: IrqIndex.MSI, action: 'unmask', start: 1, count: 2 });
    expect(h.irq.drain()).toEqual([2]);
    expect(h.irq.drain()).toEqual([]); // the unmask replays nothing
    // Every vector of the range still arrives after the unmask.
    expect(await ring(h, 1)).toEqual([1]);
    expect(await ring(h, 2)).toEqual([2]);
    expect(h.irq.counters().masked).toBe(0);
    // Mask and unmask of a range past the enabled vectors are ignored as the original ignores them.
    await h.vfio.setIrqs({ index: IrqIndex.MSI, action: 'mask', start: 8, count: 8 });
    expect(await ring(h, 3)).toEqual([3]);
  });

  it('switches index types through the view on a function with MSI and INTx: MSI → INTx → MSI, enables and delivery follow', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(DUAL);
    const msi = await capability(h, CAP_MSI);
    expect(msi).not.toBe(0);
    expect(await h.vfio.irqInfo(IrqIndex.INTX)).toMatchObject({ count: 1 });
    expect((await cfg(h, msi + 2, 2)) & 1).toBe(1);
    expect(await ring(h, 3)).toEqual([3]);

    // MSI → INTx, directly: the old mode is disabled first (vfio_disable_interrupts).
    await h.vfio.setIrqs({ index: IrqIndex.INTX, action: 'trigger', start: 0, count: 1 });
    expect(h.info).toMatchObject({ irqMode: 'intx', irqVectors: 1 });
    // The function really leaves MSI: the worker clears MSI enable as the host side (a guest write
    // there would be dropped by the config-write safety rule and leave the function sending MSI
    // vectors that INTx mode's dext mask drops: apple DEVIATIONS #32), and COMMAND enables INTx.
    expect((await cfg(h, msi + 2, 2)) & 1).toBe(0);
    expect((await cfg(h, 0x04, 2)) & CMD_INTX_DISABLE).toBe(0);
    // Any doorbell is now a pulse on pin A: vector 0, whatever vector was rung.
    expect(await ring(h, 3)).toEqual([0]);
    expect(await ring(h, 1)).toEqual([0]);
    // The INTx EOI cycle's mask / unmask: a pulse while masked is held, not lost.
    await h.vfio.setIrqs({ index: IrqIndex.INTX, action: 'mask', start: 0, count: 1 });
    const seq = h.irq.seq;
    h.bar(0)!.write32(DOORBELL, 1);
    await h.irq.waitAsync(seq, WAIT_MS);
    await h.vfio.setIrqs({ index: IrqIndex.INTX, action: 'unmask', start: 0, count: 1 });
    expect(h.irq.drain()).toEqual([0]);

    // INTx → MSI, directly: INTx is disabled in COMMAND, MSI enabled with its four messages.
    await h.vfio.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 4 });
    expect(h.info).toMatchObject({ irqMode: 'msi', irqVectors: 4 });
    expect((await cfg(h, 0x04, 2)) & CMD_INTX_DISABLE).toBe(CMD_INTX_DISABLE);
    expect((await cfg(h, msi + 2, 2)) & 0x71).toBe(0x21); // enable, Multiple Message Enable = log2(4)
    expect(await ring(h, 3)).toEqual([3]);
    expect(await ring(h, 0)).toEqual([0]);
  });
});

describe('MSI with Multiple Message Capable > 1', () => {
  it('the dual function attaches with its 4 MSI vectors: vector 3 is delivered, vector 4 is refused', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(DUAL, { irq: 'msi' });
    const msi = await capability(h, CAP_MSI);
    const flags = await cfg(h, msi + 2, 2);
    expect((flags >> 1) & 7).toBe(2); // Multiple Message Capable: 4 messages
    expect((flags >> 4) & 7).toBe(2); // Multiple Message Enable: all 4
    expect(h.info).toMatchObject({ irqMode: 'msi', irqVectors: 4 });
    expect(await h.vfio.irqInfo(IrqIndex.MSI)).toMatchObject({ index: IrqIndex.MSI, count: 4 });
    expect(h.info.irqs.find((i) => i.index === IrqIndex.MSI)).toMatchObject({ count: 4 });
    expect(await ring(h, 3)).toEqual([3]);
    // Vector 4 does not exist: the view refuses to enable it, with the original's errno.
    const e = await rejection(h.vfio.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 4, count: 1 }));
    expect([e.code, e.context.errno]).toEqual(['PT_ERR_INVALID_ARGUMENT', 'EINVAL']);
    expect(e.message).toMatch(/exceed the 4 MSI vectors/);
    expect(h.info.irqVectors).toBe(4);
    // …and the device refuses to raise it: doorbell 4 counts an error and the line never sees it
    // (the next doorbell's vector is the only one drained).
    h.bar(0)!.write32(DOORBELL, 4);
    expect(h.bar(0)!.read32(ERRORS)).toBe(1);
    expect(await ring(h, 0)).toEqual([0]);
  });
});

describe('region access through the view', () => {
  it('reads and writes a BAR at 1, 2, 4 and 8 bytes; other widths are PT_ERR_BAD_WIDTH and out of range PT_ERR_OUT_OF_RANGE, both errno EINVAL', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(DUAL);
    const bytes = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    expect(await h.vfio.regionWrite(0, SCRATCH, Uint8Array.from(bytes))).toBe(8);
    expect([...(await h.vfio.regionRead(0, SCRATCH, 8))]).toEqual(bytes);
    expect([...(await h.vfio.regionRead(0, SCRATCH + 4, 4))]).toEqual([0x55, 0x66, 0x77, 0x88]);
    expect([...(await h.vfio.regionRead(0, SCRATCH + 2, 2))]).toEqual([0x33, 0x44]);
    expect([...(await h.vfio.regionRead(0, SCRATCH + 7, 1))]).toEqual([0x88]);
    expect(await h.vfio.regionWrite(0, SCRATCH + 1, Uint8Array.of(0xaa))).toBe(1);
    expect(await h.vfio.regionWrite(0, SCRATCH + 2, Uint8Array.of(0xcc, 0xbb))).toBe(2);
    expect(await h.vfio.regionWrite(0, SCRATCH + 4, Uint8Array.of(0x01, 0x02, 0x03, 0x04))).toBe(4);
    // The fast path sees what the view wrote, at its own widths.
    expect(h.bar(0)!.read64(SCRATCH)).toBe(0x04030201bbccaa11n);
    expect(h.bar(0)!.read16(SCRATCH + 2)).toBe(0xbbcc);
    for (const size of [0, 3, 5, 6, 7, 16]) {
      const r = await rejection(h.vfio.regionRead(0, SCRATCH, size));
      expect([r.code, r.context.errno, r.context.width]).toEqual(['PT_ERR_BAD_WIDTH', 'EINVAL', size]);
      expect(r.message).toContain(`vfio-apple: BAR0 read width ${size} not 1, 2, 4 or 8`);
    }
    const w = await rejection(h.vfio.regionWrite(0, SCRATCH, new Uint8Array(3)));
    expect([w.code, w.context.errno]).toEqual(['PT_ERR_BAD_WIDTH', 'EINVAL']);
    expect(w.message).toContain('vfio-apple: BAR0 write width 3 not 1, 2, 4 or 8');
    // Range first, then width (the original's order): past the 4 KiB BAR, an 8-byte access, an unmapped BAR.
    for (const [bar, off, size] of [
      [0, 0x1000 - 4, 8],
      [0, 0x1000, 1],
      [0, 0xfff, 3],
      [1, 0, 4],
    ] as const) {
      const r = await rejection(h.vfio.regionRead(bar, off, size));
      expect([r.code, r.context.errno]).toEqual(['PT_ERR_OUT_OF_RANGE', 'EINVAL']);
      expect(r.message).toContain(`vfio-apple: BAR${bar} read out of range or unmapped`);
    }
    // Nothing refused reached the device.
    expect(h.bar(0)!.read64(SCRATCH)).toBe(0x04030201bbccaa11n);
  });

  it('config: 1, 2, 4 and block widths read; a block read runs to 4096 and zero-fills past it; writes of 1, 2 or 4 bytes only', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(DUAL);
    expect([...(await h.vfio.regionRead(7, 0, 1))]).toEqual([0x34]);
    expect([...(await h.vfio.regionRead(7, 0, 2))]).toEqual([0x34, 0x12]);
    expect([...(await h.vfio.regionRead(7, 0, 4))]).toEqual([0x34, 0x12, 0x02, 0x5a]);
    expect([...(await h.vfio.regionRead(7, 0, 3))]).toEqual([0x34, 0x12, 0x02]);
    expect([...(await h.vfio.regionRead(7, 0, 8)).subarray(0, 4)]).toEqual([0x34, 0x12, 0x02, 0x5a]);
    // A block from 0 past the end: 4096 bytes from the device, the rest zero, the size asked for.
    const all = await h.vfio.regionRead(7, 0, 8192);
    expect(all.length).toBe(8192);
    expect([...all.subarray(0, 4)]).toEqual([0x34, 0x12, 0x02, 0x5a]);
    expect(all.subarray(4096).every((b) => b === 0)).toBe(true);
    // The same bytes as a 256-byte block: the clamp does not shift anything.
    expect([...all.subarray(0, 256)]).toEqual([...(await h.vfio.regionRead(7, 0, 256))]);
    const tail = await h.vfio.regionRead(7, 4094, 6);
    expect(tail.length).toBe(6);
    expect([...tail.subarray(2)]).toEqual([0, 0, 0, 0]);
    const past = await rejection(h.vfio.regionRead(7, 4096, 4));
    expect([past.code, past.context.errno]).toEqual(['PT_ERR_OUT_OF_RANGE', 'EINVAL']);
    // Writes: 1 byte (interrupt line), 2 and 4 bytes (forwarded), 3 bytes refused with EINVAL.
    expect(await h.vfio.regionWrite(7, 0x3c, Uint8Array.of(0x0b))).toBe(1);
    expect(await cfg(h, 0x3c, 1)).toBe(0x0b);
    expect(await h.vfio.regionWrite(7, 0x3c, Uint8Array.of(0x0c, 0x01))).toBe(2);
    expect(await cfg(h, 0x3c, 1)).toBe(0x0c);
    const odd = await rejection(h.vfio.regionWrite(7, 0x3c, Uint8Array.of(1, 2, 3)));
    expect([odd.code, odd.context.errno, odd.context.width]).toEqual(['PT_ERR_INVALID_ARGUMENT', 'EINVAL', 3]);
    expect(await cfg(h, 0x3c, 1)).toBe(0x0c);
    const far = await rejection(h.vfio.regionWrite(7, 4096, Uint8Array.of(1)));
    expect([far.code, far.context.errno]).toEqual(['PT_ERR_OUT_OF_RANGE', 'EINVAL']);
  });
});

describe('vfio.reset() of one function of a two-function slot', () => {
  // A slot whose function 0 has FLR (the msix model, a PCIe endpoint) and whose function 1 has
  // none (dual); the default machine's slot 03 has FLR on neither function.
  const F0 = '0000:05:00.0';
  const F1 = '0000:05:00.1';
  const machine = {
    functions: [
      { bdf: F0, model: 'msix' as const, options: { vectors: 16, ramBarBytes: 16384 } },
      { bdf: F1, model: 'dual' as const },
    ],
  };
  const MSIX_SCRATCH = 0x100;

  it('an FLR through the view puts its own function back to power-on and leaves the other function of the slot alone', async () => {
    sup = await createSupervisor({ machine, callTimeoutMs: 5000 });
    const f0 = await sup.attach(F0);
    const f1 = await sup.attach(F1);
    const exp = await capability(f0, CAP_EXP);
    expect((await cfg(f0, exp + 4, 4)) & (1 << 28)).not.toBe(0); // DevCap: FLR
    expect(await capability(f1, CAP_EXP)).toBe(0); // conventional PCI: no FLR, a reset of it would be a hot reset
    const devCtl2 = exp + 0x28;
    const powerOnDevCtl2 = await cfg(f0, devCtl2, 2);
    // State on both functions. DevCtl2 is written through a raw dext client: the view drops
    // writes there (the config-write safety rule).
    f0.bar(0)!.write32(MSIX_SCRATCH, 0xaaaa5555);
    const raw = await f0.dext({ shared: true, holder: 'test' });
    await raw.call('configWrite', devCtl2, 2, powerOnDevCtl2 ^ 0x5);
    expect(await cfg(f0, devCtl2, 2)).toBe(powerOnDevCtl2 ^ 0x5);
    await raw.close();
    f1.bar(0)!.write32(SCRATCH, 0x12345678);
    await f1.vfio.regionWrite(7, 0x3c, Uint8Array.of(0x0e));
    const f1Command = await cfg(f1, 0x04, 2);

    await f0.vfio.reset();

    // Its own function: registers and DevCtl2 at power-on; what IOPCIDevice::Reset saves is back.
    expect(f0.bar(0)!.read32(MSIX_SCRATCH)).toBe(0);
    expect(await cfg(f0, devCtl2, 2)).toBe(powerOnDevCtl2);
    expect((await f0.stats()).counters.resets).toBe(1);
    expect(f0.state).toBe('ready');
    expect(await ring(f0, 5)).toEqual([5]);
    // The other function: untouched.
    expect(f1.bar(0)!.read32(SCRATCH)).toBe(0x12345678);
    expect(await cfg(f1, 0x3c, 1)).toBe(0x0e);
    expect(await cfg(f1, 0x04, 2)).toBe(f1Command);
    expect((await f1.stats()).counters.resets).toBe(0);
    expect(await ring(f1, 3)).toEqual([3]);
  });
});
