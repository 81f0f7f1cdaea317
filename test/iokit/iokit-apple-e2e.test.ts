/**
 * End to end: the seed's apple container and device I/O table (helper H2)
 * over the IOKit backend through koffi, against the C stand-in: attach →
 * config → BAR access (mapped and slow path) → IRQ (promise and blocking
 * pump) → DMA → reset → detach, with nothing left held.
 */
import { expect, test } from 'vitest';
import { createAppleContainer } from '../../src/apple/container.js';
import { ConnectionTable } from '../../src/apple/connection-table.js';
import { loadKoffiForIokit } from '../../src/iokit/bindings.js';
import { createIokitDextDriver } from '../../src/iokit/dext-client.js';
import { IrqIndex, RegionIndex } from '../../src/vfio/device-io-ops.js';
import { toBdf, type HostVa, type Iova } from '../../src/types.js';
import { useStandin } from './helpers.js';

const s = useStandin();
const BDF = toBdf('04:00.0');

function u32(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}

test('attach → config → BAR → IRQ → DMA → reset → detach over IOKit/koffi', async () => {
  const table = new ConnectionTable();
  const container = createAppleContainer({ driver: createIokitDextDriver({ libraries: s.libraries }), table });
  const dev = container.attachDevice(BDF);
  expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: true, irqSetup: true, refs: 1 });

  // config space through region 7 (selector 8/9), BAR bits synthesised, COMMAND set by the claim
  expect(u32(dev.ops.regionRead(RegionIndex.CONFIG, 0, 4))).toBe(0x11e91234);
  expect(u32(dev.ops.regionRead(RegionIndex.CONFIG, 0x18, 4))).toBe(0xc);
  expect(dev.ops.regionRead(RegionIndex.CONFIG, 4, 2)[0]! & 0x6).toBe(0x6);
  expect(dev.ops.getRegionInfo(RegionIndex.BAR2).sizeBytes).toBe(16384n);

  // BAR: mapped fast path and the trapped slow path hit the same device memory
  const region = dev.ops.regionMap(RegionIndex.BAR0);
  expect(region).toBeDefined();
  region!.memory.write(0x40, 4, 0x600dcafen);
  expect(u32(dev.ops.regionRead(RegionIndex.BAR0, 0x40, 4))).toBe(0x600dcafe);
  dev.ops.regionWrite(RegionIndex.BAR0, 0x44, Uint8Array.of(1, 2, 3, 4));
  expect(region!.memory.read(0x44, 4)).toBe(0x04030201n);
  expect(dev.ops.regionMap(RegionIndex.BAR2)!.memory.writeCombined).toBe(true);

  // IRQ: MSI vectors 0-1 routed to a sink; the promise path, then the blocking pump path
  const delivered: number[] = [];
  dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 2, sink: { deliver: (v) => delivered.push(v) } });
  const next = dev.interrupts.next();
  expect(s.ctl.raise(4, 1)).toBe(true);
  expect(await next).toBe(1);
  expect(delivered).toEqual([1]);
  expect(dev.interrupts.nextSync).toBeDefined();
  expect(s.ctl.raise(4, 0)).toBe(true);
  expect(dev.interrupts.nextSync!(2000)).toBe(1);
  expect(delivered).toEqual([1, 0]);
  expect(dev.interrupts.nextSync!(5)).toBe(0); // nothing pending: timeout
  dev.interrupts.wake();
  expect(dev.interrupts.nextSync!(2000)).toBe(0); // woken

  // DMA: the container registers host memory with the dext and answers the bus address
  const sab = new SharedArrayBuffer(32768 + 4096);
  const base = loadKoffiForIokit().address(new Uint8Array(sab));
  const skip = Number((4096n - (base % 4096n)) % 4096n);
  new BigUint64Array(sab, skip, 4)[1] = 0x0123456789abcdefn;
  const mapping = container.dmaMap({ iova: 0x80000000n as Iova, hostVa: (base + BigInt(skip)) as HostVa, sizeBytes: 32768n });
  expect(mapping.key).toBe(0x80000000n);
  expect(mapping.busAddr).toBeGreaterThan(0n);
  expect(container.client!.probeDmaRegion(0x80000000n, 8n)).toBe(0x0123456789abcdefn);
  container.dmaUnmap(mapping.key);

  // reset: selector 17
  dev.ops.deviceReset();
  expect(s.ctl.deviceState(4).resets).toBe(1);

  container.detachDevice(BDF);
  expect(table.size).toBe(0);
  expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: false, irqSetup: false, refs: 0 });
  expect(s.ctl.counts()).toMatchObject({ connections: 0, maps: 0, registryRefs: 0, cfObjects: 0 });
});
