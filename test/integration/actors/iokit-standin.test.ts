/**
 * The iokit backend end to end through the public supervisor, off macOS:
 * the test-only `libraries` option points the device worker's IOKit bindings
 * at the C stand-in (test/iokit/standin). The stand-in is one native library
 * per process, so the main thread's control handle sees what the worker did.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import type { IokitLibraryPaths } from '../../../src/iokit/bindings.js';
import { standinLibraries } from '../../iokit/standin/build.js';
import { standinControl } from '../../iokit/standin/control.js';
import { readInFreshWorker } from '../../shared/descriptor.js';
import { IRQ_WAIT_MS } from '../../shared/deadline.js';

let libraries: IokitLibraryPaths;
let ctl: ReturnType<typeof standinControl>;
let sup: Supervisor | undefined;

beforeAll(() => {
  libraries = standinLibraries();
  ctl = standinControl();
});
afterEach(async () => {
  await sup?.close();
  sup = undefined;
  expect(ctl.violations()).toBe(0);
});

describe('iokit backend through the supervisor (C stand-in)', () => {
  it('attach → mapped BAR (address view in this thread) → config → IRQ → reset → detach, nothing held', async () => {
    ctl.reset();
    sup = await createSupervisor({ backend: 'iokit', backendOptions: { libraries } });
    expect((await sup.status()).ready).toBe(true);
    expect((await sup.listFunctions()).map((f) => f.bdf)).toEqual(expect.arrayContaining(['0000:04:00.0']));
    const h = await sup.attach('04:00.0');
    expect(h.info).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e9, irqMode: 'msi' });
    expect(ctl.deviceState(4)).toMatchObject({ providerClaimed: true, irqSetup: true, refs: 1 });

    const bar0 = h.bar(0)!;
    bar0.write32(0x40, 0x600dcafe);
    expect(bar0.read32(0x40)).toBe(0x600dcafe);
    expect(h.config.read16(0)).toBe(0x1234);

    // Two notification ports: the device worker's (its first arm at attach, then handed
    // off) and the IRQ pump thread's, which now owns the dext's one completion.
    expect(ctl.counts().notificationPorts).toBe(2);
    for (const v of [0, 0]) {
      const seq = h.irq.seq;
      expect(ctl.raise(4, v)).toBe(true);
      await h.irq.waitAsync(seq, IRQ_WAIT_MS);
      expect(h.irq.drain()).toEqual([v]);
    }

    // DMA: the worker exposes the SharedArrayBuffer by its native address (koffi) and registers it.
    // A SharedArrayBuffer's backing store is not 16 KiB aligned, which the dext refuses
    // (PrepareForDMA gives more than one segment per chunk): the typed error comes back
    // through the control plane, the exposure is undone and the device stays ready.
    const ram = new SharedArrayBuffer(64 * 1024);
    const err = await h.dma.map(ram, { iova: 0x40000n }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PT_ERR_NOT_ALIGNED', context: { selectorName: 'RegisterDMARegion' } });
    expect(h.state).toBe('ready');
    expect(h.dma.list()).toEqual([]);

    await h.reset();
    expect(ctl.deviceState(4).resets).toBe(1);
    // The pump thread keeps waiting across a reset.
    const afterReset = h.irq.seq;
    expect(ctl.raise(4, 0)).toBe(true);
    await h.irq.waitAsync(afterReset, IRQ_WAIT_MS);
    expect(h.irq.drain()).toEqual([0]);
    await h.detach();
    expect(ctl.deviceState(4)).toMatchObject({ providerClaimed: false, refs: 0 });
    // The pump thread was woken through its port and exited: no notification port is left.
    expect(ctl.counts()).toMatchObject({ connections: 0, maps: 0, notificationPorts: 0 });
    expect(sup.debug.resources().teardowns[h.id]).toMatchObject({ connectionRefs: 0, mappedBars: 0, dmaMappings: 0, exposures: 0 });
  });

  it('a descriptor opens the fast path in a fresh worker: the BAR is a host address, viewed through the named factory', async () => {
    ctl.reset();
    sup = await createSupervisor({ backend: 'iokit', backendOptions: { libraries } });
    const h = await sup.attach('04:00.0');
    const desc = h.descriptor();
    expect(desc.bars[0]?.address).toBeTypeOf('bigint');
    expect(desc.viewFactoryModule).toMatch(/iokit\/native-view\.js$/);
    const out = await readInFreshWorker(desc, [
      { kind: 'bar-write32', bar: 0, offset: 0x40, value: 0x5eed1234 },
      { kind: 'bar-read32', bar: 0, offset: 0x40 },
      { kind: 'config-read16', offset: 0 },
    ]);
    expect(out).toEqual({ ok: true, results: [0x5eed1234, 0x1234] });
    // The write landed in the device memory this thread sees too.
    expect(h.bar(0)!.read32(0x40)).toBe(0x5eed1234);
    await h.detach();
  });
});
