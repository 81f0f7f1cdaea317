/**
 * Issue 14, point 2 through the public API: errno (and kernReturn) survive
 * every synchronous path: the fast path's own checks (ConfigPort at or past
 * 4096, BarWindow out of range or misaligned), io-op errors that cross
 * the mailbox from the device worker (an unmapped BAR, an access past a
 * mapping, a failed forwarded config write), on the main thread, on a vCPU
 * thread that opened the fast path from the descriptor, and after the
 * device worker was killed and restarted.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BarWindow,
  ConfigPort,
  createSupervisor,
  openFastPath,
  type DeviceHandleDescriptor,
  type Supervisor,
} from '../../../src/index.js';
import { createDeviceControlBlock } from '../../../src/fastpath/layout.js';
import { IOReturn, Selector } from '../../../src/dext/contract.js';
import { thrown as caught } from '../../shared/thrown.js';
import { readInFreshWorker, type Access } from '../../shared/descriptor.js';

const EDU = '0000:00:10.0';


let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

describe('errno on the fast path\'s own checks (no worker involved)', () => {
  it('ConfigPort: an access at or past 4096 is PT_ERR_OUT_OF_RANGE with errno EINVAL; misaligned is EINVAL too', () => {
    const port = new ConfigPort(createDeviceControlBlock(), { timeoutMs: 50 });
    for (const e of [caught(() => port.read32(4096)), caught(() => port.read16(4095)), caught(() => port.write8(5000, 1))]) {
      expect(e.code).toBe('PT_ERR_OUT_OF_RANGE');
      expect(e.errno).toBe('EINVAL');
      expect(e.context.region).toBe(7);
    }
    const mis = caught(() => port.read32(2));
    expect([mis.code, mis.errno]).toEqual(['PT_ERR_ALIGNMENT', 'EINVAL']);
  });

  it('BarWindow: out of range and misaligned accesses carry errno EINVAL', () => {
    const control = createDeviceControlBlock();
    const w = BarWindow.open({ bar: 2, sizeBytes: 4096, buffer: new SharedArrayBuffer(4096), trapRanges: [], control });
    for (const e of [caught(() => w.read32(4096)), caught(() => w.write64(4092, 1n)), caught(() => w.read8(-1))]) {
      expect([e.code, e.errno]).toEqual(['PT_ERR_OUT_OF_RANGE', 'EINVAL']);
    }
    expect([caught(() => w.read16(3)).code, caught(() => w.read16(3)).errno]).toEqual(['PT_ERR_ALIGNMENT', 'EINVAL']);
    w.release();
  });
});

describe('errno and kernReturn across the mailbox (supervisor over the sim)', () => {
  it('a failed forwarded config write keeps PT_ERR_IO, errno EIO and the IOReturn', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(EDU);
    await sup.debug.injectFault(EDU, { kind: 'fail-selector', selector: Selector.ConfigWrite, kernReturn: IOReturn.NotPermitted, count: 1 });
    const e = caught(() => h.config.write8(0x3c, 0x0a));
    expect(e.code).toBe('PT_ERR_IO');
    expect(e.errno).toBe('EIO');
    expect(e.kernReturn).toBe(IOReturn.NotPermitted);
    expect(e.context).toMatchObject({ region: 7, offsetBytes: 0x3c });
    expect(e.message).toContain('config write failed');
    // The next write goes through (the fault was one-shot) and the device is still ready.
    h.config.write8(0x3c, 0x0a);
    expect(h.config.read8(0x3c)).toBe(0x0a);
    expect(sup.list()[0]!.state).toBe('ready');
  });

  it('a slow-path access to an unmapped BAR, or past the mapping, keeps the seed\'s text and errno EINVAL', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(EDU);
    const real = h.descriptor();
    // A descriptor that claims BAR3 (edu maps only BAR0) and a BAR0 twice its size, both trapped.
    const forged: DeviceHandleDescriptor = {
      ...real,
      bars: [
        { bar: 0, sizeBytes: 2 << 20, buffer: new SharedArrayBuffer(2 << 20), trapRanges: [{ offsetBytes: 0, lengthBytes: 2 << 20 }], control: real.control },
        undefined,
        undefined,
        { bar: 3, sizeBytes: 4096, buffer: new SharedArrayBuffer(4096), trapRanges: [{ offsetBytes: 0, lengthBytes: 4096 }], control: real.control },
      ],
    };
    const fp = openFastPath(forged, { timeoutMs: 3000 });
    try {
      const unmapped = caught(() => fp.bar(3).read32(0));
      expect(unmapped.code).toBe('PT_ERR_OUT_OF_RANGE');
      expect(unmapped.errno).toBe('EINVAL');
      expect(unmapped.message).toBe('vfio-apple: BAR3 read out of range or unmapped');
      expect(unmapped.context).toMatchObject({ region: 3, offsetBytes: 0, width: 4 });
      const past = caught(() => fp.bar(0).write32(1.5 * (1 << 20), 1));
      expect([past.code, past.errno, past.message]).toEqual(['PT_ERR_OUT_OF_RANGE', 'EINVAL', 'vfio-apple: BAR0 write out of range or unmapped']);
      expect(past.kernReturn).toBeUndefined();
      // Inside the mapping the same forged window reaches edu's id register.
      expect(fp.bar(0).read32(0)).toBe(0x010000ed);
    } finally {
      fp.close();
    }
  });
});

describe('errno and kernReturn on a vCPU thread, and after a restart', () => {
  const failConfigWrite = { kind: 'fail-selector', selector: Selector.ConfigWrite, kernReturn: IOReturn.NotPermitted, count: 1 } as const;
  // A failed forwarded write (caught and recorded by the thread), the same write again, a read back.
  const accesses: Access[] = [
    { kind: 'config-write8', offset: 0x3c, value: 0x0a, catchError: true },
    { kind: 'config-write8', offset: 0x3c, value: 0x0b },
    { kind: 'config-read8', offset: 0x3c },
  ];
  const failedWrite = { code: 'PT_ERR_IO', errno: 'EIO', kernReturn: IOReturn.NotPermitted, message: expect.stringContaining('config write failed') };

  it('a worker thread on the descriptor gets PT_ERR_IO, errno EIO and the IOReturn; so do the restarted device\'s new descriptor and the handle', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000, restart: { maxRestarts: 2, windowMs: 60_000 } });
    const h = await sup.attach(EDU, { id: 'edu' });
    await sup.debug.injectFault(EDU, failConfigWrite);
    expect(await readInFreshWorker(h.descriptor(), accesses)).toEqual({ ok: true, results: [failedWrite, 0x0b] });

    // Kill the device worker: the supervisor restarts it over the same control block.
    const restarted = new Promise<void>((resolve) => {
      const fn = () => {
        sup!.off('restart', fn);
        resolve();
      };
      sup!.on('restart', fn);
    });
    await sup.debug.killWorker('edu');
    await restarted;
    await vi.waitFor(() => expect(sup!.list()[0]).toMatchObject({ state: 'ready', restarts: 1 }), { timeout: 30_000 });

    // A new vCPU thread on the new descriptor: the same failure carries the same errno and IOReturn.
    await sup.debug.injectFault(EDU, failConfigWrite);
    expect(await readInFreshWorker(h.descriptor(), accesses)).toEqual({ ok: true, results: [failedWrite, 0x0b] });
    // The handle's own ConfigPort (its control block outlived the restart) too.
    await sup.debug.injectFault(EDU, failConfigWrite);
    const e = caught(() => h.config.write8(0x3c, 0x0c));
    expect([e.code, e.errno, e.kernReturn]).toEqual(['PT_ERR_IO', 'EIO', IOReturn.NotPermitted]);
    expect(e.context).toMatchObject({ region: 7, offsetBytes: 0x3c });
    h.config.write8(0x3c, 0x0c);
    expect(h.config.read8(0x3c)).toBe(0x0c);
    expect(sup.list()[0]!.state).toBe('ready');
  });
});
