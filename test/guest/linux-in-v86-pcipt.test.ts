/**
 * The v86 tier over real pcipt functions: the sim backend's edu
 * (0000:00:10.0), its two-function slot (0000:03:00.0/.1) and its MSI-X
 * function (0000:02:00.0), attached by one supervisor, turned into
 * guest-facing functions by the guest layer (src/guest/) and passed into
 * Debian's i386 kernel in v86. Same scenario as linux-in-v86.test.ts
 * (harness/tier.ts), plus: each enumerated function has the ids, class and
 * BAR sizes the host device itself reports (what `pcipt info` shows).
 *
 * The functions are the guest layer's (src/adapters/supervised.ts
 * loadGuestFunctionFactory: openGuestFunction over each handle, the host side
 * on the VFIO-level view).
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor/supervisor.js';
import type { DeviceHandle } from '../../src/actors/supervisor/handle.js';
import { loadGuestFunctionFactory, supervisedFunctionSpecs } from '../../src/adapters/supervised.js';
import { createBackendHost } from '../../src/backends/index.js';
import { buildPciInfo, type PciInfoRecord } from '../../src/cli/query-pci.js';
import { defineTier } from './harness/tier.js';

const BDFS = ['0000:00:10.0', '0000:02:00.0', '0000:03:00.0', '0000:03:00.1'];
const factory = await loadGuestFunctionFactory();
let sup: Supervisor;
const handles: DeviceHandle[] = [];
const reports = new Map<string, PciInfoRecord>();

beforeAll(async () => {
  const host = await createBackendHost('sim', {});
  try {
    for (const bdf of BDFS) reports.set(bdf, buildPciInfo(bdf, await host.readConfig(bdf), await host.regions(bdf)));
  } finally {
    await host.close();
  }
  sup = await createSupervisor({ backend: 'sim' });
  for (const bdf of BDFS) handles.push(await sup.attach(bdf));
}, 120_000);
afterAll(async () => {
  await sup?.close();
});

defineTier({
  title: 'the sim edu (00:10.0), MSI-X function (02:00.0) and two-function slot (03:00.0/.1) through the supervisor and the guest layer',
  eduHostBdf: '0000:00:10.0',
  specs: () => supervisedFunctionSpecs(handles, factory),
  checkDevice(hostBdf, guest) {
    const r = reports.get(hostBdf)!;
    const u16 = (o: number) => guest.config[o]! | (guest.config[o + 1]! << 8);
    expect(u16(0), `${hostBdf} vendor as the device reports it`).toBe(r.id.vendor);
    expect(u16(2), `${hostBdf} device`).toBe(r.id.device);
    expect(u16(0x0a), `${hostBdf} class`).toBe(r.class_info.class);
    for (const region of r.regions) {
      const [start, end] = guest.resources[region.bar]!;
      expect(Number(end - start + 1n), `${hostBdf} BAR${region.bar} size`).toBe(region.size);
    }
    const guestCaps = new Set<number>();
    if ((guest.config[6]! & 0x10) !== 0) {
      for (let p = guest.config[0x34]! & 0xfc, n = 0; p !== 0 && n < 48; p = guest.config[p + 1]! & 0xfc, n++) guestCaps.add(guest.config[p]!);
    }
    // Every standard capability the device reports reaches the guest (MSI / MSI-X included: v86 cannot deliver
    // them, but Linux sees them and falls back to INTx).
    for (const cap of r.capabilities.filter((c) => !c.extended)) expect(guestCaps.has(cap.id), `${hostBdf} capability ${cap.name}`).toBe(true);
  },
});
