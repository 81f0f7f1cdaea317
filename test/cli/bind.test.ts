/**
 * bind / unbind on a fake sysfs tree (PCIPT_SYSFS_ROOT): the plan (driver_override,
 * driver/unbind, drivers_probe), the IOMMU group check, the errors that say what to do
 * (vfio-pci not loaded, no IOMMU group, permission denied), and applying a plan against a
 * writer that behaves like the kernel. The real thing runs in the Linux VM tier
 * (test/vm/bind-vm.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { applyPlan, planBind, planUnbind, type SysfsWriter } from '../../src/cli/vfio-bind.js';
import { parseJson, runCli } from './helpers.js';
import { thrown } from '../shared/thrown.js';

const root = mkdtempSync(join(tmpdir(), 'pcipt-bind-'));
const sys = join(root, 'sys');
afterAll(() => {
  delete process.env.PCIPT_SYSFS_ROOT;
  rmSync(root, { recursive: true, force: true });
});

const EDU = { vendor: '0x1234', device: '0x11e8', cls: '0x00ff00' };
const NIC = { vendor: '0x8086', device: '0x10d3', cls: '0x020000' };
const BRIDGE = { vendor: '0x8086', device: '0x1901', cls: '0x060400' };

function devDir(bdf: string): string {
  return join(sys, 'bus/pci/devices', bdf);
}

function addFunction(bdf: string, ids: { vendor: string; device: string; cls: string }, driver: string | undefined, group: string | undefined): void {
  const d = devDir(bdf);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'vendor'), `${ids.vendor}\n`);
  writeFileSync(join(d, 'device'), `${ids.device}\n`);
  writeFileSync(join(d, 'class'), `${ids.cls}\n`);
  const config = Buffer.alloc(64);
  config[0x0e] = ids.cls.startsWith('0x0604') ? 1 : 0;
  writeFileSync(join(d, 'config'), config);
  writeFileSync(join(d, 'driver_override'), '(null)\n');
  if (driver !== undefined) linkDriver(bdf, driver);
  if (group !== undefined) {
    const g = join(sys, 'kernel/iommu_groups', group);
    mkdirSync(join(g, 'devices'), { recursive: true });
    symlinkSync(d, join(g, 'devices', bdf));
    symlinkSync(g, join(d, 'iommu_group'));
  }
}

function linkDriver(bdf: string, driver: string | undefined): void {
  try {
    unlinkSync(join(devDir(bdf), 'driver'));
  } catch {
    // not bound
  }
  if (driver === undefined) return;
  mkdirSync(join(sys, 'bus/pci/drivers', driver), { recursive: true });
  symlinkSync(join(sys, 'bus/pci/drivers', driver), join(devDir(bdf), 'driver'));
}

function driverOf(bdf: string): string | undefined {
  try {
    return basename(readlinkSync(join(devDir(bdf), 'driver')));
  } catch {
    return undefined;
  }
}

/** What the kernel does for these writes: override, unbind, probe (the override, else the device's own driver). */
function kernelWriter(ownDriver: Record<string, string | undefined>): SysfsWriter & { log: string[] } {
  const log: string[] = [];
  const write = (path: string, value: string): void => {
    log.push(`${value} > ${path.slice(sys.length)}`);
    if (path.endsWith('/driver_override')) writeFileSync(path, value === '' ? '(null)\n' : `${value}\n`);
    else if (path.endsWith('/driver/unbind')) linkDriver(value, undefined);
    else if (path.endsWith('/drivers_probe')) {
      if (driverOf(value) !== undefined) return;
      const override = readFileSync(join(devDir(value), 'driver_override'), 'utf8').trim();
      linkDriver(value, override !== '(null)' ? override : ownDriver[value]);
    } else throw new Error(`unexpected write ${path}`);
  };
  return Object.assign(write, { log });
}

beforeEach(() => {
  rmSync(sys, { recursive: true, force: true });
  mkdirSync(join(sys, 'bus/pci/drivers/vfio-pci'), { recursive: true });
  writeFileSync(join(sys, 'bus/pci/drivers_probe'), '');
  addFunction('0000:01:00.0', NIC, 'e1000e', '7');
  addFunction('0000:01:00.1', NIC, 'e1000e', '7');
  addFunction('0000:00:1c.0', BRIDGE, 'pcieport', '7');
  addFunction('0000:00:10.0', EDU, 'vfio-pci', '3');
  addFunction('0000:00:11.0', EDU, undefined, undefined);
  process.env.PCIPT_SYSFS_ROOT = sys;
});

describe('bind: the plan', () => {
  it('override, unbind from the current driver, probe; the group member with a driver blocks, the bridge does not', () => {
    const plan = planBind('01:00.0');
    expect(plan.writes.map((w) => [w.path.slice(sys.length), w.value])).toEqual([
      ['/bus/pci/devices/0000:01:00.0/driver_override', 'vfio-pci'],
      ['/bus/pci/devices/0000:01:00.0/driver/unbind', '0000:01:00.0'],
      ['/bus/pci/drivers_probe', '0000:01:00.0'],
    ]);
    expect(plan).toMatchObject({ driverBefore: 'e1000e', iommuGroup: '7', targets: ['0000:01:00.0'] });
    expect(plan.group).toEqual([
      { bdf: '0000:00:1c.0', driver: 'pcieport', bridge: true, blocksGroup: false },
      { bdf: '0000:01:00.1', driver: 'e1000e', bridge: false, blocksGroup: true },
    ]);
  });

  it('--group plans every non-bridge member that is not on vfio-pci yet', () => {
    const plan = planBind('0000:01:00.0', { group: true });
    expect(plan.targets).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(plan.writes).toHaveLength(6);
  });

  it('a function already on vfio-pci needs nothing', () => {
    const plan = planBind('00:10.0');
    expect(plan.writes).toEqual([]);
    expect(plan.note).toBe('0000:00:10.0 is already bound to vfio-pci');
  });

  it('errors say why and what to do: no such function (3), vfio-pci not loaded (4), no IOMMU group (4)', () => {
    const missing = thrown(() => planBind('00:1f.0'));
    expect([missing.code, exitCodeFor(missing)]).toEqual(['PT_ERR_NOT_FOUND', 3]);
    const noGroup = thrown(() => planBind('00:11.0'));
    expect([noGroup.code, exitCodeFor(noGroup)]).toEqual(['PT_ERR_VFIO_UNAVAILABLE', 4]);
    expect(noGroup.message).toMatch(/no IOMMU group.*intel_iommu=on or amd_iommu=on.*enable_unsafe_noiommu_mode=1/);
    rmSync(join(sys, 'bus/pci/drivers/vfio-pci'), { recursive: true });
    const notLoaded = thrown(() => planBind('01:00.0'));
    expect([notLoaded.code, exitCodeFor(notLoaded)]).toEqual(['PT_ERR_VFIO_UNAVAILABLE', 4]);
    expect(notLoaded.message).toContain('modprobe vfio-pci');
  });
});

describe('bind and unbind: applying a plan', () => {
  it('binds, then unbind gives the function back to its own driver', () => {
    const kernel = kernelWriter({ '0000:01:00.0': 'e1000e' });
    expect(applyPlan(planBind('01:00.0'), kernel)).toEqual({ '0000:01:00.0': 'vfio-pci' });
    expect(driverOf('0000:01:00.0')).toBe('vfio-pci');
    const unbind = planUnbind('01:00.0');
    expect(unbind.writes.map((w) => w.path.slice(sys.length))).toEqual([
      '/bus/pci/devices/0000:01:00.0/driver_override',
      '/bus/pci/devices/0000:01:00.0/driver/unbind',
      '/bus/pci/drivers_probe',
    ]);
    expect(applyPlan(unbind, kernel)).toEqual({ '0000:01:00.0': 'e1000e' });
    expect(readFileSync(join(devDir('0000:01:00.0'), 'driver_override'), 'utf8')).toBe('(null)\n');
  });

  it('unbind of a function on another driver touches nothing and says so', () => {
    const plan = planUnbind('01:00.1');
    expect(plan.writes).toEqual([]);
    expect(plan.note).toBe('0000:01:00.1 is bound to e1000e, not vfio-pci');
  });

  it('a bind the kernel does not honour is PT_ERR_NOT_BOUND (6)', () => {
    const lazy: SysfsWriter = () => {}; // accepts every write, binds nothing
    const e = thrown(() => applyPlan(planBind('01:00.0'), lazy));
    expect([e.code, exitCodeFor(e)]).toEqual(['PT_ERR_NOT_BOUND', 6]);
  });

  it('EACCES / EPERM: PT_ERR_PERMISSION (5), naming the file and saying to run as root', () => {
    for (const code of ['EACCES', 'EPERM']) {
      const denied: SysfsWriter = () => {
        throw Object.assign(new Error(code), { code });
      };
      const e = thrown(() => applyPlan(planBind('01:00.0'), denied));
      expect([e.code, exitCodeFor(e)]).toEqual(['PT_ERR_PERMISSION', 5]);
      expect(e.message).toMatch(/cannot write .*0000:01:00\.0\/driver_override \(E(ACCES|PERM)\).*root.*sudo/);
    }
  });
});

describe('bind and unbind: the command', () => {
  it('--dry-run --json prints the plan and the group members that must be bound too', async () => {
    const run = await runCli(['--backend', 'linux', 'bind', '0000:01:00.0', '--dry-run', '--json'], { PCIPT_SYSFS_ROOT: sys });
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { dryRun: boolean; writes: unknown[]; mustAlsoBind: string[]; iommuGroup: string };
    expect(doc).toMatchObject({ dryRun: true, iommuGroup: '7', mustAlsoBind: ['0000:01:00.1'] });
    expect(doc.writes).toHaveLength(3);
    expect(driverOf('0000:01:00.0')).toBe('e1000e');
    const human = await runCli(['bind', '01:00.0', '--dry-run'], { PCIPT_SYSFS_ROOT: sys });
    expect(human.stdout).toContain(`would write "vfio-pci" > ${sys}/bus/pci/devices/0000:01:00.0/driver_override`);
    expect(human.stdout).toMatch(/0000:01:00\.1 e1000e: must be bound to vfio-pci \(or unbound\) first/);
    expect(human.stdout).toContain('pcipt bind --group 0000:01:00.0');
  });

  it('attaching a function that is not on vfio-pci exits 6 and names the bind command as the fix', async () => {
    const run = await runCli(['--backend', 'linux', 'top', '--count', '1', '--device', '0000:01:00.0', '--json'], { PCIPT_SYSFS_ROOT: sys, PCIPT_VFIO_DEV: join(root, 'no-vfio') });
    expect(run.code).toBe(6);
    expect(parseJson(run)).toMatchObject({ error: { code: 'PT_ERR_NOT_BOUND', hint: 'hand it to vfio-pci with "sudo pcipt --backend linux bind 0000:01:00.0"' } });
    expect(run.stderr).toMatch(/^pcipt: hint: hand it to vfio-pci with "sudo pcipt --backend linux bind 0000:01:00\.0"$/m);
  });

  it('a non-linux backend is a usage error (2); a missing function is not found (3)', async () => {
    expect((await runCli(['--backend', 'sim', 'bind', '01:00.0'], { PCIPT_SYSFS_ROOT: sys })).code).toBe(2);
    expect((await runCli(['unbind', '00:1f.0', '--json'], { PCIPT_SYSFS_ROOT: sys })).code).toBe(3);
  });
});

