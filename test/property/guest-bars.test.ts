/**
 * BAR programming and routing under random register writes (sizing
 * patterns, addresses, garbage), COMMAND toggles and ROM enables, against a
 * register model: the addresses and decode state the guest sees, where
 * addresses route, and that an access routes to the BAR the model says at
 * the offset it says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGuestFunction } from '../../src/guest/function.js';
import { fakeDevice } from '../unit/guest/helpers/fake-device.js';

interface ModelBar {
  index: number;
  reg: number;
  io: boolean;
  mem64: boolean;
  size: number;
}

const TWO32 = 2 ** 32;

/** The reference: PCI BAR registers as plain masked registers, QEMU's pci_bar_address rules on top. */
class Model {
  readonly bars: ModelBar[] = [
    { index: 0, reg: 0, io: false, mem64: false, size: 0x1000 },
    { index: 1, reg: 0, io: true, mem64: false, size: 0x40 },
    { index: 2, reg: 0, io: false, mem64: true, size: 0x10_0000 },
  ];
  hi2 = 0;
  rom = 0;
  command = 0;

  write(off: number, value: number): void {
    const v = value >>> 0;
    if (off === 0x04) this.command = v & 0x3;
    else if (off === 0x10) this.bars[0]!.reg = (v & ~0xfff) >>> 0;
    else if (off === 0x14) this.bars[1]!.reg = (v & ~0x3f) >>> 0;
    else if (off === 0x18) this.bars[2]!.reg = (v & ~0xfffff) >>> 0;
    else if (off === 0x1c) this.hi2 = v;
    else if (off === 0x30) this.rom = (v & (~0x7ff | 1)) >>> 0;
  }

  address(i: number): number | undefined {
    if (i === 6) {
      const a = (this.rom & ~0x7ff) >>> 0;
      return a === 0 || a === 0xfffff800 || a + 0x800 >= TWO32 ? undefined : a;
    }
    const b = this.bars[i]!;
    const mask = b.io ? (~(b.size - 1) & 0xfffffffc) >>> 0 : (~(b.size - 1) & 0xfffffff0) >>> 0;
    if (b.reg === mask) return undefined;
    if (b.io) return b.reg === 0 || b.reg + b.size > 0x10000 ? undefined : b.reg;
    const a = (b.mem64 ? this.hi2 * TWO32 : 0) + b.reg;
    if (a === 0 || a + b.size > 2 ** 53) return undefined;
    return !b.mem64 && a + b.size >= TWO32 ? undefined : a;
  }

  decoding(i: number): boolean {
    if (this.address(i) === undefined) return false;
    if (i === 6) return (this.command & 2) !== 0 && (this.rom & 1) !== 0;
    return (this.command & (this.bars[i]!.io ? 1 : 2)) !== 0;
  }

  route(space: 'memory' | 'io', addr: number): { bar: number; offset: number } | undefined {
    for (const i of [0, 1, 2, 6]) {
      const io = i === 1;
      if (io !== (space === 'io') || !this.decoding(i)) continue;
      const base = this.address(i)!;
      const size = i === 6 ? 0x800 : this.bars[i]!.size;
      if (addr >= base && addr < base + size) return { bar: i, offset: addr - base };
    }
    return undefined;
  }
}

const regValue = fc.oneof(
  fc.constant(0xffffffff),
  fc.constant(0),
  fc.integer({ min: 0, max: 0xffff }).map((x) => x * 0x1000),
  fc.integer({ min: 0, max: 0xfff }).map((x) => x * 0x100000 + 1),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(0x10, 0x14, 0x18, 0x1c, 0x30), regValue) },
  { weight: 2, arbitrary: fc.tuple(fc.constant(0x04), fc.integer({ min: 0, max: 3 })) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(0x1c), fc.integer({ min: 0, max: 0x1fffff })) },
);

describe('guest BAR routing under random programming', () => {
  it('agrees with a register model on addresses, decoding and routes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }), (ops, probes) => {
        const dev = fakeDevice({
          bars: [
            { index: 0, sizeBytes: 0x1000, type: 0 },
            { index: 1, sizeBytes: 0x40, type: 1 },
            { index: 2, sizeBytes: 0x10_0000, type: 0xc },
          ],
        });
        const fn = createGuestFunction(dev, { rom: new Uint8Array([0x55, 0xaa]) });
        const model = new Model();
        for (const [off, value] of ops) {
          fn.configWrite(off, off === 0x04 ? 2 : 4, value);
          model.write(off, value);
          for (const b of fn.bars) {
            expect(b.address, `BAR${b.index} address`).toBe(model.address(b.index));
            expect(b.decoding, `BAR${b.index} decoding`).toBe(model.decoding(b.index));
          }
        }
        const candidates = [...probes];
        for (const i of [0, 1, 2, 6]) {
          const a = model.address(i);
          if (a !== undefined) candidates.push(a, a + 1, a + (i === 6 ? 0x7ff : model.bars[i]!.size - 1), a + (i === 6 ? 0x800 : model.bars[i]!.size));
        }
        for (const addr of candidates) {
          expect(fn.route('memory', addr)).toEqual(model.route('memory', addr));
          expect(fn.route('io', addr)).toEqual(model.route('io', addr));
          const r = model.route('memory', addr);
          if (r !== undefined && r.bar === 0 && r.offset % 4 === 0 && r.offset < 0x1000) {
            fn.mmioWrite(addr, 4, 0x1234_5678);
            expect(dev.fakeBars[0]!.log.at(-1)).toEqual({ op: 'w', offsetBytes: r.offset, width: 4, value: 0x1234_5678n });
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
