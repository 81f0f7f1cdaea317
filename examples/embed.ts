/**
 * Embedding pcipt in an emulator: the supervisor attaches devices on the main
 * thread; a vCPU thread (a worker here) gets each device's descriptor and
 * drives it synchronously through shared memory: BAR loads/stores, config
 * cycles and interrupt waits never touch a message queue.
 *
 *   npm run build && node dist/examples/embed.js
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createSupervisor, openFastPath, type DeviceHandleDescriptor } from '../src/index.js';

const MSIX_DOORBELL = 0x08; // the sim MSI-X function's "raise vector N" register (BAR0)

if (isMainThread) {
  const sup = await createSupervisor({ backend: 'sim' });
  try {
    const msix = await sup.attach('0000:02:00.0');
    const edu = await sup.attach('0000:00:10.0');
    const vcpu = new Worker(new URL(import.meta.url), {
      workerData: { msix: msix.descriptor(), edu: edu.descriptor() },
    });
    const report = await new Promise((resolve, reject) => {
      vcpu.once('message', resolve);
      vcpu.once('error', reject);
    });
    console.log(JSON.stringify(report, null, 2));
    await vcpu.terminate();
  } finally {
    await sup.close(); // ordered teardown; the process can always exit afterwards
  }
} else {
  const { msix, edu } = workerData as { msix: DeviceHandleDescriptor; edu: DeviceHandleDescriptor };
  const dev = openFastPath(msix);
  const eduDev = openFastPath(edu);

  // Config cycle from the vCPU thread: synchronous, served by the device worker.
  const ids = dev.config.read32(0x00);

  // A RAM-like 64-bit prefetchable BAR: plain shared memory, width-exact Atomics.
  const ram = dev.bar(2)!;
  ram.write64(0x100, 0x1122334455667788n);
  const readBack = ram.read64(0x100);

  // edu's registers trap (every access has side effects): the same BarWindow call
  // takes the slow path to the device worker, transparently.
  const eduId = eduDev.bar(0)!.read32(0x00);
  eduDev.bar(0)!.write32(0x04, 0x12345678);
  const liveness = eduDev.bar(0)!.read32(0x04);

  // Interrupts: ring the device's doorbell, then park on the IRQ line (finite timeout).
  const seq = dev.irq.seq;
  dev.bar(0)!.write32(MSIX_DOORBELL, 200);
  dev.irq.waitSync(seq, 1000);
  const vectors = dev.irq.drain();

  dev.close();
  eduDev.close();
  parentPort!.postMessage({
    vendorDevice: `0x${(ids >>> 0).toString(16)}`,
    bar2ReadBack: `0x${readBack.toString(16)}`,
    eduId: `0x${(eduId >>> 0).toString(16)}`,
    eduLiveness: `0x${(liveness >>> 0).toString(16)}`,
    vectors,
  });
}
