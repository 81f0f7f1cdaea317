/**
 * The expansion ROM BAR: served from an image (a file's bytes), from the
 * device's ROM region (read lazily, once), or turned off.
 */
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../../src/guest/function.js';
import type { PassthroughError } from '../../../src/errors.js';
import { thrown } from '../../shared/thrown.js';
import { fakeDevice } from './helpers/fake-device.js';

/** A tiny option ROM: signature, a size byte, some code bytes. */
const image = new Uint8Array([0x55, 0xaa, 0x04, 0xcb, 0x11, 0x22, 0x33]);

function mapRom(fn: ReturnType<typeof createGuestFunction>, addr: number): void {
  fn.configWrite(0x30, 4, addr | 1);
  fn.configWrite(0x04, 2, 0x2);
}

describe('guest expansion ROM', () => {
  it('serves an image: sized as a power of two of at least 2 KiB, decoding only with its enable bit', () => {
    const dev = fakeDevice();
    const fn = createGuestFunction(dev, { rom: image });
    fn.configWrite(0x30, 4, 0xffffffff);
    expect(fn.configRead(0x30, 4) >>> 0).toBe(0xfffff801);
    fn.configWrite(0x30, 4, 0xfeb0_0000); // enable bit clear
    fn.configWrite(0x04, 2, 0x2);
    const rom = fn.bars.find((b) => b.index === 6)!;
    expect(rom).toMatchObject({ kind: 'memory', sizeBytes: 2048, address: 0xfeb0_0000, decoding: false, ram: undefined });
    expect(fn.mmioRead(0xfeb0_0000, 2)).toBe(0xffff); // not decoding: all ones (no ROM there)
    mapRom(fn, 0xfeb0_0000);
    expect(fn.mmioRead(0xfeb0_0000, 2)).toBe(0xaa55);
    expect(fn.mmioRead(0xfeb0_0002, 1)).toBe(0x04);
    expect(fn.mmioRead(0xfeb0_0003, 4) >>> 0).toBe(0x332211cb);
    expect(fn.mmioRead(0xfeb0_07fc, 4) >>> 0).toBe(0xffffffff); // padding
    fn.mmioWrite(0xfeb0_0000, 4, 0); // ROM writes are ignored
    expect(fn.mmioRead(0xfeb0_0000, 2)).toBe(0xaa55);
    expect(fn.route('memory', 0xfeb0_0010)).toEqual({ bar: 6, offset: 0x10 });
  });

  it("reads the device's ROM region lazily, once, when the guest first reads it", () => {
    const contents = new Uint8Array(0x1000).map((_, i) => (i * 7) & 0xff);
    contents.set(image);
    const dev = fakeDevice({ romBytes: 0x1000, romContents: contents });
    const fn = createGuestFunction(dev);
    fn.configWrite(0x30, 4, 0xffffffff);
    expect(fn.configRead(0x30, 4) >>> 0).toBe(0xfffff001);
    mapRom(fn, 0xfeb0_0000);
    expect(dev.regionReads).toBe(0);
    expect(fn.mmioRead(0xfeb0_0000, 4) >>> 0).toBe(0xcb04aa55);
    expect(dev.regionReads).toBe(0x1000 / 8);
    expect(fn.mmioRead(0xfeb0_0ffc, 4) >>> 0).toBe(new DataView(contents.buffer).getUint32(0xffc, true));
    expect(dev.regionReads).toBe(0x1000 / 8);
  });

  it('reads all ones and reports once when the device ROM cannot be read', () => {
    const dev = fakeDevice({ romBytes: 0x800 });
    const errors: PassthroughError[] = [];
    const fn = createGuestFunction({ ...dev, romBytes: 0x1000 }, { onError: (e) => errors.push(e) });
    mapRom(fn, 0xfeb0_0000);
    expect(fn.mmioRead(0xfeb0_0000, 4) >>> 0).toBe(0xffffffff);
    expect(fn.mmioRead(0xfeb0_0800, 4) >>> 0).toBe(0xffffffff);
    expect(errors.map((e) => e.code)).toEqual(['PT_ERR_OUT_OF_RANGE']);
    expect(errors[0]!.message).toMatch(/expansion ROM read failed/);
  });

  it("can be turned off: the ROM BAR reads 0, takes no writes, and the function lists no ROM", () => {
    const dev = fakeDevice({ romBytes: 0x1000, romContents: image });
    const fn = createGuestFunction(dev, { rom: 'off' });
    fn.configWrite(0x30, 4, 0xffffffff);
    expect(fn.configRead(0x30, 4)).toBe(0);
    expect(fn.bars.some((b) => b.index === 6)).toBe(false);
    expect(createGuestFunction(fakeDevice()).bars.some((b) => b.index === 6)).toBe(false); // no device ROM
  });

  it('refuses a bad rom option with a typed error', () => {
    expect(thrown(() => createGuestFunction(fakeDevice(), { rom: 'file' as 'off' })).code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(thrown(() => createGuestFunction(fakeDevice(), { rom: new Uint8Array(17 * 1024 * 1024) })).code).toBe('PT_ERR_INVALID_ARGUMENT');
  });
});
