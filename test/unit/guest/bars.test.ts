/**
 * BAR registers and routing in the guest's view: sizing probes (32-bit,
 * 64-bit pairs, I/O, prefetch, a BAR above 4 GiB), relocation, COMMAND
 * gating, what does not count as an address, widths and splits, RAM views.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import type { GuestBar } from '../../../src/guest/contract.js';
import { thrown } from '../../shared/thrown.js';
import { GuestDriver } from './helpers/driver-model.js';
import { fakeDevice } from './helpers/fake-device.js';

const IO = 0x1;
const MEM64 = 0x4;
const PREFETCH = 0x8;

function setup() {
  const dev = fakeDevice({
    bars: [
      { index: 0, sizeBytes: 0x1000, type: 0 },
      { index: 1, sizeBytes: 0x20, type: IO },
      { index: 2, sizeBytes: 0x10_0000, type: MEM64 | PREFETCH, ram: true },
      { index: 4, sizeBytes: 0x2_0000_0000, type: MEM64 },
    ],
  });
  const changes: (readonly GuestBar[])[] = [];
  const fn = createGuestFunction(dev, { sink: { barsChanged: (b) => changes.push(b) } });
  return { dev, fn, changes, drv: new GuestDriver(fn) };
}

describe('guest BARs', () => {
  it('answer sizing probes as hardware does: size mask plus type bits, 64-bit pairs, I/O, prefetch', () => {
    const { drv, fn } = setup();
    expect(drv.probeBars()).toEqual([
      { index: 0, io: false, mem64: false, prefetch: false, sizeBytes: 0x1000 },
      { index: 1, io: true, mem64: false, prefetch: false, sizeBytes: 0x20 },
      { index: 2, io: false, mem64: true, prefetch: true, sizeBytes: 0x10_0000 },
      { index: 4, io: false, mem64: true, prefetch: false, sizeBytes: 0x2_0000_0000 },
    ]);
    fn.configWrite(0x10, 4, 0xffffffff);
    expect(fn.configRead(0x10, 4) >>> 0).toBe(0xfffff000);
    fn.configWrite(0x14, 4, 0xffffffff);
    expect(fn.configRead(0x14, 4) >>> 0).toBe(0xffffffe1);
    fn.configWrite(0x18, 4, 0xffffffff);
    expect(fn.configRead(0x18, 4) >>> 0).toBe(0xfff0000c);
    // A BAR of 8 GiB: the low half has no address bits, the high half takes bits 33 and up.
    fn.configWrite(0x20, 4, 0xffffffff);
    fn.configWrite(0x24, 4, 0xffffffff);
    expect(fn.configRead(0x20, 4) >>> 0).toBe(0x4);
    expect(fn.configRead(0x24, 4) >>> 0).toBe(0xfffffffe);
    // Byte-wide sizing reads as well (a guest may read the type byte alone).
    expect(fn.configRead(0x18, 1)).toBe(0x0c);
  });

  it('route guest addresses to (BAR, offset) once programmed and enabled, and follow relocation', () => {
    const { drv, fn, dev, changes } = setup();
    drv.probeBars();
    expect(fn.bars.every((b) => !b.decoding)).toBe(true);
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    expect(fn.bars.map((b) => [b.index, b.address, b.decoding])).toEqual([
      [0, 0xe000_0000, true],
      [1, 0xc000, true],
      [2, 0x8_0000_0000, true],
      [4, 0xa_0000_0000, true],
    ]);
    expect(fn.route('memory', 0xe000_0010)).toEqual({ bar: 0, offset: 0x10 });
    expect(fn.route('memory', 0x8_0000_0ff8)).toEqual({ bar: 2, offset: 0xff8 });
    expect(fn.route('io', 0xc01f)).toEqual({ bar: 1, offset: 0x1f });
    expect(fn.route('io', 0xc020)).toBeUndefined();
    expect(fn.route('memory', 0xe000_1000)).toBeUndefined();
    fn.mmioWrite(0xe000_0010, 4, 0xdeadbeef);
    expect(dev.fakeBars[0]!.log.at(-1)).toEqual({ op: 'w', offsetBytes: 0x10, width: 4, value: 0xdeadbeefn });
    // Move BAR0: the old address no longer routes, the new one does, and the embedder is told.
    const before = changes.length;
    drv.program(0, 0xf000_0000);
    expect(changes.length).toBe(before + 1);
    expect(changes.at(-1)!.find((b) => b.index === 0)!.address).toBe(0xf000_0000);
    expect(fn.route('memory', 0xe000_0010)).toBeUndefined();
    expect(fn.mmioRead(0xe000_0010, 4) >>> 0).toBe(0xffffffff); // the old address (the last hit) no longer reaches the BAR
    expect(fn.mmioRead(0xf000_0010, 4) >>> 0).toBe(0xdeadbeef);
    expect(fn.ioRead(0xc004, 2)).toBe(0);
  });

  it('COMMAND memory and I/O enable gate decoding; ungated accesses read all ones and are counted', () => {
    const { drv, fn, dev } = setup();
    drv.probeBars();
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    fn.mmioWrite(0xe000_0000, 4, 0x1234);
    fn.configWrite(0x04, 2, fn.configRead(0x04, 2) & ~0x2); // memory off
    expect(fn.bars.filter((b) => b.decoding).map((b) => b.index)).toEqual([1]);
    const logged = dev.fakeBars[0]!.log.length;
    expect(fn.mmioRead(0xe000_0000, 4) >>> 0).toBe(0xffffffff);
    expect(fn.mmioRead(0xe000_0000, 2)).toBe(0xffff);
    expect(fn.mmioRead64(0x8_0000_0000)).toBe(0xffff_ffff_ffff_ffffn);
    fn.mmioWrite(0xe000_0000, 4, 0x5678);
    expect(dev.fakeBars[0]!.log.length).toBe(logged);
    fn.configWrite(0x04, 2, fn.configRead(0x04, 2) & ~0x1); // I/O off
    expect(fn.ioRead(0xc000, 1)).toBe(0xff);
    expect(fn.stats.unrouted).toBe(5);
    fn.configWrite(0x04, 2, fn.configRead(0x04, 2) | 0x3);
    expect(fn.mmioRead(0xe000_0000, 4)).toBe(0x1234);
  });

  it('does not count 0, the sizing pattern, a 32-bit BAR past 4 GiB or an I/O BAR past 64 KiB as an address', () => {
    const { fn } = setup();
    fn.configWrite(0x04, 2, 0x3);
    fn.configWrite(0x10, 4, 0);
    expect(fn.bars[0]!.address).toBeUndefined();
    fn.configWrite(0x10, 4, 0xffffffff);
    expect(fn.bars[0]!.address).toBeUndefined();
    fn.configWrite(0x10, 4, 0xfffff000 - 0x1000);
    expect(fn.bars[0]!.address).toBe(0xffffe000);
    fn.configWrite(0x14, 4, 0xffe0);
    expect(fn.bars[1]!.address).toBe(0xffe0);
    fn.configWrite(0x14, 4, 0x1_0000);
    expect(fn.bars[1]!.address).toBeUndefined();
    // 64-bit BAR while the guest sizes its upper half: far above 2^53, not an address.
    fn.configWrite(0x18, 4, 0x100000);
    fn.configWrite(0x1c, 4, 0xffffffff);
    expect(fn.bars[2]!.address).toBeUndefined();
    fn.configWrite(0x1c, 4, 0x1);
    expect(fn.bars[2]!.address).toBe(0x1_0010_0000);
  });

  it('does 1, 2, 4 and 8-byte accesses width-exact, and splits unaligned ones and ones past the end into bytes', () => {
    const { drv, fn, dev } = setup();
    drv.probeBars();
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    const bar0 = dev.fakeBars[0]!;
    fn.mmioWrite64(0xe000_0008, 0x1122334455667788n);
    expect(bar0.log.at(-1)).toEqual({ op: 'w', offsetBytes: 8, width: 8, value: 0x1122334455667788n });
    expect(fn.mmioRead(0xe000_0008, 1)).toBe(0x88);
    expect(fn.mmioRead(0xe000_000a, 2)).toBe(0x5566);
    expect(fn.mmioRead64(0xe000_0008)).toBe(0x1122334455667788n);
    bar0.log.length = 0;
    expect(fn.mmioRead(0xe000_0009, 4) >>> 0).toBe(0x44556677);
    expect(bar0.log.map((a) => a.width)).toEqual([1, 1, 1, 1]);
    fn.mmioWrite(0xe000_0ffe, 4, 0xaabbccdd); // two bytes inside the BAR, two past its end
    expect(fn.mmioRead(0xe000_0ffe, 2)).toBe(0xccdd);
    expect(fn.mmioRead64(0xe000_0ffc) >> 32n).toBe(0xffffffffn);
    expect(thrown(() => fn.mmioRead(0xe000_0000, 3 as 4)).code).toBe('PT_ERR_BAD_WIDTH');
    expect(thrown(() => fn.ioWrite(0xc000, 8 as 4, 0)).code).toBe('PT_ERR_BAD_WIDTH');
  });

  it('gives RAM-like BARs a direct view (the same memory the accesses reach) and none to the others', () => {
    const { drv, fn, dev } = setup();
    drv.probeBars();
    drv.assign({ mem32: 0xe000_0000, mem64: 0x8_0000_0000, io: 0xc000 });
    const ram = fn.bars.find((b) => b.index === 2)!.ram!;
    expect(ram).toBe(dev.fakeBars[2]!.mem);
    ram[0x40] = 0x99;
    expect(fn.mmioRead(0x8_0000_0040, 1)).toBe(0x99);
    expect(fn.bars.find((b) => b.index === 0)!.ram).toBeUndefined();
  });

  it('keeps absent BARs at zero and ignores writes to them', () => {
    const { fn, dev } = setup();
    fn.configWrite(0x1c + 4, 4, 0xffffffff); // BAR3 is the upper half of BAR2: takes address bits
    fn.configWrite(0x10 + 4 * 5, 4, 0xffffffff); // BAR5 is the upper half of BAR4
    fn.configWrite(0x30, 4, 0xffffffff); // no ROM on this function
    expect(fn.configRead(0x30, 4)).toBe(0);
    expect(dev.port.writes.filter((w) => w.offsetBytes >= 0x10 && w.offsetBytes < 0x34)).toEqual([]);
  });
});
