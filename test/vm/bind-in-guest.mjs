// Runs inside the VM tier's guest (test/vm/bind-vm.test.ts): `pcipt bind` / `unbind` on real
// sysfs with QEMU edu devices (00:10.0, 00:11.0, and 00:18.0 + 00:18.1 sharing one IOMMU
// group). The CLI's main() runs in this process (one node start-up under TCG instead of one
// per step); the unprivileged step is a child process. Prints one line per step,
// `PCIPT_STEP {"name","code","ms","stdout","stderr"}`, for the host test to check.
import { spawnSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { main } from '../../dist/src/cli/main.js';

function report(name, code, ms, stdout, stderr) {
  console.log(`PCIPT_STEP ${JSON.stringify({ name, code, ms: Math.round(ms), stdout, stderr })}`);
}

async function step(name, argv) {
  let stdout = '';
  let stderr = '';
  const streams = {
    stdout: { write: (s) => (stdout += s) },
    stderr: { write: (s) => (stderr += s) },
    env: process.env,
  };
  const t0 = performance.now();
  const code = await main(['--backend', 'linux', ...argv], { streams });
  report(name, code, performance.now() - t0, stdout, stderr);
}

function driver(bdf) {
  try {
    return basename(readlinkSync(`/sys/bus/pci/devices/${bdf}/driver`));
  } catch {
    return null;
  }
}
function fact(name, value) {
  report(name, 0, 0, JSON.stringify(value), '');
}

// vfio-pci was loaded with ids=1234:11e8, so a reprobe would hand edu straight back to it:
// drop the id so that unbind leaves edu (which has no kernel driver of its own) unbound.
writeFileSync('/sys/bus/pci/drivers/vfio-pci/remove_id', '1234 11e8\n');

await step('unbind-10', ['unbind', '0000:00:10.0', '--json']);
fact('driver-10-after-unbind', driver('0000:00:10.0'));
await step('bind-10', ['bind', '00:10.0', '--json']);
fact('driver-10-after-bind', driver('0000:00:10.0'));

// A group member on a foreign driver keeps the group from being viable.
spawnSync('modprobe', ['uio_pci_generic'], { stdio: 'inherit' });
await step('unbind-18.1', ['unbind', '0000:00:18.1', '--json']);
writeFileSync('/sys/bus/pci/devices/0000:00:18.1/driver_override', 'uio_pci_generic\n');
writeFileSync('/sys/bus/pci/drivers_probe', '0000:00:18.1\n');
fact('driver-18.1-foreign', driver('0000:00:18.1'));
await step('bind-18.0', ['bind', '0000:00:18.0', '--json']);
await step('top-18.0-not-viable', ['top', '--json', '--count', '1', '--call-timeout-ms', '60000', '--device', '0000:00:18.0']);
await step('bind-18.0-group', ['bind', '--group', '0000:00:18.0', '--json']);
fact('driver-18.1-after-group', driver('0000:00:18.1'));
// Both rebound functions attach (TCG is slow to start device workers: a generous deadline).
await step('top-after-bind', ['top', '--json', '--count', '1', '--call-timeout-ms', '60000', '--device', '0000:00:10.0', '--device', '0000:00:18.0']);

// Not root: writing sysfs is refused, and the error says so.
{
  const t0 = performance.now();
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/pcipt.js', '--backend', 'linux', 'unbind', '0000:00:11.0', '--json'], {
    encoding: 'utf8',
  });
  report('unbind-11-nobody', r.status, performance.now() - t0, r.stdout, r.stderr);
}

// No vfio-pci at all: bind says to load it.
spawnSync('rmmod', ['vfio_pci'], { stdio: 'inherit' });
await step('bind-no-vfio', ['bind', '0000:00:11.0', '--json']);
