/**
 * spec §7 rule 12 (container connect / attach / detach with every error
 * path undone), rule 13 (sharing with the companion) and container DMA,
 * against the simulated dext.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAppleContainer, type AppleContainer } from '../../../src/apple/container.js';
import { ConnectionTable } from '../../../src/apple/connection-table.js';
import { IOReturn, Selector } from '../../../src/dext/contract.js';
import { DmaCmd, DmaCompanion, DmaReg, DmaStatus } from '../../../src/apple/dma-companion.js';
import { SabGuestMemory } from '../../../src/apple/guest-memory.js';
import type { HostVa, Iova } from '../../../src/types.js';
import { DUAL0, DUAL1, EDU, EDU2, MISSING, MSIX, rig, thrown, type Sim } from './harness.js';

let sim: Sim;
let table: ConnectionTable;
let container: AppleContainer;
let newContainer: () => AppleContainer;

beforeEach(() => {
  ({ sim, table, container, newContainer } = rig());
});
afterEach(() => sim.close());

/** Nothing of `bdf` is held: no table entry, no claim, no user client, no DART mapping. */
function expectNothingHeld(bdf: typeof EDU) {
  expect(table.refs(bdf)).toBe(0);
  expect(table.peek(bdf)).toBeUndefined();
  const f = sim.model(bdf);
  expect(f.providerClaimed).toBe(false);
  expect(f.refs).toBe(0);
  expect(f.clientCount).toBe(0);
  expect(f.dartMappings).toBe(0);
}

describe('rule 12: container connect and attach', () => {
  it('rule 12: setup answers the 16 KiB host page and UINT_MAX mappings', () => {
    expect(container.setup()).toEqual({ pageSizesBytes: [16384], maxMappings: 0xffffffff });
  });

  it('rule 12: attach connects, claims (opener), publishes and sets up interrupts', () => {
    const dev = container.attachDevice(EDU);
    expect(table.refs(EDU)).toBe(1);
    expect(table.peek(EDU)).toBe(container.client);
    const f = sim.model(EDU);
    expect(f.providerClaimed).toBe(true);
    expect(f.refs).toBe(1);
    expect(f.clientCount).toBe(1);
    expect(dev.state.numIrqVectors).toBeGreaterThan(0);
    container.detachDevice(EDU);
    expectNothingHeld(EDU);
  });

  it('rule 12: connect failure (unknown function) → PT_ERR_CONNECT_FAILED with the original text', () => {
    const e = thrown(() => container.attachDevice(MISSING));
    expect(e.code).toBe('PT_ERR_CONNECT_FAILED');
    expect(e.message).toBe('vfio-apple: could not connect to dext for host PCI 09:00.0');
    expect(table.size).toBe(0);
    expect(container.device).toBeUndefined();
  });

  it('rule 12: claim failure → PT_ERR_CLAIM_FAILED, disconnected, nothing held', () => {
    sim.faults.failSelector(EDU, Selector.Claim, IOReturn.NotPermitted, { count: 1 });
    const e = thrown(() => container.attachDevice(EDU));
    expect(e.code).toBe('PT_ERR_CLAIM_FAILED');
    expect(e.message).toBe('vfio-apple: failed to claim dext-backed PCI device 00:10.0');
    expect(e.kernReturn).toBe(IOReturn.NotPermitted);
    expectNothingHeld(EDU);
    // and the function is usable afterwards
    container.attachDevice(EDU);
    container.detachDevice(EDU);
    expectNothingHeld(EDU);
  });

  it('rule 12: duplicate owner → PT_ERR_DUPLICATE_OWNER, the new connection closed (not released), the owner intact', () => {
    const first = container.attachDevice(EDU);
    const second = newContainer();
    const e = thrown(() => second.attachDevice(EDU));
    expect(e.code).toBe('PT_ERR_DUPLICATE_OWNER');
    expect(e.message).toBe('vfio-apple: duplicate dext owner for host PCI 00:10.0');
    expect(table.refs(EDU)).toBe(1);
    const f = sim.model(EDU);
    expect(f.refs).toBe(1);
    expect(f.clientCount).toBe(1);
    expect(f.providerClaimed).toBe(true);
    expect(first.state.client!.connected).toBe(true);
    first.ops.regionRead(7, 0, 4); // still works
    container.detachDevice(EDU);
    expectNothingHeld(EDU);
  });

  it('rule 12: SetupInterrupts failure → PT_ERR_IRQ_SETUP "(kr=0x…)", everything undone', () => {
    sim.faults.failSelector(EDU, Selector.SetupInterrupts, IOReturn.NotFound, { count: 1 });
    const e = thrown(() => container.attachDevice(EDU));
    expect(e.code).toBe('PT_ERR_IRQ_SETUP');
    expect(e.message).toBe('vfio-apple: failed to setup interrupts (kr=0xe00002f0)');
    expectNothingHeld(EDU);
  });

  it('rule 12: WaitInterrupt refused at notifier creation → "vfio-apple: failed to create IRQ async notification", undone', () => {
    sim.faults.failSelector(EDU, Selector.WaitInterrupt, IOReturn.NotReady, { count: 1 });
    const e = thrown(() => container.attachDevice(EDU));
    expect(e.code).toBe('PT_ERR_IRQ_SETUP');
    expect(e.message).toBe('vfio-apple: failed to create IRQ async notification');
    expectNothingHeld(EDU);
  });

  it('rule 12: a failed early-setup read undoes the attach', () => {
    sim.faults.failSelector(EDU, Selector.ConfigRead, IOReturn.NoDevice, { count: 1 });
    const e = thrown(() => container.attachDevice(EDU));
    expect(e.code).toBe('PT_ERR_IO');
    expectNothingHeld(EDU);
  });

  it('rule 12: detach unmaps BARs, drops DMA regions and releases; idempotent', () => {
    const dev = container.attachDevice(EDU);
    dev.ops.regionMap(0);
    const sab = new SharedArrayBuffer(65536);
    const hostVa = sim.hostMemory.expose(sab);
    container.dmaMap({ hostVa, sizeBytes: 65536n });
    expect(sim.model(EDU).dartMappings).toBeGreaterThan(0);
    container.detachDevice(EDU);
    container.detachDevice(EDU);
    expect(dev.state.barMaps.every((m) => m === undefined)).toBe(true);
    expect(container.mappings.size).toBe(0);
    expectNothingHeld(EDU);
  });

  it('rule 12: one device per container (PT_ERR_INVALID_STATE for a second)', () => {
    container.attachDevice(EDU);
    expect(thrown(() => container.attachDevice(EDU2)).code).toBe('PT_ERR_INVALID_STATE');
    expect(table.size).toBe(1);
    container.detachDevice(EDU);
  });

  it('rule 12: each function of a two-function slot has its own container and connection', () => {
    const c1 = newContainer();
    const d0 = container.attachDevice(DUAL0);
    const d1 = c1.attachDevice(DUAL1);
    expect(d0.state.client).not.toBe(d1.state.client);
    expect(table.size).toBe(2);
    container.detachDevice(DUAL0);
    expect(sim.model(DUAL1).providerClaimed).toBe(true);
    c1.detachDevice(DUAL1);
    expectNothingHeld(DUAL0);
    expectNothingHeld(DUAL1);
  });
});

describe('rule 12: every function and surprise removal', () => {
  it('rule 12: every function of the default machine attaches and detaches leaving nothing held', () => {
    const services = sim.listServices();
    expect(services.length).toBeGreaterThanOrEqual(6);
    for (const { bdf } of services) {
      const c = newContainer();
      const dev = c.attachDevice(bdf);
      expect(dev.name).toBe(`apple-${bdf}`);
      for (let bar = 0; bar < 6; bar++) dev.ops.regionMap(bar);
      c.detachDevice(bdf);
      expectNothingHeld(bdf);
    }
  });

  it('a function that falls off the bus: config reads all ones, reset is PT_ERR_IO, detach still releases everything', () => {
    const dev = container.attachDevice(EDU);
    sim.faults.fallOffBus(EDU);
    expect(Array.from(dev.ops.regionRead(7, 0, 4))).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(thrown(() => dev.ops.deviceReset()).code).toBe('PT_ERR_IO');
    expect(() => dev.ops.setIrqs({ index: 1, action: 'trigger', start: 0, count: 1, sink: { deliver: () => {} } })).not.toThrow();
    container.detachDevice(EDU);
    expect(table.size).toBe(0);
    expect(sim.model(EDU).clientCount).toBe(0);
    expect(sim.model(EDU).providerClaimed).toBe(false);
  });
});

describe('container DMA', () => {
  it('dmaMap registers key = requested IOVA, clientVA = hostVa and returns the bus address; dmaUnmap by key', () => {
    container.attachDevice(EDU);
    const sab = new SharedArrayBuffer(2 * 16384);
    const hostVa = sim.hostMemory.expose(sab);
    const m = container.dmaMap({ iova: 0x4000_0000n as Iova, hostVa, sizeBytes: 32768n });
    expect(m.key).toBe(0x4000_0000n);
    expect(m.sizeBytes).toBe(32768n);
    expect(container.client!.probeDmaRegion(m.key, 0n)).toBe(0n);
    new DataView(sab).setBigUint64(8, 0xfeedn, true);
    expect(container.client!.probeDmaRegion(m.key, 8n)).toBe(0xfeedn);
    // the key is live: the dext refuses a duplicate
    expect(thrown(() => container.dmaMap({ iova: 0x4000_0000n as Iova, hostVa, sizeBytes: 16384n })).code).toBe('PT_ERR_STILL_OPEN');
    container.dmaUnmap(m.key);
    expect(thrown(() => container.dmaUnmap(m.key)).code).toBe('PT_ERR_NOT_FOUND');
    container.detachDevice(EDU);
  });

  it('dmaMap without an IOVA allocates distinct keys', () => {
    container.attachDevice(EDU);
    const a = sim.hostMemory.expose(new SharedArrayBuffer(16384));
    const b = sim.hostMemory.expose(new SharedArrayBuffer(16384));
    const ma = container.dmaMap({ hostVa: a, sizeBytes: 16384n });
    const mb = container.dmaMap({ hostVa: b, sizeBytes: 16384n });
    expect(ma.key).not.toBe(mb.key);
    expect(container.mappings.size).toBe(2);
    container.detachDevice(EDU);
  });

  it('dmaMap before attach → PT_ERR_NO_CONNECTION; companion routing keeps the original no-ops', () => {
    expect(thrown(() => container.dmaMap({ hostVa: 0x1000n as HostVa, sizeBytes: 4096n })).code).toBe('PT_ERR_NO_CONNECTION');
    const { sim: s2, container: c2 } = rig('companion');
    c2.attachDevice(EDU);
    const m = c2.dmaMap({ iova: 0x5000n as Iova, hostVa: 0x1000n as HostVa, sizeBytes: 4096n });
    expect(m).toEqual({ key: 0x5000n, busAddr: 0x5000n, sizeBytes: 4096n });
    expect(s2.model(EDU).dartMappings).toBe(0);
    c2.dmaUnmap(m.key);
    c2.detachDevice(EDU);
    s2.close();
  });
});

describe('rule 13: companion shares the container connection', () => {
  it('rule 13: the companion acquires the published connection; the connection outlives the container until it releases', () => {
    container.attachDevice(EDU);
    const ramSab = new SharedArrayBuffer(65536);
    const hostVa = sim.hostMemory.expose(ramSab);
    const GPA = 0x8000_0000n;
    const mem = new SabGuestMemory([{ gpa: GPA, buffer: ramSab, offsetBytes: 0, lengthBytes: 65536, hostVa }]);
    const companion = DmaCompanion.realize({ managedBdf: 0xf0, host: { bus: 0, device: 0x10, function: 0 }, driver: sim, table, guestMemory: mem });
    expect(companion.connection).toBe('shared');
    expect(table.refs(EDU)).toBe(2);
    expect(sim.model(EDU).clientCount).toBe(1);

    // one MAP entry through the doorbell lands in the dext's DMA registry
    const v = new DataView(ramSab);
    v.setUint32(0, DmaCmd.MAP, true);
    v.setUint32(4, 1, true);
    v.setBigUint64(0x10, GPA + 0x100n, true);
    v.setBigUint64(0x18, GPA + 0x200n, true);
    v.setBigUint64(0x100, GPA + 0x4000n, true);
    v.setUint32(0x108, 0x4000, true);
    companion.mmioWrite(DmaReg.CMD_GPA_LO, 4, Number(GPA & 0xffffffffn));
    companion.mmioWrite(DmaReg.CMD_GPA_HI, 4, 0);
    companion.mmioWrite(DmaReg.DOORBELL, 4, 1);
    expect(companion.mmioRead(DmaReg.STATUS)).toBe(DmaStatus.OK);
    expect(v.getUint32(0x200 + 20, true)).toBe(DmaStatus.OK);
    expect(v.getBigUint64(0x200, true)).toBe(GPA + 0x4000n);
    v.setBigUint64(0x4000 + 8, 0xabcn, true);
    expect(container.client!.probeDmaRegion(GPA + 0x4000n, 8n)).toBe(0xabcn);

    container.detachDevice(EDU);
    expect(table.refs(EDU)).toBe(1);
    expect(sim.model(EDU).clientCount).toBe(1);
    companion.disconnect();
    expectNothingHeld(EDU);
  });

  it('spec §6: an entry the dext refuses (physically fragmented → NotAligned) is IOERR; the batch too', () => {
    container.attachDevice(EDU);
    const ramSab = new SharedArrayBuffer(0x20000);
    const hostVa = sim.hostMemory.expose(ramSab, { segmentBytes: 0x4000 });
    const GPA = 0x8000_0000n;
    const mem = new SabGuestMemory([{ gpa: GPA, buffer: ramSab, offsetBytes: 0, lengthBytes: 0x20000, hostVa }]);
    const companion = DmaCompanion.realize({ managedBdf: 0xf0, host: { bus: 0, device: 0x10, function: 0 }, driver: sim, table, guestMemory: mem });
    const v = new DataView(ramSab);
    v.setUint32(0, DmaCmd.MAP, true);
    v.setUint32(4, 2, true);
    v.setBigUint64(0x10, GPA + 0x100n, true);
    v.setBigUint64(0x18, GPA + 0x200n, true);
    v.setBigUint64(0x100, GPA + 0x8000n, true); // one 16 KiB segment: fine
    v.setUint32(0x108, 0x4000, true);
    v.setBigUint64(0x110, GPA + 0xc000n, true); // crosses into the next segment
    v.setUint32(0x118, 0x8000, true);
    companion.mmioWrite(DmaReg.CMD_GPA_LO, 4, Number(GPA & 0xffffffffn));
    companion.mmioWrite(DmaReg.DOORBELL, 4, 1);
    expect(companion.status).toBe(DmaStatus.IOERR);
    expect(v.getUint32(0x8, true)).toBe(DmaStatus.IOERR);
    expect(v.getUint32(0x200 + 20, true)).toBe(DmaStatus.OK);
    expect(v.getUint32(0x200 + 24 + 20, true)).toBe(DmaStatus.IOERR);
    companion.disconnect();
    container.detachDevice(EDU);
    expectNothingHeld(EDU);
  });

  it('rule 13: without a container the companion is a claimed client of its own', () => {
    const companion = DmaCompanion.realize({ managedBdf: 0xf0, host: { bus: 0, device: 0x10, function: 0 }, driver: sim, table, guestMemory: new SabGuestMemory() });
    expect(companion.connection).toBe('own');
    expect(sim.model(EDU).refs).toBe(1);
    companion.disconnect();
    expectNothingHeld(EDU);
  });

  it('rule 13: companion connect failure for an unknown function', () => {
    const e = thrown(() =>
      DmaCompanion.realize({ managedBdf: 0, host: { bus: 9, device: 0, function: 0 }, driver: sim, table, guestMemory: new SabGuestMemory() }),
    );
    expect(e.message).toBe('apple-dma: could not connect to dext for host PCI 09:00.0');
  });

  it('rule 13: companion claim failure carries the kr', () => {
    sim.faults.failSelector(EDU, Selector.Claim, IOReturn.NotPermitted, { count: 1 });
    const e = thrown(() =>
      DmaCompanion.realize({ managedBdf: 0, host: { bus: 0, device: 0x10, function: 0 }, driver: sim, table, guestMemory: new SabGuestMemory() }),
    );
    expect(e.message).toBe('apple-dma: failed to claim dext-backed PCI device 00:10.0 (kr=0xe00002e2)');
    expectNothingHeld(EDU);
  });
});

describe('rule 9 / rule 7 on the MSI-X function', () => {
  it('rule 9: the 64-bit prefetchable BAR maps write-combined; its upper half is not mapped', () => {
    const dev = container.attachDevice(MSIX);
    expect(dev.state.bars[2]!.mem64).toBe(true);
    const m = dev.ops.regionMap(2)!;
    expect(m.memory.writeCombined).toBe(true);
    expect(m.windows).toEqual([{ offsetBytes: 0, lengthBytes: m.sizeBytes }]);
    expect(dev.ops.regionMap(3)).toBeUndefined();
    container.detachDevice(MSIX);
    expectNothingHeld(MSIX);
  });

  it('rule 7: vectors in words 1 and 3 raised by the device are delivered lowest first', async () => {
    const dev = container.attachDevice(MSIX);
    const got: number[] = [];
    dev.ops.setIrqs({ index: 2, action: 'trigger', start: 0, count: dev.state.msix!.tableSize, sink: { deliver: (v) => got.push(v) } });
    for (const v of [200, 70, 3]) sim.model(MSIX).raise(v);
    let n = 0;
    while (n < 3) n += await dev.interrupts.next();
    expect(got).toEqual([3, 70, 200]);
    container.detachDevice(MSIX);
  });
});

describe('rule 15: mmap windows around the MSI-X table and PBA', () => {
  it('rule 15: the MSI-X BAR mapping excludes the table and PBA pages; other BARs are whole', () => {
    const dev = container.attachDevice(sim.listServices().find((s) => s.bdf === '0000:02:00.0')!.bdf);
    const msix = dev.state.msix!;
    const m = dev.ops.regionMap(msix.tableBar)!;
    expect(m).toBeDefined();
    const page = 16384;
    const hole = (off: number, len: number) => [Math.floor(off / page) * page, Math.ceil((off + len) / page) * page];
    const [ts, te] = hole(msix.tableOffset, msix.tableSize * 16);
    const [ps, pe] = hole(msix.pbaOffset, Math.ceil(msix.tableSize / 64) * 8);
    for (const w of m.windows) {
      const [ws, we] = [w.offsetBytes, w.offsetBytes + w.lengthBytes];
      expect(ws % page).toBe(0);
      if (msix.tableBar === m.index) expect(we <= ts || ws >= te).toBe(true);
      if (msix.pbaBar === m.index) expect(we <= ps || ws >= pe).toBe(true);
    }
    expect(m.windows).toEqual([
      { offsetBytes: 0, lengthBytes: 0x4000 },
      { offsetBytes: 0xc000, lengthBytes: 0x4000 },
    ]);
    // the table itself is still reachable on the slow path
    expect(() => dev.ops.regionRead(msix.tableBar, msix.tableOffset, 4)).not.toThrow();
    container.detachDevice(dev.bdf);
  });
});
