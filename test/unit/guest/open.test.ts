/**
 * openGuestFunction from a descriptor (what a vCPU thread receives):
 * windows rebuilt in this thread (a shared buffer, or a native address
 * through the view factory: the RAM view is that memory), a BAR the device
 * has but nothing maps served by the slow path, and the fast path released
 * when opening fails. The mailbox is served by the compiled fixture worker
 * (npm run build first).
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { barHolders, createDeviceControlBlock, type DeviceHandleDescriptor } from '../../../src/fastpath/index.js';
import { openGuestFunction } from '../../../src/guest/open.js';
import { slowBarPort } from '../../../src/guest/device.js';
import { thrown } from '../../shared/thrown.js';

const fixture = (name: string) => new URL(`../../../dist/test/fixtures/${name}.js`, import.meta.url);
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe('openGuestFunction', () => {
  it('serves a native-address BAR through the view factory (its RAM view is that memory) and an unmapped BAR through the slow path', async () => {
    const control = createDeviceControlBlock();
    const w = new Worker(fixture('fastpath-config-server'), { workerData: { control } });
    workers.push(w);
    expect((await once(w, 'message'))[0]).toBe('ready');
    const native = new ArrayBuffer(0x1000);
    const desc: DeviceHandleDescriptor = {
      id: 'd0',
      bdf: '0000:05:00.0',
      control,
      bars: [undefined, undefined, { bar: 2, sizeBytes: 0x1000, address: 0x9000_0000n, trapRanges: [], control }],
    };
    const fn = openGuestFunction(structuredClone(desc), {
      regions: [{ index: 0, sizeBytes: 64 }],
      fastPath: { viewFactory: () => native, timeoutMs: 5000 },
    });
    expect(fn.configRead(0, 4)).toBe(0x12348086);
    fn.configWrite(0x10, 4, 0xe000_0000);
    fn.configWrite(0x18, 4, 0xe001_0000);
    fn.configWrite(0x04, 2, 0x2);
    expect(fn.bars.map((b) => [b.index, b.sizeBytes, b.decoding])).toEqual([
      [0, 64, true],
      [2, 0x1000, true],
    ]);
    // BAR0: the fixture's 64-byte register file, through the mailbox.
    fn.mmioWrite(0xe000_0008, 4, 0xcafe);
    expect(fn.mmioRead(0xe000_0008, 4)).toBe(0xcafe);
    expect(fn.bars[0]!.ram).toBeUndefined();
    // BAR2: the native memory itself.
    fn.mmioWrite(0xe001_0010, 4, 0x1234_5678);
    expect(new Uint32Array(native)[4]).toBe(0x1234_5678);
    expect(fn.bars[1]!.ram!.buffer).toBe(native);
    fn.close();
    expect(barHolders(control, 2)).toBe(0);
  });

  it('releases the windows it opened when building the function fails (no server: the first config cycle times out)', () => {
    const control = createDeviceControlBlock();
    const desc: DeviceHandleDescriptor = {
      id: 'd1',
      bdf: '0000:06:00.0',
      control,
      bars: [{ bar: 0, sizeBytes: 0x1000, buffer: new SharedArrayBuffer(0x1000), trapRanges: [], control }],
    };
    const e = thrown(() => openGuestFunction(desc, { fastPath: { timeoutMs: 20 } }));
    expect(e.code).toBe('PT_ERR_TIMEOUT');
    expect(e.context).toMatchObject({ bdf: '0000:06:00.0', deviceId: 'd1' });
    expect(barHolders(control, 0)).toBe(0);
    expect(thrown(() => openGuestFunction({ ...desc, control: new SharedArrayBuffer(8) })).code).toBe('PT_ERR_INVALID_ARGUMENT');
  });

  it('a slow-path BAR port checks bounds and alignment as a BarWindow does', () => {
    const calls: string[] = [];
    const port = slowBarPort(
      {
        read: (bar, off, width) => (calls.push(`r${bar}:${off}:${width}`), 7n),
        write: (bar, off, width, v) => void calls.push(`w${bar}:${off}:${width}=${v}`),
      },
      1,
      32,
    );
    expect(port.read32(4)).toBe(7);
    port.write64(8, -1n);
    port.write8(31, 0x1ff);
    expect(calls).toEqual(['r1:4:4', 'w1:8:8=18446744073709551615', 'w1:31:1=255']);
    expect(thrown(() => port.read32(30)).code).toBe('PT_ERR_OUT_OF_RANGE');
    expect(thrown(() => port.read16(3)).code).toBe('PT_ERR_ALIGNMENT');
    expect(thrown(() => port.write8(-1, 0)).code).toBe('PT_ERR_OUT_OF_RANGE');
  });
});
