// Pure pieces of the CLI: query-pci building, names, the macOS status/list mapping, exit codes, colour choice.
import { describe, expect, it } from 'vitest';
import { functionsFromIokit, deviceListEntries } from '../../src/cli/commands/list-devices.js';
import { statusWithExtension, unsupportedPlatformStatus } from '../../src/cli/commands/driver-status.js';
import { exitCodeFor, usageError } from '../../src/cli/exit-codes.js';
import { colorEnabled } from '../../src/cli/io.js';
import { hintFor } from '../../src/cli/hints.js';
import { className, capabilityName, loadPciIds } from '../../src/cli/pci-names.js';
import { buildPciInfo, formatSize, walkExtendedCapabilities } from '../../src/cli/query-pci.js';
import { PassthroughError } from '../../src/errors.js';
import { driverStatusFromList } from '../../src/iokit/driver-status.js';

function le(bytes: Uint8Array, off: number, width: number, value: number): void {
  for (let i = 0; i < width; i++) bytes[off + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
}

describe('query-pci record', () => {
  it('decodes ids, class, MSI-X and the extended capability chain', () => {
    const cfg = new Uint8Array(4096);
    le(cfg, 0x00, 2, 0x144d);
    le(cfg, 0x02, 2, 0xa808);
    le(cfg, 0x06, 2, 0x10); // CAP_LIST
    le(cfg, 0x09, 3, 0x010802);
    le(cfg, 0x3d, 1, 1);
    le(cfg, 0x34, 1, 0x40);
    cfg.set([0x10, 0x50], 0x40); // Express → 0x50
    cfg.set([0x11, 0x00], 0x50); // MSI-X, end
    le(cfg, 0x52, 2, 32); // 33 vectors
    le(cfg, 0x54, 4, 0x3000); // table BAR0+0x3000
    le(cfg, 0x58, 4, 0x2000 | 2); // PBA BAR2+0x2000
    le(cfg, 0x100, 4, 0x0001 | (1 << 16) | (0x148 << 20)); // AER → 0x148
    le(cfg, 0x148, 4, 0x0003 | (1 << 16)); // DSN, end
    le(cfg, 0x10, 4, 0xfea04004); // BAR0: 64-bit memory at 0x1_fea04000
    le(cfg, 0x14, 4, 0x1);
    le(cfg, 0x3c, 1, 10);
    const r = buildPciInfo('0000:04:00.0', cfg, [{ bar: 0, type: 'memory', sizeBytes: 16384, prefetch: false, mem64: true }]);
    expect(r).toMatchObject({
      bus: 4,
      slot: 0,
      class_info: { class: 0x0108, desc: 'Non-Volatile memory controller' },
      id: { vendor: 0x144d, device: 0xa808, subsystem: 0, 'subsystem-vendor': 0 },
      irq: 10,
      irq_pin: 1,
      qdev_id: '',
      prog_if: 2,
      interrupts: { intx: true, msi: null, msix: { vectors: 33, tableBar: 0, tableOffset: 0x3000, pbaBar: 2, pbaOffset: 0x2000 } },
      regions: [{ bar: 0, type: 'memory', address: 0x1_fea0_4000, size: 16384, prefetch: false, mem_type_64: true }],
    });
    // I/O BARs carry no prefetch / mem_type_64 (QMP omits them); no pin means no irq field.
    le(cfg, 0x18, 4, 0xc001);
    le(cfg, 0x3d, 1, 0);
    const io = buildPciInfo('0000:04:00.0', cfg, [{ bar: 2, type: 'io', sizeBytes: 32, prefetch: false, mem64: false }]);
    expect(io.regions).toEqual([{ bar: 2, type: 'io', address: 0xc000, size: 32 }]);
    expect('irq' in io).toBe(false);
    le(cfg, 0x3d, 1, 1);
    expect(r.capabilities.map((c) => [c.offset, c.name, c.extended])).toEqual([
      [0x40, 'Express', false],
      [0x50, 'MSI-X', false],
      [0x100, 'Advanced Error Reporting', true],
      [0x148, 'Device Serial Number', true],
    ]);
    // A loop in the extended chain ends the walk instead of spinning.
    le(cfg, 0x148, 4, 0x0003 | (1 << 16) | (0x100 << 20));
    expect(walkExtendedCapabilities(cfg)).toHaveLength(2);
    expect(walkExtendedCapabilities(cfg.subarray(0, 256))).toEqual([]);
    // A 64-byte header (unprivileged sysfs) has ids and class but no capability list to walk.
    const header = buildPciInfo('0000:04:00.0', cfg.slice(0, 64), []);
    expect(header).toMatchObject({ id: { vendor: 0x144d }, capabilities: [], interrupts: { intx: true, msi: null, msix: null } });
  });

  it('names and sizes', () => {
    expect(className(0x030000)).toBe('VGA compatible controller');
    expect(className(0x0d1100)).toBe('Wireless controller');
    expect(className(0x420000)).toBe('Class 4200');
    expect(capabilityName(0x11)).toBe('MSI-X');
    expect([formatSize(1 << 20), formatSize(16384), formatSize(96), formatSize(3 * 1024 + 1)]).toEqual(['1M', '16K', '96', '3073']);
  });
});

const EXTENSIONS = [
  '1 extension(s)',
  '--- com.apple.system_extension.driver_extension',
  'enabled\tactive\tteamID\tbundleID (version)\tname\t[state]',
  '*\t\tABCDE12345\tcom.example.qemu.VFIOUserPCIDriver (1.0/1)\tVFIOUserPCIDriver\t[activated waiting for user]',
].join('\n');

describe('macOS mapping', () => {
  it('driver-status: the extension state decides readiness', () => {
    const host = { backend: 'iokit' as const, ready: true, state: 'active', details: ['2 dext-bound function(s)'] };
    const waiting = statusWithExtension(host, driverStatusFromList(EXTENSIONS));
    expect(waiting).toMatchObject({ ready: false, state: 'waiting-for-approval' });
    expect(waiting.details[0]).toBe('system extension: waiting for user approval (com.example.qemu.VFIOUserPCIDriver 1.0/1)');
    const active = statusWithExtension(host, driverStatusFromList(EXTENSIONS.replace('waiting for user', 'enabled')));
    expect(active).toMatchObject({ ready: true, state: 'active' });
    expect(statusWithExtension(host, driverStatusFromList(''))).toMatchObject({ ready: false, state: 'not-installed' });
    expect(unsupportedPlatformStatus('linux').details[0]).toContain('macOS-only (this is linux)');
  });

  it('list-devices: bound, driver, root and shared-BDF marks from the IORegistry walk', () => {
    const fns = functionsFromIokit([
      { bdf: '0000:01:00.0' as never, vendorId: 0x10de, deviceId: 0x2684, classCode: 0x030000, name: 'pci10de,2684', bound: true, driver: 'VFIOUserPCIDriver', root: 'pcic0-bridge', sharedBdf: true },
      { bdf: '0000:01:00.1' as never, vendorId: 0x10de, deviceId: 0x22ba, classCode: 0x040300, name: 'pci10de,22ba', bound: false, driver: '', root: undefined, sharedBdf: false },
    ]);
    expect(fns[0]).toMatchObject({ attachable: true, driver: 'VFIOUserPCIDriver', details: { root: 'pcic0-bridge', sharedBdf: true } });
    expect(fns[1]).toMatchObject({ attachable: false, driver: undefined });
    const ids = loadPciIds({ PCI_IDS: '/nonexistent' });
    expect(ids.problem).toContain('PCI_IDS=/nonexistent: cannot read it (ENOENT)');
    const entries = deviceListEntries(fns, ids);
    expect(entries[1]).toMatchObject({ driver: null, className: 'Audio device', name: 'Device 10de:22ba' });
  });
});

describe('exit codes and colour', () => {
  it('maps errors to the table: runtime 1, usage 2, not found 3, unavailable 4, permission 5, in use 6', () => {
    expect(exitCodeFor(new PassthroughError('PT_ERR_IO', 'x'))).toBe(1);
    expect(exitCodeFor(new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'x'))).toBe(1);
    expect(exitCodeFor(usageError('x'))).toBe(2);
    expect(exitCodeFor(new PassthroughError('PT_ERR_INVALID_BDF', 'x'))).toBe(2);
    expect(exitCodeFor(new PassthroughError('PT_ERR_NOT_FOUND', 'x'))).toBe(3);
    expect(exitCodeFor(new PassthroughError('PT_ERR_CONNECT_FAILED', 'x'))).toBe(3);
    expect(exitCodeFor(new PassthroughError('PT_ERR_PLATFORM', 'x'))).toBe(4);
    expect(exitCodeFor(new PassthroughError('PT_ERR_VFIO_UNAVAILABLE', 'x'))).toBe(4);
    expect(exitCodeFor(new PassthroughError('PT_ERR_PERMISSION', 'x'))).toBe(5);
    expect(exitCodeFor(new PassthroughError('PT_ERR_DUPLICATE_OWNER', 'x'))).toBe(6);
    expect(exitCodeFor(new PassthroughError('PT_ERR_GROUP_NOT_VIABLE', 'x'))).toBe(6);
    // A usage mark wins over the code's own row (a --machine file that is missing a field).
    expect(exitCodeFor(new PassthroughError('PT_ERR_NOT_FOUND', 'x', { usage: true }))).toBe(2);
  });

  it('colour: the command line wins, then NO_COLOR, then FORCE_COLOR, then the TTY', () => {
    const tty = { write() {}, isTTY: true };
    const pipe = { write() {} };
    expect(colorEnabled(tty, {}, undefined)).toBe(true);
    expect(colorEnabled(pipe, {}, undefined)).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '1' }, undefined)).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '' }, undefined)).toBe(true);
    expect(colorEnabled(pipe, { FORCE_COLOR: '1' }, undefined)).toBe(true);
    expect(colorEnabled(pipe, { FORCE_COLOR: '' }, undefined)).toBe(false);
    expect(colorEnabled(tty, { FORCE_COLOR: '0' }, undefined)).toBe(false);
    expect(colorEnabled(tty, { FORCE_COLOR: 'false' }, undefined)).toBe(false);
    expect(colorEnabled(pipe, { NO_COLOR: '1', FORCE_COLOR: '1' }, undefined)).toBe(false);
    expect(colorEnabled(tty, {}, 'never')).toBe(false);
    expect(colorEnabled(pipe, { NO_COLOR: '1' }, 'always')).toBe(true);
    expect(colorEnabled(pipe, {}, 'always')).toBe(true);
    expect(colorEnabled(tty, { NO_COLOR: '1' }, 'auto')).toBe(false);
    expect(colorEnabled(tty, {}, 'auto')).toBe(true);
  });
});

describe('hints', () => {
  it('name the command or the system step that fixes an operator error', () => {
    expect(hintFor(new PassthroughError('PT_ERR_GROUP_NOT_VIABLE', 'x', { bdf: '0000:03:00.0' }))).toBe('bind the whole IOMMU group with "sudo pcipt --backend linux bind --group 0000:03:00.0"');
    expect(hintFor(new PassthroughError('PT_ERR_PERMISSION', 'x', { path: '/sys/bus/pci/drivers_probe' }))).toContain('sudo');
    expect(hintFor(new PassthroughError('PT_ERR_PERMISSION', 'x', { path: '/dev/vfio/7' }))).toContain('/dev/vfio/<group>');
    expect(hintFor(new PassthroughError('PT_ERR_VFIO_UNAVAILABLE', 'x'))).toContain('driver-status');
    expect(hintFor(new PassthroughError('PT_ERR_IO', 'x'))).toBeUndefined();
  });
});

describe('progress', () => {
  it('redraws one line on a TTY, logs one line per suite on a pipe, stays off under CI or --json on a pipe', async () => {
    const { createProgress, progressEnabled } = await import('../../src/cli/progress.js');
    const ttyOut: string[] = [];
    const tty = { write: (s: string) => ttyOut.push(s), isTTY: true, columns: 0 };
    const p = createProgress(tty, { enabled: true, title: 'bench' });
    p.update(0.5, 'mmio: bar.read32');
    p.done();
    expect(ttyOut[0]).toMatch(/^\rbench \[#{14}-{14}\]  50% mmio: bar\.read32\x1b\[K$/);
    expect(ttyOut.at(-1)).toBe('\r\x1b[K');

    const pipeOut: string[] = [];
    const pipe = { write: (s: string) => pipeOut.push(s) };
    const q = createProgress(pipe, { enabled: true, title: 'bench' });
    for (const [f, label] of [[0, 'mmio'], [0.1, 'mmio: a'], [0.2, 'mmio: b'], [0.5, 'irq: a']] as const) q.update(f, label);
    expect(pipeOut).toEqual(['bench: mmio (0%)\n', 'bench: irq (50%)\n']);

    expect(progressEnabled(pipe, { CI: 'true' }, false)).toBe(false);
    expect(progressEnabled(pipe, {}, true)).toBe(false);
    expect(progressEnabled(tty, {}, true)).toBe(true);
    expect(progressEnabled(pipe, { CI: '' }, false)).toBe(true);
  });
});
