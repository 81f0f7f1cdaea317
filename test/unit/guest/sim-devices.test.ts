/**
 * The guest layer over real supervisors and device workers on the sim
 * backend (compiled workers: npm run build first), driven by the guest-driver
 * model: the MSI-X function, edu (INTx, MSI, factorial, DMA into guest RAM)
 * and one function of the two-function slot (multi-message MSI).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import type { DeviceHandle } from '../../../src/actors/supervisor/handle.js';
import { hostControlForHandle, openGuestFunction, type GuestFunction } from '../../../src/guest/index.js';
import { CapId } from '../../../src/pci/config-space.js';
import { GuestDriver } from './helpers/driver-model.js';
import { eventually } from '../../shared/deadline.js';

const MSIX = '0000:02:00.0';
const EDU = '0000:00:10.0';
const DUAL = '0000:03:00.0';
const DOORBELL = 0x08;
const RAISE_COUNT = 0x0c;

let sup: Supervisor | undefined;
let fn: GuestFunction | undefined;
afterEach(async () => {
  // No host-control call failed in any test (setIrqs, reset, DMA over the handle).
  expect(fn?.stats.controlErrors ?? 0).toBe(0);
  fn?.close();
  fn = undefined;
  await sup?.close();
  sup = undefined;
});

interface Guest {
  h: DeviceHandle;
  fn: GuestFunction;
  drv: GuestDriver;
  msgs: [bigint, number][];
  levels: boolean[];
}

async function guest(bdf: string): Promise<Guest> {
  sup ??= await createSupervisor({ callTimeoutMs: 5000 });
  const h = await sup.attach(bdf);
  const msgs: [bigint, number][] = [];
  const levels: boolean[] = [];
  fn = openGuestFunction(h.descriptor(), {
    regions: h.info.regions,
    control: hostControlForHandle(h),
    sink: { msi: (a, d) => msgs.push([a, d]), intx: (l) => levels.push(l) },
    onError: (e) => console.error(e),
  });
  const drv = new GuestDriver(fn);
  drv.probeBars();
  drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
  await fn.whenIdle();
  return { h, fn, drv, msgs, levels };
}

/** Waits (without blocking) until host interrupts are there, then delivers them. */
async function nextInterrupts(f: GuestFunction): Promise<number> {
  let n = 0;
  await eventually(async () => {
    await f.waitAsync(200);
    n += f.poll();
    expect(n).toBeGreaterThan(0);
  }, { timeout: 5000 });
  return n;
}

describe('guest function over the sim (real workers)', () => {
  it('MSI-X function: enumerated, sized and mapped by the guest; doorbells become MSI writes; a masked vector waits in the PBA', async () => {
    const g = await guest(MSIX);
    expect(g.drv.ids()).toEqual({ vendor: 0x1234, device: 0x5a01 });
    expect(g.drv.bars.map((b) => [b.index, b.sizeBytes, b.mem64, b.prefetch])).toEqual([
      [0, 0x10000, false, false],
      [2, 0x100000, true, true],
    ]);
    expect(g.drv.capabilities().map((c) => c.id)).toEqual([CapId.EXP, CapId.MSIX]);
    expect(g.fn.bars.find((b) => b.index === 2)!.ram).toBeInstanceOf(Uint8Array);
    // The RAM BAR's direct view is the device's memory.
    g.fn.bars.find((b) => b.index === 2)!.ram![0x20] = 0x5a;
    expect(g.h.bar(2)!.read8(0x20)).toBe(0x5a);
    expect(g.fn.mmioRead(g.drv.at(2, 0x20), 1)).toBe(0x5a);

    g.drv.msixEnable(256, 0xfee0_0000n, 0x4000);
    for (const v of [5, 200]) g.drv.msixMask(v, false);
    await g.fn.whenIdle();
    g.fn.mmioWrite(g.drv.at(0, DOORBELL), 4, 5);
    await nextInterrupts(g.fn);
    expect(g.msgs).toEqual([[0xfee0_0000n, 0x4005]]);

    g.drv.msixMask(200, true);
    g.fn.mmioWrite(g.drv.at(0, DOORBELL), 4, 200);
    await eventually(async () => {
      await g.fn.waitAsync(200);
      g.fn.poll();
      expect(g.drv.msixPending(200)).toBe(true);
    });
    expect(g.msgs.length).toBe(1);
    g.drv.msixMask(200, false);
    expect(g.msgs).toEqual([
      [0xfee0_0000n, 0x4005],
      [0xfee0_0000n, 0x40c8],
    ]);
    expect(g.fn.stats).toMatchObject({ msiSent: 2, latched: 1, dropped: 0, controlErrors: 0 });
  });

  it('MSI-X function: a guest FLR resets the device (its registers) and the guest view', async () => {
    const g = await guest(MSIX);
    g.fn.mmioWrite(g.drv.at(0, DOORBELL), 4, 1); // MSI-X still disabled in the guest: counted by the device, dropped here
    await eventually(() => expect(g.fn.mmioRead(g.drv.at(0, RAISE_COUNT), 4)).toBe(1));
    g.drv.flr();
    await g.fn.whenIdle();
    expect(g.fn.stats.controlErrors).toBe(0);
    expect(g.fn.bars.every((b) => !b.decoding)).toBe(true);
    g.drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    expect(g.fn.mmioRead(g.drv.at(0, RAISE_COUNT), 4)).toBe(0);
    expect(g.fn.mmioRead(g.drv.at(0, 0), 4)).toBe(0x5a010001);
  });

  it('edu: ID and liveness registers, a factorial computed by the device, its INTx through the uio cycle twice', async () => {
    const g = await guest(EDU);
    expect(g.drv.ids()).toEqual({ vendor: 0x1234, device: 0x11e8 });
    expect(g.fn.configRead(0x08, 4) >>> 8).toBe(0x00ff00);
    expect(g.drv.capabilities().map((c) => c.id)).toEqual([CapId.MSI]);
    const edu = (off: number) => g.drv.at(0, off);
    expect(g.fn.mmioRead(edu(0x00), 4)).toBe(0x010000ed);
    g.fn.mmioWrite(edu(0x04), 4, 0x12345678);
    expect(g.fn.mmioRead(edu(0x04), 4) >>> 0).toBe(~0x12345678 >>> 0);
    g.fn.mmioWrite(edu(0x20), 4, 0x80); // raise an interrupt when the factorial is done
    for (const [n, fact] of [
      [5, 120],
      [10, 3628800],
    ]) {
      g.levels.length = 0;
      g.fn.mmioWrite(edu(0x08), 4, n!);
      await nextInterrupts(g.fn);
      expect(g.levels).toEqual([true]);
      expect(g.drv.checkAndMaskIntx()).toBe(true); // uio_pci_generic's handler
      expect(g.levels).toEqual([true, false]);
      g.fn.eoi();
      expect(g.fn.mmioRead(edu(0x08), 4)).toBe(fact);
      expect(g.fn.mmioRead(edu(0x24), 4)).toBe(1);
      g.fn.mmioWrite(edu(0x64), 4, 1); // user space acks the device
      expect(g.drv.checkAndUnmaskIntx()).toBe(true);
      expect(g.levels).toEqual([true, false]);
    }
  });

  it('edu: with MSI enabled by the guest the completion interrupt is an MSI write', async () => {
    const g = await guest(EDU);
    g.drv.msiEnable(1, 0xfee0_1000n, 0x41);
    await g.fn.whenIdle();
    g.fn.mmioWrite(g.drv.at(0, 0x20), 4, 0x80);
    g.fn.mmioWrite(g.drv.at(0, 0x08), 4, 4);
    await nextInterrupts(g.fn);
    expect(g.msgs).toEqual([[0xfee0_1000n, 0x41]]);
    expect(g.levels).toEqual([]);
  });

  it("edu: its DMA engine reads and writes guest RAM mapped through the container", async () => {
    const g = await guest(EDU);
    const ram = new SharedArrayBuffer(0x4000);
    const bytes = new Uint8Array(ram);
    const GPA = 0x20_0000;
    const m = await g.fn.mapGuestMemory(ram, GPA);
    // The sim's DART picks its own bus addresses (as Apple's does): the driver model programs translated ones.
    const src = g.fn.dmaAddress(GPA + 0x100)!;
    const dst = g.fn.dmaAddress(GPA + 0x2000)!;
    expect(src - m.busAddr).toBe(0x100n);
    for (let i = 0; i < 64; i++) bytes[0x100 + i] = (i * 3 + 1) & 0xff;
    const edu = (off: number) => g.drv.at(0, off);
    const dma = async (from: bigint, to: bigint, cmd: number) => {
      g.fn.mmioWrite64(edu(0x80), from);
      g.fn.mmioWrite64(edu(0x88), to);
      g.fn.mmioWrite64(edu(0x90), 64n);
      g.fn.mmioWrite64(edu(0x98), BigInt(cmd));
      await eventually(() => expect(g.fn.mmioRead64(edu(0x98)) & 1n).toBe(0n));
    };
    await dma(src, 0x40000n, 0x1); // RAM → edu
    await dma(0x40000n, dst, 0x3); // edu → RAM
    expect([...bytes.subarray(0x2000, 0x2040)]).toEqual([...bytes.subarray(0x100, 0x140)]);
    await g.fn.unmapGuestMemory(GPA);
  });

  it('one function of the two-function slot: multi-message MSI, and the multi-function bit as the device has it', async () => {
    const g = await guest(DUAL);
    expect(g.fn.configRead(0x0e, 1) & 0x80).toBe(0x80);
    expect(g.drv.capabilities().map((c) => c.id)).toEqual([CapId.MSI]);
    g.drv.msiEnable(4, 0xfee0_2000n, 0x60);
    await g.fn.whenIdle();
    g.fn.mmioWrite(g.drv.at(0, DOORBELL), 4, 3);
    await nextInterrupts(g.fn);
    g.fn.mmioWrite(g.drv.at(0, DOORBELL), 4, 1);
    await nextInterrupts(g.fn);
    expect(g.msgs).toEqual([
      [0xfee0_2000n, 0x63],
      [0xfee0_2000n, 0x61],
    ]);
  });
});
