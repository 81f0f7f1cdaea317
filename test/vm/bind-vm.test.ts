/**
 * `pcipt bind` / `unbind` on a real kernel: boots the VM tier's TCG guest (test/vm/harness)
 * with an emulated VT-d IOMMU, edu at 00:10.0 and 00:11.0 and a two-function edu slot
 * (00:18.0/00:18.1, one IOMMU group), runs test/vm/bind-in-guest.mjs there (the CLI's main()
 * in one node process, plus one unprivileged child) and checks every step by name:
 * unbind leaves edu without a driver, bind hands it back to vfio-pci, a group member on a
 * foreign driver (uio_pci_generic) is named and makes an attach fail with exit 6, `--group`
 * fixes that and both functions then attach; without root the error says so (exit 5); with
 * vfio-pci unloaded, bind says to load it (exit 4).
 * One boot, about a minute of wall time under TCG (attaching is most of it).
 * Skips, saying what to install, when qemu-system-x86_64 is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = resolve(ROOT, 'test/vm/harness/run-in-guest.sh');
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status === 0;

interface Step {
  name: string;
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
}

function runGuest(args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(HARNESS, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

if (!hasQemu) {
  console.warn('[bind-vm] skipped: qemu-system-x86_64 not found (apt-get install --no-install-recommends qemu-system-x86 linux-image-amd64 busybox-static cpio)');
  describe.skip('pcipt bind/unbind in a QEMU guest (install qemu-system-x86 linux-image-amd64 busybox-static cpio)', () => {
    it('needs qemu-system-x86_64', () => {});
  });
} else {
  describe('pcipt bind/unbind in a QEMU guest (edu, --iommu intel)', () => {
    const steps = new Map<string, Step>();
    let log = '';
    beforeAll(async () => {
      const r = await runGuest(['--iommu', 'intel', '--edu', '2', '--edu-mf', '--timeout', '280', '--', 'node', 'test/vm/bind-in-guest.mjs'], 300_000);
      log = `${r.stdout}\n${r.stderr}`;
      for (const line of r.stdout.split('\n')) {
        if (line.startsWith('PCIPT_STEP ')) {
          const s = JSON.parse(line.slice('PCIPT_STEP '.length)) as Step;
          steps.set(s.name, s);
        }
      }
    }, 310_000);

    const step = (name: string): Step => {
      const s = steps.get(name);
      if (s === undefined) throw new Error(`the guest reported no step "${name}"; output:\n${log.slice(-4000)}`);
      return s;
    };
    const json = (name: string): Record<string, unknown> => {
      const s = step(name);
      try {
        return JSON.parse(s.stdout) as Record<string, unknown>;
      } catch {
        throw new Error(`step ${name} (exit ${s.code}) printed no JSON:\n${s.stdout}\n${s.stderr}`);
      }
    };

    it('unbind gives edu back to its own driver: none (vfio-pci no longer claims its id)', () => {
      expect(step('unbind-10').code).toBe(0);
      expect(json('unbind-10')).toMatchObject({ action: 'unbind', driverBefore: 'vfio-pci', driverAfter: { '0000:00:10.0': null } });
      expect(json('driver-10-after-unbind')).toBeNull();
    });

    it('bind writes driver_override and drivers_probe; the kernel binds vfio-pci; the group is viable', () => {
      expect(step('bind-10').code).toBe(0);
      const doc = json('bind-10') as { writes: { path: string; value: string }[] };
      expect(doc).toMatchObject({ driverBefore: null, driverAfter: { '0000:00:10.0': 'vfio-pci' }, mustAlsoBind: [] });
      expect(doc.writes.map((w) => [w.path, w.value])).toEqual([
        ['/sys/bus/pci/devices/0000:00:10.0/driver_override', 'vfio-pci'],
        ['/sys/bus/pci/drivers_probe', '0000:00:10.0'],
      ]);
      expect(json('driver-10-after-bind')).toBe('vfio-pci');
    });

    it('a group member on a foreign driver is named, and attaching its sibling fails with exit 6', () => {
      expect(json('driver-18.1-foreign')).toBe('uio_pci_generic');
      expect(json('bind-18.0')).toMatchObject({
        note: '0000:00:18.0 is already bound to vfio-pci',
        iommuGroup: expect.any(String),
        group: [{ bdf: '0000:00:18.1', driver: 'uio_pci_generic', bridge: false, blocksGroup: true }],
        mustAlsoBind: ['0000:00:18.1'],
      });
      expect(step('top-18.0-not-viable').code).toBe(6);
      expect(json('top-18.0-not-viable')).toMatchObject({ error: { code: 'PT_ERR_GROUP_NOT_VIABLE' } });
    });

    it('bind --group binds the rest of the group; both rebound functions then attach (ready)', () => {
      expect(json('bind-18.0-group')).toMatchObject({
        targets: ['0000:00:18.0', '0000:00:18.1'],
        driverAfter: { '0000:00:18.1': 'vfio-pci' },
        mustAlsoBind: [],
      });
      expect(json('driver-18.1-after-group')).toBe('vfio-pci');
      const top = step('top-after-bind');
      expect(top.code, top.stderr).toBe(0);
      const frame = JSON.parse(top.stdout.trim()) as { devices: { bdf: string; state: string }[] };
      expect(frame.devices.map((d) => [d.bdf, d.state])).toEqual([
        ['0000:00:10.0', 'ready'],
        ['0000:00:18.0', 'ready'],
      ]);
    });

    it('without root: PT_ERR_PERMISSION (exit 5), naming the sysfs file and saying to use sudo', () => {
      expect(step('unbind-11-nobody').code).toBe(5);
      const err = (json('unbind-11-nobody') as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('PT_ERR_PERMISSION');
      expect(err.message).toMatch(/cannot write \/sys\/bus\/pci\/devices\/0000:00:11\.0\/.* \(EACCES\).*sudo/);
    });

    it('vfio-pci unloaded: PT_ERR_VFIO_UNAVAILABLE (exit 4) saying to modprobe it', () => {
      expect(step('bind-no-vfio').code).toBe(4);
      expect(json('bind-no-vfio')).toMatchObject({ error: { code: 'PT_ERR_VFIO_UNAVAILABLE', message: expect.stringContaining('modprobe vfio-pci') } });
    });
  });
}
