/**
 * driver-status parsing (systemextensionsctl list) and list-devices over the
 * IORegistry walk against the stand-in (spec §8).
 */
import { describe, expect, test } from 'vitest';
import { driverStatusFromList, iokitDriverStatus, iokitListDevices, parseSystemExtensionsList } from '../../src/iokit/driver-status.js';
import { expectDextError, useStandin } from './helpers.js';

const s = useStandin();

const HEADER = [
  '2 extension(s)',
  "--- com.apple.system_extension.driver_extension (Go to 'System Settings > General > Login Items & Extensions > Driver Extensions' to modify these system extension(s))",
  'enabled\tactive\tteamID\tbundleID (version)\tname\t[state]',
];
const row = (enabled: boolean, active: boolean, bundle: string, version: string, state: string, name = 'VFIOUserPCIDriver') =>
  `${enabled ? '*' : ''}\t${active ? '*' : ''}\tABCDE12345\t${bundle} (${version})\t${name}\t[${state}]`;

describe('driver-status', () => {
  test('parses the rows and skips headers', () => {
    const text = [...HEADER, row(true, true, 'org.example.qemu.VFIOUserPCIDriver', '1.0/1', 'activated enabled'), row(false, false, 'com.other.Driver', '2.1/7', 'activated waiting for user', 'Other')].join('\n');
    expect(parseSystemExtensionsList(text)).toEqual([
      { enabled: true, active: true, teamId: 'ABCDE12345', bundleId: 'org.example.qemu.VFIOUserPCIDriver', version: '1.0/1', name: 'VFIOUserPCIDriver', rawState: 'activated enabled' },
      { enabled: false, active: false, teamId: 'ABCDE12345', bundleId: 'com.other.Driver', version: '2.1/7', name: 'Other', rawState: 'activated waiting for user' },
    ]);
  });

  test.each([
    ['activated enabled', 'active'],
    ['activated waiting for user', 'waiting for user approval'],
    ['terminated waiting to uninstall on reboot', 'uninstalling'],
    ['staged', 'staged'],
    ['validating by category', 'staged'],
  ])('[%s] → %s', (raw, state) => {
    const st = driverStatusFromList([...HEADER, row(true, false, 'org.example.app.VFIOUserPCIDriver', '1.0/3', raw)].join('\n'));
    expect(st.state).toBe(state);
    expect(st.bundleId).toBe('org.example.app.VFIOUserPCIDriver');
    expect(st.version).toBe('1.0/3');
  });

  test('the best of several entries wins; other extensions do not count; empty → not installed', () => {
    const text = [
      ...HEADER,
      row(false, false, 'org.example.app.VFIOUserPCIDriver', '0.9/1', 'terminated waiting to uninstall on reboot'),
      row(true, true, 'org.example.app.VFIOUserPCIDriver', '1.0/2', 'activated enabled'),
      row(true, true, 'com.vendor.OtherDriver', '3/3', 'activated enabled', 'OtherDriver'),
    ].join('\n');
    const st = driverStatusFromList(text);
    expect(st).toMatchObject({ state: 'active', version: '1.0/2' });
    expect(st.entries).toHaveLength(2);
    expect(driverStatusFromList('0 extension(s)\n')).toEqual({ state: 'not installed', bundleId: undefined, version: undefined, entries: [] });
    expect(driverStatusFromList([...HEADER, row(true, true, 'com.vendor.OtherDriver', '3/3', 'activated enabled', 'OtherDriver')].join('\n')).state).toBe('not installed');
  });

  test('off macOS: PT_ERR_PLATFORM', () => {
    if (process.platform === 'darwin') return;
    expectDextError(() => iokitDriverStatus(), { code: 'PT_ERR_PLATFORM' });
    expectDextError(() => iokitListDevices(), { code: 'PT_ERR_PLATFORM' });
  });
});

describe('list-devices over the IORegistry', () => {
  test('IOPCIDevice walk: ids, class, bound = a VFIOUserPCIDriver child; bridges hidden; nothing leaks', () => {
    const devices = iokitListDevices({ libraries: s.libraries });
    expect(devices).toEqual([
      { bdf: '0000:03:00.0', vendorId: 0x1234, deviceId: 0x11e8, classCode: 0x030000, name: 'display', bound: true, driver: 'VFIOUserPCIDriver', root: '0:1', sharedBdf: false },
      { bdf: '0000:04:00.0', vendorId: 0x1234, deviceId: 0x11e9, classCode: 0x030000, name: 'display', bound: true, driver: 'VFIOUserPCIDriver', root: '0:1', sharedBdf: false },
      { bdf: '0000:05:00.0', vendorId: 0x14e4, deviceId: 0x1686, classCode: 0x020000, name: 'ethernet', bound: false, driver: '', root: '0:1', sharedBdf: false },
    ]);
    const all = iokitListDevices({ libraries: s.libraries, includeBridges: true });
    expect(all.map((d) => d.classCode >> 16)).toEqual([0x06, 0x03, 0x03, 0x02]);
    expect(s.ctl.counts()).toMatchObject({ registryRefs: 0, cfObjects: 0 });
  });
});
