import { describe, expect, it } from 'vitest';
import { createBackendHost, createWorkerBackend } from '../../../src/backends/index.js';
import { createSimBackendHost, createSimWorkerBackend } from '../../../src/sim/backend.js';
import { createSupervisor } from '../../../src/actors/supervisor/supervisor.js';
import { PassthroughError } from '../../../src/errors.js';

describe('backend selection', () => {
  it.skipIf(process.platform === 'darwin')('iokit off macOS: status says unsupported-platform, prepare throws PT_ERR_PLATFORM', async () => {
    const host = await createBackendHost('iokit');
    expect(await host.status()).toMatchObject({ backend: 'iokit', ready: false, state: 'unsupported-platform' });
    expect(await host.listFunctions()).toEqual([]);
    const err = await host.prepare('0000:00:10.0').catch((e: unknown) => e);
    expect(PassthroughError.is(err, 'PT_ERR_PLATFORM')).toBe(true);
    expect((err as Error).message).toBe('the iokit backend is macOS-only');
    await expect(createWorkerBackend({ backend: 'iokit', options: { bdf: '0000:00:10.0' } })).rejects.toMatchObject({
      code: 'PT_ERR_PLATFORM',
    });
    const sup = await createSupervisor({ backend: 'iokit' });
    expect((await sup.status()).state).toBe('unsupported-platform');
    await expect(sup.attach('0000:00:10.0')).rejects.toMatchObject({ code: 'PT_ERR_PLATFORM' });
    expect(sup.debug.resources()).toMatchObject({ devices: 0, owners: [], workers: 0 });
    await sup.close();
  });

  it('refuses an unknown backend', async () => {
    await expect(createBackendHost('pci' as never)).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await expect(createWorkerBackend({ backend: 'pci' as never, options: {} })).rejects.toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
    });
  });
});

describe('sim backend halves', () => {
  it('host: lists functions, reads config and regions without claiming, prepares a spec', async () => {
    const host = createSimBackendHost();
    const fns = await host.listFunctions();
    expect(fns.find((f) => f.bdf === '0000:02:00.0')).toMatchObject({ vendorId: 0x1234, deviceId: 0x5a01, driver: 'sim', attachable: true, details: { model: 'msix' } });
    const cfg = await host.readConfig('02:00.0');
    expect(cfg.length).toBe(4096);
    expect(cfg[0] | (cfg[1]! << 8)).toBe(0x1234);
    expect(await host.regions('0000:02:00.0')).toEqual([
      { bar: 0, type: 'memory', sizeBytes: 0x10000, prefetch: false, mem64: false },
      { bar: 2, type: 'memory', sizeBytes: 1024 * 1024, prefetch: true, mem64: true },
    ]);
    await expect(host.prepare('0000:0a:00.0')).rejects.toMatchObject({ code: 'PT_ERR_CONNECT_FAILED' });
    const spec = await host.prepare('0000:00:10.0');
    expect(spec.backend).toBe('sim');
    expect(structuredClone(spec)).toEqual(spec);
    host.release('0000:00:10.0');
    await host.close();
    await expect(host.prepare('0000:00:10.0')).rejects.toMatchObject({ code: 'PT_ERR_CLOSED' });
  });

  it('worker: holds only its own function and applies injected faults at creation', async () => {
    const host = createSimBackendHost({ faults: [{ bdf: '*', selector: 'Claim', kernReturn: 0xe00002e2, count: 1 }] });
    const wb = createSimWorkerBackend(await host.prepare('0000:00:11.0'));
    expect(wb.sim.listServices().map((s) => s.bdf)).toEqual(['0000:00:11.0']);
    expect(() => wb.container.attachDevice(wb.bdf)).toThrow(expect.objectContaining({ code: 'PT_ERR_CLAIM_FAILED' }));
    expect(wb.table.refs(wb.bdf)).toBe(0);
    const dev = wb.container.attachDevice(wb.bdf); // count: 1 → the second claim works
    expect(dev.name).toBe('apple-0000:00:11.0');
    expect(wb.table.refs(wb.bdf)).toBe(1);
    const va = wb.exposeHostMemory(new SharedArrayBuffer(16384), 0, 16384);
    expect(typeof va).toBe('bigint');
    wb.unexposeHostMemory(va);
    wb.close();
    expect(wb.table.refs(wb.bdf)).toBe(0);
    await host.close();
  });
});
