// list-devices, driver-status, info and dump-config on the sim backend; lspci decodes the dumps.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEVICE_LIST_SCHEMA, DRIVER_STATUS_SCHEMA, DUMP_CONFIG_SCHEMA, PCI_INFO_SCHEMA } from '../../src/cli/schemas.js';
import { parseJson, runCli, validate } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pcipt-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DEFAULT_BDFS = ['0000:00:10.0', '0000:00:11.0', '0000:02:00.0', '0000:03:00.0', '0000:03:00.1', '0000:04:00.0'];

function lspci(args: string[]): string {
  try {
    return execFileSync('lspci', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('lspci is not installed: this test needs pciutils (apt-get install -y pciutils)');
    }
    throw e;
  }
}

describe('list-devices', () => {
  it('prints the two-line layout for every default sim function', async () => {
    const run = await runCli(['list-devices']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2 * DEFAULT_BDFS.length);
    expect(lines[0]).toBe('[*] 00:10.0 1234:11e8 QEMU edu device');
    expect(lines[1]).toBe('    Unclassified device · sim · model edu');
    expect(run.stdout).toContain('[*] 04:00.0 144d:a808 ');
  });

  it('ls --json: every function, schema-valid', async () => {
    const run = await runCli(['ls', '--json']);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as { bdf: string; classCode: number; driver: string }[];
    expect(validate(DEVICE_LIST_SCHEMA, doc)).toEqual([]);
    expect(doc.map((d) => d.bdf)).toEqual(DEFAULT_BDFS);
    expect(doc[5]).toMatchObject({ id: '144d:a808', classCode: 0x010802, className: 'Non-Volatile memory controller', driver: 'sim' });
  });

  it('--machine FILE lists that machine', async () => {
    const file = join(tmp, 'one-edu.json');
    writeFileSync(file, JSON.stringify({ functions: [{ bdf: '0000:05:00.0', model: 'edu' }] }));
    const run = await runCli(['--machine', file, 'ls', '--json']);
    expect(run.code).toBe(0);
    expect((parseJson(run) as { bdf: string }[]).map((d) => d.bdf)).toEqual(['0000:05:00.0']);
  });

  it('a broken machine file is a usage error naming the field; a missing one is not found', async () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ functions: [{ bdf: '0000:05:00.0', model: 'toaster' }] }));
    const run = await runCli(['--machine', file, 'ls']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/functions\[0\]\.model/);
    writeFileSync(file, '{ not json');
    expect((await runCli(['--machine', file, 'demo'])).code).toBe(2);
    const missing = await runCli(['--machine', join(tmp, 'nope.json'), 'ls', '--json']);
    expect(missing.code).toBe(3);
    expect((parseJson(missing) as { error: { code: string } }).error.code).toBe('PT_ERR_NOT_FOUND');
  });

  it('PCIPT_MACHINE is the default machine; --machine wins over it', async () => {
    const one = join(tmp, 'env-one.json');
    const two = join(tmp, 'env-two.json');
    writeFileSync(one, JSON.stringify({ functions: [{ bdf: '0000:06:00.0', model: 'edu' }] }));
    writeFileSync(two, JSON.stringify({ functions: [{ bdf: '0000:07:00.0', model: 'edu' }] }));
    const env = parseJson(await runCli(['ls', '--json'], { PCIPT_MACHINE: one })) as { bdf: string }[];
    expect(env.map((d) => d.bdf)).toEqual(['0000:06:00.0']);
    const flag = parseJson(await runCli(['--machine', two, 'ls', '--json'], { PCIPT_MACHINE: one })) as { bdf: string }[];
    expect(flag.map((d) => d.bdf)).toEqual(['0000:07:00.0']);
  });
});

describe('driver-status', () => {
  it('sim is always ready', async () => {
    const run = await runCli(['driver-status', '--json']);
    expect(run.code).toBe(0);
    const doc = parseJson(run);
    expect(validate(DRIVER_STATUS_SCHEMA, doc)).toEqual([]);
    expect(doc).toMatchObject({ backend: 'sim', ready: true, state: 'active' });
    const human = await runCli(['driver-status']);
    expect(human.stdout).toMatch(/^sim: active$/m);
  });
});

describe('info', () => {
  it('edu: QMP query-pci field names and shapes (irq is the line number, qdev_id, region addresses), then pcipt\'s fields', async () => {
    const run = await runCli(['info', '00:10.0', '--json']);
    expect(run.code).toBe(0);
    const doc = parseJson(run) as Record<string, unknown>;
    expect(validate(PCI_INFO_SCHEMA, doc)).toEqual([]);
    expect(doc).toMatchObject({
      bus: 0,
      slot: 0x10,
      function: 0,
      class_info: { class: 0x00ff, desc: 'Unclassified device' },
      id: { vendor: 0x1234, device: 0x11e8, subsystem: 0x1100, 'subsystem-vendor': 0x1af4 },
      irq: 11,
      irq_pin: 1,
      qdev_id: '',
      regions: [{ bar: 0, type: 'memory', address: 0, size: 1 << 20, prefetch: false, mem_type_64: false }],
      bdf: '0000:00:10.0',
      name: 'QEMU edu device',
      interrupts: { intx: true, msi: { vectors: 1 }, msix: null },
      capabilities: [{ id: 0x05, offset: 0x40, name: 'MSI', extended: false }],
    });
    // QMP's order: its own fields first.
    expect(Object.keys(doc).slice(0, 9)).toEqual(['bus', 'slot', 'function', 'class_info', 'id', 'irq', 'irq_pin', 'qdev_id', 'regions']);
  });

  it('msix function: 256 MSI-X vectors and a 64-bit prefetchable BAR2', async () => {
    const doc = parseJson(await runCli(['info', '0000:02:00.0', '--json'])) as Record<string, unknown>;
    expect(validate(PCI_INFO_SCHEMA, doc)).toEqual([]);
    expect(doc).toMatchObject({ interrupts: { msix: { vectors: 256, tableBar: 0, tableOffset: 0x4000, pbaOffset: 0x8000 } } });
    expect(doc.regions).toContainEqual({ bar: 2, type: 'memory', address: 0, size: 1 << 20, prefetch: true, mem_type_64: true });
  });

  it('human output reads like lspci -vv', async () => {
    const run = await runCli(['info', '00:10.0']);
    expect(run.stdout).toContain('0000:00:10.0 Unclassified device [00ff]: QEMU edu device [1234:11e8] (rev 10)');
    expect(run.stdout).toContain('Subsystem: Red Hat, Inc. Device 1100 [1af4:1100]');
    expect(run.stdout).toContain('Interrupts: INTx pin A (line 11); MSI 1 vector (64-bit)');
    expect(run.stdout).toContain('Region 0: Memory at <unassigned> (32-bit, non-prefetchable) [size=1M]');
  });
});

describe('names from pci.ids, as lspci prints them', () => {
  const IDS = [
    '# a small pci.ids',
    '1234  Technical Corp.',
    '\t11e8  Educational device',
    '144d  Samsung Electronics Co Ltd',
    '1af4  Red Hat, Inc.',
    '\t1100  QEMU virtual machine',
    'C 00  Unclassified device',
    '\t00  Non-VGA unclassified device',
    'C 01  Mass storage controller',
    '\t08  Non-Volatile memory controller',
    '\t\t02  NVM Express',
    '',
  ].join('\n');

  it('PCI_IDS names another file (lspci -i): its names win over the built-in ones', async () => {
    const file = join(tmp, 'pci.ids');
    writeFileSync(file, IDS);
    const ls = parseJson(await runCli(['ls', '--json'], { PCI_IDS: file })) as { bdf: string; name: string; className: string }[];
    expect(ls[0]).toMatchObject({ name: 'Technical Corp. Educational device', className: 'Unclassified device' });
    // Vendor known, device not: "Vendor Device dddd" (lspci), not the built-in name.
    expect(ls.find((d) => d.bdf === '0000:04:00.0')).toMatchObject({ name: 'Samsung Electronics Co Ltd Device a808', className: 'Non-Volatile memory controller' });
    // pcipt's own simulated functions keep their built-in names unless pci.ids names the device.
    expect(ls.find((d) => d.bdf === '0000:02:00.0')!.name).toBe('pcipt MSI-X test function');
  });

  it('a .gz pci.ids is read too', async () => {
    const file = join(tmp, 'pci.ids.gz');
    writeFileSync(file, gzipSync(IDS));
    const info = parseJson(await runCli(['info', '00:10.0', '--json'], { PCI_IDS: file })) as { name: string };
    expect(info.name).toBe('Technical Corp. Educational device');
  });

  it('a PCI_IDS that cannot be read is said on stderr, never silently ignored; the names fall back', async () => {
    const run = await runCli(['ls'], { PCI_IDS: join(tmp, 'missing.ids') });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`pcipt: PCI_IDS=${join(tmp, 'missing.ids')}: cannot read it (ENOENT)`);
    expect(run.stdout).toContain('[*] 00:10.0 1234:11e8 QEMU edu device');
  });

  it.skipIf(!existsSync('/usr/share/misc/pci.ids') && !existsSync('/usr/share/hwdata/pci.ids'))('the system pci.ids gives the same name lspci does', async () => {
    const ls = parseJson(await runCli(['ls', '--json'])) as { bdf: string; name: string }[];
    const nvme = ls.find((d) => d.bdf === '0000:04:00.0')!;
    const dump = (await runCli(['dump-config', '04:00.0'])).stdout;
    const file = join(tmp, 'nvme.dump');
    writeFileSync(file, dump);
    // lspci -mm: 04:00.0 "Class" "Vendor" "Device" -r.. -p.. "Subsystem vendor" "Subsystem"
    const quoted = [...lspci(['-F', file, '-mm']).matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    expect(nvme.name).toBe(`${quoted[1]} ${quoted[2]}`);
  });
});

describe('dump-config', () => {
  it('lspci -F decodes the edu dump (ids, class, MSI capability)', async () => {
    const run = await runCli(['dump-config', '00:10.0']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe('0000:00:10.0 ');
    const file = join(tmp, 'edu.dump');
    writeFileSync(file, run.stdout);
    expect(lspci(['-F', file, '-n'])).toMatch(/^00:10\.0 00ff: 1234:11e8 \(rev 10\)$/m);
    const verbose = lspci(['-F', file, '-vv']);
    expect(verbose).toMatch(/Capabilities: \[40\] MSI: Enable- Count=1\/1 Maskable- 64bit\+/);
    expect(verbose).toContain('Subsystem: Red Hat, Inc.');
  });

  it('lspci -F decodes the MSI-X function and the replayed NVMe controller', async () => {
    const file = join(tmp, 'two.dump');
    writeFileSync(
      file,
      (await runCli(['dump-config', '02:00.0'])).stdout + (await runCli(['dump-config', '04:00.0'])).stdout,
    );
    const out = lspci(['-F', file, '-vv', '-nn']);
    expect(out).toMatch(/MSI-X: Enable- Count=256 Masked-/);
    expect(out).toMatch(/^04:00\.0 Non-Volatile memory controller \[0108\]: .*\[144d:a808\]/m);
  });

  it('--size 256 gives 16 lines of 16 bytes; --json carries hex and dump', async () => {
    const run = await runCli(['dump-config', '00:10.0', '--size', '256']);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(17);
    expect(lines[16]).toMatch(/^f0: ([0-9a-f]{2} ){15}[0-9a-f]{2}$/);
    const json = await runCli(['dump-config', '00:10.0', '--size', '64', '--json']);
    const doc = parseJson(json) as { hex: string; sizeBytes: number; dump: string };
    expect(validate(DUMP_CONFIG_SCHEMA, doc)).toEqual([]);
    expect(doc.sizeBytes).toBe(64);
    expect(doc.hex.slice(0, 8)).toBe('3412e811');
    expect(doc.dump.split('\n')[1]).toBe('00: 34 12 e8 11 00 00 10 00 10 00 ff 00 00 00 00 00');
  });

  it('--size is exact: 4096 gives 4096 bytes even when extended space is zero, and lspci still reads it', async () => {
    const plain = await runCli(['dump-config', '00:10.0']);
    expect(plain.stdout.trimEnd().split('\n')).toHaveLength(17); // edu has no extended space: 256 by default
    const run = await runCli(['dump-config', '00:10.0', '--size', '4096']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 256);
    expect(lines.at(-1)).toMatch(/^ff0: (00 ){15}00$/);
    const doc = parseJson(await runCli(['dump-config', '00:10.0', '--size', '4096', '--json'])) as { sizeBytes: number; hex: string };
    expect(doc.sizeBytes).toBe(4096);
    expect(doc.hex).toHaveLength(8192);
    const file = join(tmp, 'edu-4k.dump');
    writeFileSync(file, run.stdout);
    expect(lspci(['-F', file, '-n'])).toMatch(/^00:10\.0 00ff: 1234:11e8 \(rev 10\)$/m);
  });

  it('--size must be 64, 256 or 4096 (usage error, exit 2)', async () => {
    const run = await runCli(['dump-config', '00:10.0', '--size', '128', '--json']);
    expect(run.code).toBe(2);
    expect((parseJson(run) as { error: { code: string } }).error.code).toBe('PT_ERR_INVALID_ARGUMENT');
  });
});
