/**
 * The linux backend on real VFIO: boots a TCG guest (test/vm/harness) with an
 * emulated VT-d IOMMU and QEMU edu devices (two single-function slots plus a
 * two-function slot whose functions share one IOMMU group) bound to vfio-pci,
 * runs the compiled in-guest programs with the host's node over 9p, and asserts
 * on each JSON record they print (by name: a missing record fails):
 * - dist/test/fixtures/vm-linux-edu.js: the linux backend's own API, every function;
 * - dist/test/fixtures/vm-linux-supervisor.js: ONE supervisor attaching one edu,
 *   then two edus at once, then the two-function slot, through DeviceHandle
 *   (BarWindow / IrqLine / DmaMap), with refused second attaches, reset, detach
 *   (fds checked) and close (the program must end by itself).
 * One boot (~20 s guest time). Skips, saying what to install, when qemu-system-x86_64 is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EDU_CHECKS } from '../fixtures/vm-edu-checks.js';
import type { CheckRecord, GuestOutput } from '../fixtures/vm-guest-results.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = resolve(ROOT, 'test/vm/harness/run-in-guest.sh');
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status === 0;

/**
 * Runs the harness. The deadline follows progress: the guest prints a line
 * per step (PCIPT_PROGRESS, the boot log), and the run is killed after
 * `silenceMs` without any output, so a saturated host only makes it slower.
 */
function runGuest(args: string[], silenceMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(HARNESS, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Decode as a stream: a multi-byte character may straddle two chunks.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    let timer = setTimeout(() => child.kill('SIGTERM'), silenceMs);
    const progress = () => {
      clearTimeout(timer);
      timer = setTimeout(() => child.kill('SIGTERM'), silenceMs);
    };
    child.stdout.on('data', (d: string) => ((stdout += d), progress()));
    child.stderr.on('data', (d: string) => ((stderr += d), progress()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

if (!hasQemu) {
  console.warn(
    '[linux-vm] skipped: qemu-system-x86_64 not found. To run the VFIO tier: ' +
      'apt-get install --no-install-recommends qemu-system-x86 linux-image-amd64 busybox-static cpio',
  );
  describe.skip('linux VFIO backend in a QEMU guest (install qemu-system-x86 linux-image-amd64 busybox-static cpio)', () => {
    it('needs qemu-system-x86_64', () => {});
  });
} else {
  describe('linux VFIO backend in a QEMU guest (edu, --iommu intel)', () => {
    let out: GuestOutput;
    let supOut: GuestOutput | undefined;
    let supExit: unknown;
    let log = '';
    beforeAll(async () => {
      const r = await runGuest(
        [
          // --timeout: a last-resort cap; the watchdog below follows the guest's progress.
          '--iommu', 'intel', '--edu', '2', '--edu-mf', '--timeout', '1500', '--', 'bash', '-c',
          'node dist/test/fixtures/vm-linux-edu.js; node dist/test/fixtures/vm-linux-supervisor.js 0000:00:10.0 0000:00:11.0 0000:00:18.0 0000:00:18.1',
        ],
        120_000,
      );
      log = `${r.stdout}\n${r.stderr}`;
      const line = r.stdout.split('\n').find((l) => l.startsWith('PCIPT_RESULT '));
      if (line === undefined) throw new Error(`the guest printed no PCIPT_RESULT line (status ${r.status}):\n${log.slice(-4000)}`);
      out = JSON.parse(line.slice('PCIPT_RESULT '.length)) as GuestOutput;
      const sup = r.stdout.split('\n').find((l) => l.startsWith('PCIPT_SUPERVISOR_RESULT '));
      supOut = sup === undefined ? undefined : (JSON.parse(sup.slice('PCIPT_SUPERVISOR_RESULT '.length)) as GuestOutput);
      const exit = r.stdout.split('\n').find((l) => l.startsWith('PCIPT_SUPERVISOR_EXIT '));
      supExit = exit === undefined ? undefined : JSON.parse(exit.slice('PCIPT_SUPERVISOR_EXIT '.length));
    }, 1_600_000);

    const rec = (device: string, name: string): CheckRecord => {
      const r = out.results.find((x) => x.device === device && x.name === name);
      if (r === undefined) throw new Error(`no record for ${device} "${name}"; guest output:\n${log.slice(-3000)}`);
      return r;
    };
    const expectOk = (device: string, name: string): CheckRecord => {
      const r = rec(device, name);
      expect(r.error ?? null, `${device}: ${name}`).toBeNull();
      expect(r.ok).toBe(true);
      return r;
    };

    it('the guest program ran to the end, saw four edu functions bound to vfio-pci and a ready backend', () => {
      expect(out.crash).toBeUndefined();
      expect(out.facts.edus).toEqual(['0000:00:10.0', '0000:00:11.0', '0000:00:18.0', '0000:00:18.1']);
      expect(out.facts.attachable).toEqual(out.facts.edus);
      expectOk('-', 'status ready');
    });
    it('00:10.0 waited for interrupts through io_uring completions, 00:11.0 through poll() + read() of the eventfds', () => {
      expect(out.facts['irqWait 0000:00:10.0']).toBe('io_uring');
      expect(out.facts['irqWait 0000:00:11.0']).toBe('eventfd-read');
    });
    it('prepare refuses a missing function (PT_ERR_NOT_FOUND) and an unbound one (PT_ERR_NOT_BOUND)', () => {
      expectOk('-', 'prepare of a missing function → PT_ERR_NOT_FOUND');
      const r = expectOk('-', 'prepare of a function not bound to vfio-pci → PT_ERR_NOT_BOUND');
      expect(String(r.value)).toMatch(/bind it with/);
    });
    for (const device of ['0000:00:10.0', '0000:00:11.0']) {
      describe(device, () => {
        for (const c of EDU_CHECKS) {
          it(`edu behaviour: ${c.name}`, () => {
            const r = expectOk(device, c.name);
            expect(r.skipped ?? false).toBe(false);
          });
        }
        it('DMA from a SharedArrayBuffer range that is not page aligned keeps its in-page offset', () => {
          expect(expectOk(device, 'DMA round trip from a SharedArrayBuffer offset that is not page aligned').value).toEqual({ busAddrPageOffset: 100 });
        });
        it('a second owner of the function is refused (PT_ERR_DUPLICATE_OWNER)', () => {
          expectOk(device, 'second prepare of an owned function → PT_ERR_DUPLICATE_OWNER');
          expectOk(device, 'second attach in the same container → PT_ERR_DUPLICATE_OWNER');
        });
        it('reset: edu offers no reset method, so deviceReset reports PT_ERR_NOT_SUPPORTED', () => {
          const r = expectOk(device, 'reset (VFIO_DEVICE_RESET when offered, else PT_ERR_NOT_SUPPORTED)');
          expect(String(r.value)).toMatch(/no reset method|^reset$/);
        });
        it('INTx (slow-path register access): delivered as vector 0, auto-masked, and delivered again after unmask', () => {
          expect(expectOk(device, 'INTx through the slow path (pread/pwrite): delivered, auto-masked, unmasked, delivered again').value).toEqual([0, 0]);
        });
        it('disabling an interrupt index that is not enabled is a no-op', () => {
          expectOk(device, 'disabling MSI again when it is not enabled is a no-op');
        });
        it('dirty tracking is not supported', () => {
          expectOk(device, 'dirty tracking → PT_ERR_NOT_SUPPORTED');
        });
        it('detach closes every fd; the group can be prepared again', () => {
          expectOk(device, 'detach, release, and every fd closed again');
        });
      });
    }
    it('a worker thread attaches with the fd numbers the supervisor thread opened, and gets MSI there', () => {
      const r = expectOk('0000:00:10.0', 'worker thread attaches from the supervisor-thread fds; MSI raise/ack there');
      expect(r.value).toMatchObject({ id: 0x010000ed, vectors: [0], status: 0x40 });
    });
    describe('through the public supervisor API (one supervisor: createSupervisor({ backend: "linux" }) → attach → DeviceHandle)', () => {
      const sup = (): GuestOutput => {
        if (supOut === undefined) throw new Error(`the supervisor program printed no result; guest output:\n${log.slice(-3000)}`);
        return supOut;
      };
      const srecAny = (device: string, name: string): CheckRecord => {
        const r = sup().results.find((x) => x.device === device && x.name === name);
        if (r === undefined) throw new Error(`no supervisor record for ${device} "${name}"; guest output:\n${log.slice(-3000)}`);
        return r;
      };
      const srec = (device: string, name: string): CheckRecord => {
        const r = srecAny(device, name);
        expect(r.error ?? null, `${device}: ${name}`).toBeNull();
        expect(r.ok).toBe(true);
        return r;
      };
      const eduChecks = (phase: string, bdf: string, what: string, except: string[] = []) => {
        for (const c of EDU_CHECKS) {
          if (except.includes(c.name)) continue;
          it(`${what}: ${c.name}`, () => {
            expect(srec(`${phase}:${bdf}`, c.name).skipped ?? false).toBe(false);
          });
        }
      };
      const DMA = 'DMA round trip RAM -> device -> RAM';

      it('the program ran to the end and, after supervisor.close(), ended by itself (no process.exit)', () => {
        expect(sup().crash).toBeUndefined();
        expect(supExit, 'the PCIPT_SUPERVISOR_EXIT line').toMatchObject({ natural: true, code: 0 });
      });

      describe('one edu (0000:00:10.0): BarWindow / IrqLine / DmaMap', () => {
        eduChecks('one', '0000:00:10.0', 'edu behaviour');
        it('a second attach of the owned function is refused with PT_ERR_DUPLICATE_OWNER', () => {
          srec('one:0000:00:10.0', 'second attach of an owned function → PT_ERR_DUPLICATE_OWNER');
        });
        it('its descriptor opens the fast path in a fresh worker: ID, liveness (inverted), vendor id', () => {
          expect(srec('one:0000:00:10.0', 'the descriptor opens the fast path in a fresh worker (mmap view through its factory)').value).toEqual([
            '0x10000ed',
            '0xffff0000',
            '0x1234',
          ]);
        });
        it('reset reports the typed PT_ERR_NOT_SUPPORTED (edu has no reset method)', () => {
          expect(srec('one:0000:00:10.0', 'reset through the handle (edu has no reset method: a typed error)').value).toBe('PT_ERR_NOT_SUPPORTED');
        });
        // After the refused reset: MMIO and MSI through the IrqLine keep working.
        eduChecks('after-reset', '0000:00:10.0', 'after the refused reset', [DMA]);
        it('after the refused reset: the state and DMA records exist', () => {
          srec('one:0000:00:10.0', 'state after the reset attempt');
          srecAny('after-reset:0000:00:10.0', DMA);
        });
        // A reset the device does not offer is refused before anything is touched: the
        // device stays ready (device.machine's resetRefused guard) and DMA keeps working.
        it('after the refused reset the device is still ready and DMA works', () => {
          expect(srec('one:0000:00:10.0', 'state after the reset attempt').value).toBe('ready');
          srec('after-reset:0000:00:10.0', DMA);
        });
        it('detach leaves the process with the fds it had before the attach', () => {
          srec('one:0000:00:10.0', 'detach leaves the fds of before the attach');
        });
      });

      describe('two edus at once (0000:00:10.0 + 0000:00:11.0), checks run concurrently', () => {
        eduChecks('two', '0000:00:10.0', '00:10.0');
        eduChecks('two', '0000:00:11.0', '00:11.0');
        it('factorial interrupt on one while the other raises MSI: each on its own IrqLine only; DMA on both, each through its own DmaMap', () => {
          const v = srec('two:0000:00:10.0+0000:00:11.0', 'interleaved: factorial interrupt on one while the other raises; each on its own IrqLine; DMA on both')
            .value as { irqs: Record<string, { raised: number; delivered: number }> };
          for (const bdf of ['0000:00:10.0', '0000:00:11.0']) expect(v.irqs[bdf]!.delivered).toBeGreaterThan(0);
        });
        it('a second attach of an owned function is refused with PT_ERR_DUPLICATE_OWNER', () => {
          srec('two:0000:00:10.0+0000:00:11.0', 'second attach of an owned function → PT_ERR_DUPLICATE_OWNER');
        });
        it('detaching both leaves the fds of before the attach', () => {
          srec('two:0000:00:10.0+0000:00:11.0', 'detach both leaves the fds of before the attach');
        });
      });

      describe('a two-function slot (0000:00:18.0 + 0000:00:18.1): one IOMMU group, two device workers', () => {
        const pair = 'slot:0000:00:18.0+0000:00:18.1';
        eduChecks('slot', '0000:00:18.0', '00:18.0');
        eduChecks('slot', '0000:00:18.1', '00:18.1');
        it('interleaved on the two functions: each interrupt on its own IrqLine only; DMA of each in its own IOVA window of the shared container', () => {
          const v = srec(pair, 'interleaved: factorial interrupt on one while the other raises; each on its own IrqLine; DMA on both').value as {
            dmaBusAddr: Record<string, string>;
          };
          expect(v.dmaBusAddr['0000:00:18.0']).not.toBe(v.dmaBusAddr['0000:00:18.1']);
        });
        it('a second attach of a slot function is refused with PT_ERR_DUPLICATE_OWNER', () => {
          srec(pair, 'second attach of an owned function → PT_ERR_DUPLICATE_OWNER');
        });
        it('detaching function 0 leaves function 1 attached and ready', () => {
          expect(srec(pair, 'detach 0000:00:18.0; 0000:00:18.1 keeps its worker').value).toEqual(['0000:00:18.1 ready']);
        });
        eduChecks('slot-alone', '0000:00:18.1', '00:18.1 after 00:18.0 detached');
        it('detaching function 1 too leaves the fds of before the attach', () => {
          srec(pair, 'detach the other leaves the fds of before the attach');
        });
      });

      it('supervisor.close() leaves the fds of before createSupervisor', () => {
        srec('-', 'supervisor close leaves the fds of before createSupervisor');
      });
    });
    it('the two functions of one slot share one IOMMU group fd, get distinct IOVA windows, and both pass every check', () => {
      expectOk('0000:00:18.0+0000:00:18.1', 'multifunction pair shares one group fd and both work');
    });
  });
}
