import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import {
  BarWindow,
  barHolders,
  createDeviceControlBlock,
  reinstateBar,
  requestUnmapAsync,
  type SlowPath,
} from '../../../src/fastpath/index.js';
import { thrown as caught } from '../../shared/thrown.js';

function fakeSlowPath() {
  const calls: string[] = [];
  const slow: SlowPath = {
    read(bar, off, width) {
      calls.push(`r${bar}:${off}:${width}`);
      return 0x1122334455667788n & ((1n << BigInt(width * 8)) - 1n);
    },
    write(bar, off, width, value) {
      calls.push(`w${bar}:${off}:${width}:${value.toString(16)}`);
    },
  };
  return { slow, calls };
}

function open(sizeBytes = 0x8000, trapRanges: { offsetBytes: number; lengthBytes: number }[] = []) {
  const control = createDeviceControlBlock();
  const buffer = new SharedArrayBuffer(sizeBytes);
  const { slow, calls } = fakeSlowPath();
  const win = BarWindow.open({ bar: 2, sizeBytes, buffer, trapRanges, control }, { slowPath: slow });
  return { control, buffer, win, calls };
}

describe('BarWindow accesses', () => {
  it('reads and writes every width little-endian at the exact offset', () => {
    const { buffer, win } = open();
    const bytes = new Uint8Array(buffer);
    win.write32(0x10, 0xdeadbeef);
    expect([...bytes.subarray(0x10, 0x14)]).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(win.read32(0x10)).toBe(0xdeadbeef);
    expect(win.read16(0x12)).toBe(0xdead);
    expect(win.read8(0x13)).toBe(0xde);
    win.write16(0x20, 0x1234);
    expect(win.read16(0x20)).toBe(0x1234);
    win.write8(0x23, 0xab);
    expect(bytes[0x23]).toBe(0xab);
    win.write64(0x40, 0x0102030405060708n);
    expect(win.read64(0x40)).toBe(0x0102030405060708n);
    expect(win.read32(0x44)).toBe(0x01020304);
    // the last aligned slot of every width is reachable
    win.write8(0x7fff, 1);
    win.write16(0x7ffe, 2);
    win.write32(0x7ffc, 3);
    win.write64(0x7ff8, 4n);
    expect(win.read64(0x7ff8)).toBe(4n);
  });

  it('truncates values to the access width', () => {
    const { win } = open();
    win.write8(0, 0x1ff);
    expect(win.read8(0)).toBe(0xff);
    win.write16(2, 0x12345);
    expect(win.read16(2)).toBe(0x2345);
    win.write32(4, -1);
    expect(win.read32(4)).toBe(0xffffffff);
  });

  it.each([
    ['read16', 1],
    ['read32', 2],
    ['read64', 4],
    ['write16', 3],
    ['write32', 6],
    ['write64', 12],
  ] as const)('%s at a misaligned offset %i is PT_ERR_ALIGNMENT', (method, off) => {
    const { win } = open();
    const e = caught(() =>
      method.startsWith('write')
        ? (win[method as 'write16'] as (o: number, v: number | bigint) => void)(off, method === 'write64' ? 0n : 0)
        : (win[method as 'read16'] as (o: number) => unknown)(off),
    );
    expect(e.code).toBe('PT_ERR_ALIGNMENT');
    expect(e.context).toMatchObject({ region: 2, offsetBytes: off });
  });

  it.each([
    ['read8', 0x8000, 1],
    ['read16', 0x8000, 2],
    ['read32', 0x7ffe, 4],
    ['read64', 0x8000, 8],
    ['read32', -4, 4],
    ['read32', 2 ** 32, 4],
    ['read8', 1.5, 1],
  ] as const)('%s at %s is PT_ERR_OUT_OF_RANGE with context', (method, off, width) => {
    const { win } = open();
    const e = caught(() => win[method](off));
    expect(e.code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(e.context).toMatchObject({ region: 2, width, sizeBytes: 0x8000 });
  });

  it.each([
    ['read8', Number.NaN, 1, Number.NaN],
    ['read32', 4n, 4, '4'],
    ['read16', null, 2, null],
    ['read64', '8', 8, '8'],
  ] as const)('%s at %s (not a number) is PT_ERR_INVALID_ARGUMENT naming the parameter', (method, off, width, shown) => {
    const { win } = open();
    const e = caught(() => win[method](off as never));
    expect(e.code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(e.context).toMatchObject({ region: 2, width, param: 'offsetBytes', value: shown });
  });

  it('refuses write values that are not 32-bit integers (64-bit: bigints) with PT_ERR_INVALID_ARGUMENT; truncates the rest', () => {
    const { win } = open();
    for (const v of [1.5, Number.NaN, 2 ** 32, -(2 ** 31) - 1, Infinity, 7n, null, Symbol('v')]) {
      expect(caught(() => win.write32(0, v as never))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { param: 'value' } });
      expect(caught(() => win.write8(0, v as never))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { param: 'value' } });
    }
    for (const v of [1, 1.5, 2n ** 64n, -(2n ** 63n) - 1n]) {
      expect(caught(() => win.write64(0, v as never))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { param: 'value' } });
    }
    win.write32(0, -1);
    expect(win.read32(0)).toBe(0xffff_ffff);
    win.write8(4, 0x1ff);
    expect(win.read8(4)).toBe(0xff);
    win.write64(8, -1n);
    expect(win.read64(8)).toBe(2n ** 64n - 1n);
  });

  it('refuses writes out of range for each width', () => {
    const { win } = open();
    expect(caught(() => win.write8(0x8000, 0)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(caught(() => win.write16(0x8000, 0)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(caught(() => win.write32(0x8000, 0)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(caught(() => win.write64(0x8000, 0n)).code).toBe('PT_ERR_OUT_OF_RANGE');
  });
});

describe('BarWindow trap ranges', () => {
  it('sends trapped accesses to the slow path and the rest to memory', () => {
    const { win, calls, buffer } = open(0x10000, [{ offsetBytes: 0x4000, lengthBytes: 0x800 }]);
    expect(win.read32(0x4000)).toBe(0x55667788);
    expect(win.read64(0x47f8)).toBe(0x1122334455667788n);
    win.write16(0x4010, 0xbeef);
    win.write64(0x4008, -1n);
    // same page, outside the range: memory
    new Uint32Array(buffer)[0x4800 / 4] = 7;
    expect(win.read32(0x4800)).toBe(7);
    expect(win.read8(0x3fff)).toBe(0);
    expect(calls).toEqual(['r2:16384:4', 'r2:18424:8', 'w2:16400:2:beef', 'w2:16392:8:ffffffffffffffff']);
  });

  it('traps an access that straddles the start of a range', () => {
    const { win, calls } = open(0x10000, [{ offsetBytes: 0x4004, lengthBytes: 4 }]);
    win.read64(0x4000);
    win.read32(0x4000);
    expect(calls).toEqual(['r2:16384:8']);
  });

  it('refuses trap ranges outside the BAR or without a slow path', () => {
    const control = createDeviceControlBlock();
    const buffer = new SharedArrayBuffer(0x4000);
    const desc = { bar: 0, sizeBytes: 0x4000, buffer, control };
    expect(caught(() => BarWindow.open({ ...desc, trapRanges: [{ offsetBytes: 0x3000, lengthBytes: 0x2000 }] }, { slowPath: fakeSlowPath().slow })).code).toBe(
      'PT_ERR_INVALID_ARGUMENT',
    );
    expect(caught(() => BarWindow.open({ ...desc, trapRanges: [{ offsetBytes: 0, lengthBytes: 4 }] })).code).toBe(
      'PT_ERR_INVALID_ARGUMENT',
    );
    // nothing leaked: the failed opens hold no lease
    expect(barHolders(control, 0)).toBe(0);
  });
});

describe('BarWindow descriptors', () => {
  it('builds its view from an address through the viewFactory', () => {
    const backing = new ArrayBuffer(0x4000);
    const seen: [bigint, number][] = [];
    const win = BarWindow.open(
      { bar: 0, sizeBytes: 0x4000, address: 0x1000_0000n, trapRanges: [], control: createDeviceControlBlock() },
      {
        viewFactory: (address, lengthBytes) => {
          seen.push([address, lengthBytes]);
          return backing;
        },
      },
    );
    win.write32(8, 42);
    expect(new Uint32Array(backing)[2]).toBe(42);
    expect(seen).toEqual([[0x1000_0000n, 0x4000]]);
  });

  it('refuses a descriptor without memory, memory smaller than the BAR, or a bad BAR number', () => {
    const control = createDeviceControlBlock();
    expect(caught(() => BarWindow.open({ bar: 0, sizeBytes: 16, trapRanges: [], control })).code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(
      caught(() => BarWindow.open({ bar: 0, sizeBytes: 64, buffer: new SharedArrayBuffer(32), trapRanges: [], control })).code,
    ).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(
      caught(() => BarWindow.open({ bar: 0, sizeBytes: 16, address: 1n, trapRanges: [], control })).code,
    ).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(
      caught(() => BarWindow.open({ bar: 6, sizeBytes: 16, buffer: new SharedArrayBuffer(16), trapRanges: [], control })).code,
    ).toBe('PT_ERR_OUT_OF_RANGE');
  });
});

describe('BarWindow release and revocation', () => {
  it('refuses every access after release and gives the lease back once', () => {
    const { win, control } = open();
    expect(barHolders(control, 2)).toBe(1);
    win.release();
    win.release();
    expect(barHolders(control, 2)).toBe(0);
    expect(win.released).toBe(true);
    for (const f of [() => win.read8(0), () => win.read32(0), () => win.write64(0, 0n), () => win.write16(0, 0)]) {
      const e = caught(f);
      expect(e.code).toBe('PT_ERR_BAR_RELEASED');
      expect(e.context.region).toBe(2);
    }
    expect(barHolders(control, 2)).toBe(0);
  });

  it('revocation stops every window, waits for holders, and blocks later opens', async () => {
    const control = createDeviceControlBlock();
    const buffer = new SharedArrayBuffer(0x4000);
    const desc = { bar: 1, sizeBytes: 0x4000, buffer, trapRanges: [], control };
    const a = BarWindow.open(desc);
    const b = BarWindow.open(desc);
    expect(barHolders(control, 1)).toBe(2);
    const unmapped = requestUnmapAsync(control, 1, 5_000);
    let settled = false;
    void unmapped.then(() => (settled = true));
    // a busy holder notices and lets go by itself
    expect(caught(() => a.read32(0)).code).toBe('PT_ERR_BAR_RELEASED');
    expect(barHolders(control, 1)).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    b.release();
    await unmapped;
    expect(barHolders(control, 1)).toBe(0);
    expect(caught(() => BarWindow.open(desc)).code).toBe('PT_ERR_BAR_RELEASED');
    // after reinstating, new windows work and old ones stay dead
    reinstateBar(control, 1);
    const c = BarWindow.open(desc);
    expect(c.read32(0)).toBe(0);
    expect(caught(() => b.read32(0)).code).toBe('PT_ERR_BAR_RELEASED');
    expect(caught(() => reinstateBar(control, 1)).code).toBe('PT_ERR_INVALID_STATE');
  });

  it('times out when a holder never lets go', async () => {
    const { control } = open();
    const e = await requestUnmapAsync(control, 2, 30).then(
      () => undefined,
      (err: PassthroughError) => err,
    );
    expect(e?.code).toBe('PT_ERR_TIMEOUT');
    expect(e?.context).toMatchObject({ region: 2, holders: 1 });
  });
});
