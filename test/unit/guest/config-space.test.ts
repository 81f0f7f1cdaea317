/**
 * VirtualConfig: the per-byte arithmetic of the guest's config space
 * (emulated bits merged over the device's, wmask / w1c, what is forwarded
 * and at which widths), over a fake port that logs every device cycle.
 */
import { describe, expect, it } from 'vitest';
import { VirtualConfig } from '../../../src/guest/config-space.js';
import type { GuestConfigPort } from '../../../src/guest/device.js';
import { thrown } from '../../shared/thrown.js';

/** A port over 4 KiB of bytes that logs reads and writes (no filter). */
function logPort(fill = 0x5a) {
  const bytes = new Uint8Array(4096).fill(fill);
  const log: string[] = [];
  const rd = (off: number, w: number) => {
    log.push(`r${w}@${off.toString(16)}`);
    let v = 0;
    for (let i = w - 1; i >= 0; i--) v = v * 256 + bytes[off + i]!;
    return v >>> 0;
  };
  const wr = (off: number, w: number, v: number) => {
    log.push(`w${w}@${off.toString(16)}=${(v >>> 0).toString(16)}`);
    for (let i = 0; i < w; i++) bytes[off + i] = (v >>> (8 * i)) & 0xff;
  };
  const port: GuestConfigPort = {
    read8: (o) => rd(o, 1),
    read16: (o) => rd(o, 2),
    read32: (o) => rd(o, 4),
    write8: (o, v) => wr(o, 1, v),
    write16: (o, v) => wr(o, 2, v),
    write32: (o, v) => wr(o, 4, v),
  };
  return { bytes, log, port };
}

describe('VirtualConfig', () => {
  it('reads live by default and forwards writes as they are (the original pass-through)', () => {
    const { port, log, bytes } = logPort();
    const vc = new VirtualConfig(port);
    expect(vc.read(0x40, 4)).toBe(0x5a5a5a5a);
    vc.write(0x42, 2, 0x1234);
    expect(log).toEqual(['r4@40', 'w2@42=1234']);
    expect(bytes[0x42]).toBe(0x34);
  });

  it('answers fully emulated bytes from the shadow without a device cycle, and refuses their writes', () => {
    const { port, log } = logPort();
    const vc = new VirtualConfig(port);
    vc.emulate(0x3c, 1, 0x0b, { wmask: 0xff });
    expect(vc.read(0x3c, 1)).toBe(0x0b);
    vc.write(0x3c, 1, 0x77);
    expect(vc.read(0x3c, 1)).toBe(0x77);
    expect(log).toEqual([]);
  });

  it('merges a dword of emulated and live bytes with one device read', () => {
    const { port, log } = logPort(0x11);
    const vc = new VirtualConfig(port);
    vc.emulate(0x3c, 1, 0xaa);
    expect(vc.read(0x3c, 4)).toBe(0x111111aa);
    expect(log).toEqual(['r4@3c']);
  });

  it('emulates single bits: reads merge per bit, writes forward the other bits with the host values in place', () => {
    const { port, log, bytes } = logPort(0);
    bytes[4] = 0x07; // host: I/O, memory, master
    const vc = new VirtualConfig(port);
    // COMMAND: bits 0,1 (byte 4) and bit 10 (byte 5) are the guest's; host has I/O + memory on, INTx disable off.
    vc.emulateBits(4, 2, 0x0403, 0, 0x0403, 0x0003);
    expect(vc.read(4, 2)).toBe(0x0004); // the guest sees only the live master bit
    vc.write(4, 2, 0x0400); // guest: INTx disable on, master off, decode off
    expect(log.at(-1)).toBe('w2@4=3'); // forwarded: master 0, host's I/O + memory kept, INTx disable not forwarded
    expect(vc.read(4, 2)).toBe(0x0400);
  });

  it('applies wmask and write-one-to-clear', () => {
    const { port } = logPort();
    const vc = new VirtualConfig(port);
    vc.emulate(0x50, 2, 0xff00, { wmask: 0x00f0, w1c: 0x0f00 });
    vc.write(0x50, 2, 0x03ff);
    expect(vc.read(0x50, 2)).toBe(0xfcf0);
  });

  it('forwards each run of forwarding bytes of a mixed access in naturally aligned pieces', () => {
    const { port, log } = logPort();
    const vc = new VirtualConfig(port);
    vc.emulate(0x61, 1, 0);
    vc.write(0x60, 4, 0x44332211);
    expect(log).toEqual(['w1@60=11', 'w2@62=4433']);
    log.length = 0;
    vc.emulate(0x72, 1, 0);
    vc.write(0x70, 4, 0x44332211);
    expect(log).toEqual(['w2@70=2211', 'w1@73=44']);
  });

  it('hides a range: reads 0, writes never reach the device', () => {
    const { port, log } = logPort();
    const vc = new VirtualConfig(port);
    vc.hide(0x80, 0x10);
    expect(vc.read(0x84, 4)).toBe(0);
    vc.write(0x88, 4, 0xffffffff);
    expect(vc.read(0x88, 4)).toBe(0);
    expect(log).toEqual([]);
  });

  it('a refused range still reads live', () => {
    const { port, log } = logPort(0x33);
    const vc = new VirtualConfig(port);
    vc.refuse(0, 4);
    vc.write(0, 4, 0);
    expect(vc.read(0, 4)).toBe(0x33333333);
    expect(log).toEqual(['r4@0']);
  });

  it('an access inside a dword but not naturally aligned reads the dword and writes bytes', () => {
    const { port, log, bytes } = logPort(0);
    bytes.set([1, 2, 3, 4], 0x40);
    const vc = new VirtualConfig(port);
    expect(vc.read(0x41, 2)).toBe(0x0302);
    vc.write(0x41, 2, 0xbbaa);
    expect(log).toEqual(['r4@40', 'w1@41=aa', 'w1@42=bb']);
  });

  it('runs write hooks after the shadow changed and read overlays on overlapping reads only', () => {
    const { port } = logPort(0);
    const vc = new VirtualConfig(port);
    vc.emulate(0x90, 2, 0, { wmask: 0xffff });
    const seen: number[] = [];
    vc.onWrite(0x91, 0x92, () => seen.push(vc.get16(0x90)));
    vc.onRead(0x92, 0x93, (off, _size, v) => v | (0x80 << (8 * (0x92 - off))));
    vc.write(0x90, 1, 0x12); // does not touch 0x91
    vc.write(0x90, 2, 0x3456);
    expect(seen).toEqual([0x3456]);
    expect(vc.read(0x90, 4)).toBe(0x00803456);
    expect(vc.read(0x90, 2)).toBe(0x3456);
  });

  it('refuses bad widths, offsets out of range and accesses crossing a dword with typed errors', () => {
    const { port } = logPort();
    const vc = new VirtualConfig(port);
    expect(thrown(() => vc.read(0, 3 as 1)).code).toBe('PT_ERR_BAD_WIDTH');
    expect(thrown(() => vc.read(4095, 2)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(thrown(() => vc.write(-1, 1, 0)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(thrown(() => vc.read(0.5, 1)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(thrown(() => vc.write(0x43, 2, 0)).code).toBe('PT_ERR_ALIGNMENT');
    expect(thrown(() => vc.read(0x42, 4)).code).toBe('PT_ERR_ALIGNMENT');
  });
});
