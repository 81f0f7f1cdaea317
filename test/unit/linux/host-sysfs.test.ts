/**
 * The linux BackendHost over a fake sysfs tree (PCIPT_SYSFS_ROOT) and a fake
 * /dev/vfio (PCIPT_VFIO_DEV): enumeration, readiness and the prepare() errors
 * that come before any ioctl. Nothing here touches real devices.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinuxBackendHost, parseSysfsResource, VfioGroupTable } from '../../../src/linux/index.js';

let root: string;
let sys: string;
let dev: string;

function addFunction(bdf: string, ids: { vendor: string; device: string; cls: string }, driver?: string, group?: string): void {
  const d = join(sys, 'bus/pci/devices', bdf);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'vendor'), `${ids.vendor}\n`);
  writeFileSync(join(d, 'device'), `${ids.device}\n`);
  writeFileSync(join(d, 'class'), `${ids.cls}\n`);
  writeFileSync(join(d, 'config'), Buffer.from([0x34, 0x12, 0xe8, 0x11]));
  writeFileSync(
    join(d, 'resource'),
    '0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n' +
      '0x0000000000000000 0x0000000000000000 0x0000000000000000\n'.repeat(5),
  );
  if (driver !== undefined) {
    mkdirSync(join(sys, 'bus/pci/drivers', driver), { recursive: true });
    symlinkSync(join(sys, 'bus/pci/drivers', driver), join(d, 'driver'));
  }
  if (group !== undefined) {
    const g = join(sys, 'kernel/iommu_groups', group);
    mkdirSync(join(g, 'devices'), { recursive: true });
    symlinkSync(d, join(g, 'devices', bdf));
    symlinkSync(g, join(d, 'iommu_group'));
  }
}

const EDU = { vendor: '0x1234', device: '0x11e8', cls: '0x00ff00' };
const NIC = { vendor: '0x8086', device: '0x10d3', cls: '0x020000' };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pcipt-linux-sysfs-'));
  sys = join(root, 'sys');
  dev = join(root, 'dev-vfio');
  mkdirSync(dev);
  addFunction('0000:00:10.0', EDU, 'vfio-pci', '3');
  addFunction('0000:00:19.0', NIC, 'e1000e', '4');
  addFunction('0000:00:1a.0', NIC, undefined, '5');
  process.env.PCIPT_SYSFS_ROOT = sys;
  process.env.PCIPT_VFIO_DEV = dev;
});
afterAll(() => {
  delete process.env.PCIPT_SYSFS_ROOT;
  delete process.env.PCIPT_VFIO_DEV;
  rmSync(root, { recursive: true, force: true });
});

describe('linux BackendHost over sysfs', () => {
  it('lists every function with ids, class, driver and IOMMU group; none attachable without /dev/vfio/vfio', async () => {
    const host = createLinuxBackendHost({ table: new VfioGroupTable() });
    const fns = await host.listFunctions();
    expect(fns.map((f) => [f.bdf, f.vendorId, f.deviceId, f.classCode, f.driver, f.details.iommuGroup, f.attachable])).toEqual([
      ['0000:00:10.0', 0x1234, 0x11e8, 0x00ff00, 'vfio-pci', '3', false],
      ['0000:00:19.0', 0x8086, 0x10d3, 0x020000, 'e1000e', '4', false],
      ['0000:00:1a.0', 0x8086, 0x10d3, 0x020000, undefined, '5', false],
    ]);
    const st = await host.status();
    expect(st).toMatchObject({ backend: 'linux', ready: false, state: 'not-installed' });
    expect(st.details.join('\n')).toMatch(/1 function\(s\) bound to vfio-pci: 0000:00:10.0/);
  });

  it('marks vfio-pci functions attachable once /dev/vfio/vfio exists', async () => {
    writeFileSync(join(dev, 'vfio'), '');
    try {
      const host = createLinuxBackendHost({ table: new VfioGroupTable() });
      expect((await host.listFunctions()).filter((f) => f.attachable).map((f) => f.bdf)).toEqual(['0000:00:10.0']);
      expect((await host.status()).state).toBe('active');
    } finally {
      rmSync(join(dev, 'vfio'));
    }
  });

  it('reads config space and BARs from sysfs', async () => {
    const host = createLinuxBackendHost({ table: new VfioGroupTable() });
    expect([...(await host.readConfig('00:10.0'))]).toEqual([0x34, 0x12, 0xe8, 0x11]);
    expect(await host.regions('0000:00:10.0')).toEqual([{ bar: 0, type: 'memory', sizeBytes: 0x100000, prefetch: false, mem64: false }]);
  });

  it('prepare: PT_ERR_NOT_FOUND, PT_ERR_NOT_BOUND (driver named, with the bind command), PT_ERR_VFIO_UNAVAILABLE', async () => {
    const host = createLinuxBackendHost({ table: new VfioGroupTable() });
    await expect(host.prepare('0000:00:1f.0')).rejects.toMatchObject({ code: 'PT_ERR_NOT_FOUND' });
    await expect(host.prepare('0000:00:19.0')).rejects.toMatchObject({
      code: 'PT_ERR_NOT_BOUND',
      message: expect.stringMatching(/has driver e1000e\); bind it with .*driver_override/),
    });
    await expect(host.prepare('0000:00:1a.0')).rejects.toMatchObject({ code: 'PT_ERR_NOT_BOUND', message: expect.stringMatching(/no driver/) });
    await expect(host.prepare('0000:00:10.0')).rejects.toMatchObject({
      code: 'PT_ERR_VFIO_UNAVAILABLE',
      message: expect.stringMatching(/does not exist: load the VFIO modules/),
    });
    await expect(host.prepare('not-a-bdf')).rejects.toMatchObject({ code: 'PT_ERR_INVALID_BDF' });
    host.release('0000:00:10.0'); // idempotent on nothing
    await host.close();
  });
});

describe('parseSysfsResource', () => {
  it('decodes memory/io, prefetch and 64-bit flags and skips empty BARs', () => {
    const text = [
      '0x00000000fe000000 0x00000000fe7fffff 0x0000000000140204', // 64-bit mem
      '0x0000000000000000 0x0000000000000000 0x0000000000000000',
      '0x0000000800000000 0x0000000bffffffff 0x000000000014220c', // 64-bit prefetch
      '0x0000000000000000 0x0000000000000000 0x0000000000000000',
      '0x000000000000c000 0x000000000000c01f 0x0000000000040101', // io
      '0x0000000000000000 0x0000000000000000 0x0000000000000000',
      '0x00000000fe800000 0x00000000fe87ffff 0x0000000000046200', // ROM line (ignored)
    ].join('\n');
    expect(parseSysfsResource(text)).toEqual([
      { bar: 0, type: 'memory', sizeBytes: 0x800000, prefetch: false, mem64: true },
      { bar: 2, type: 'memory', sizeBytes: 0x400000000, prefetch: true, mem64: true },
      { bar: 4, type: 'io', sizeBytes: 32, prefetch: false, mem64: false },
    ]);
  });
});

describe('lazy koffi', () => {
  it('importing the compiled linux backend works when koffi cannot load; using libc then says why', () => {
    const dist = resolve('dist/src/linux/index.js');
    const script = `
      const Module = require('node:module');
      const orig = Module._load;
      Module._load = function (req, ...rest) { if (req === 'koffi') throw new Error('no koffi here'); return orig.call(this, req, ...rest); };
      import(${JSON.stringify(dist)}).then(async (m) => {
        const host = m.createLinuxBackendHost();
        await host.status();
        const irq = await import(${JSON.stringify(dist.replace(/index\.js$/, 'interrupts.js'))});
        try { new irq.LinuxInterruptSource('0000:00:10.0'); console.log('NO-ERROR'); }
        catch (e) { console.log('CODE', e.code); }
      }, (e) => console.log('IMPORT-FAILED', e.message));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('CODE PT_ERR_VFIO_UNAVAILABLE');
  });
});
