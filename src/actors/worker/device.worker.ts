/**
 * Device worker entry (compiled to dist/src/actors/worker/device.worker.js; Node 20
 * workers cannot load .ts). One device per worker.
 *
 * workerData: `{ rpcPort: MessagePort, preload: string[], prewarm: boolean }`
 * (the port is transferred at spawn). The worker serves the control protocol
 * (protocol.ts) on that port through rpc.ts and posts {@link WorkerEvent}s
 * (state changes, forwarded trace records) on parentPort. It boots idle: the
 * supervisor may keep it warm and send `activate` later.
 *
 * Warm-up (what makes a warm attach cheap): the backend modules are loaded
 * at boot, and a warm-pool worker on the sim backend also runs one dry-run
 * attach + teardown of private simulated functions (its own SimDext, its own
 * control block, nothing reported), so the attach code is compiled before the
 * real attach arrives. 'booted' is posted after the warm-up.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PassthroughError } from '../../errors.js';
import { DeviceRuntime } from './runtime.js';
import { serveRpc } from '../rpc.js';
import type { WorkerEvent } from '../protocol.js';

if (isMainThread || parentPort === null) {
  throw new PassthroughError('PT_ERR_INVALID_STATE', 'device.worker.js must run in a worker thread');
}
const port = parentPort;
const { rpcPort, preload, prewarm } = workerData as { rpcPort: MessagePort; preload?: string[]; prewarm?: boolean };

const post = (event: WorkerEvent): void => port.postMessage(event);
const runtime = new DeviceRuntime(post);
serveRpc(rpcPort, (cmd) => runtime.handle(cmd));
// Liveness: an uncaught error or process.exit runs this before the thread ends (terminate() does not).
process.on('exit', () => runtime.exiting());

const backends = preload ?? ['sim'];
const { isBackendName, loadBackend } = await import('../../backends/index.js');
// Load the chosen backend's modules now, so the first attach does not pay for it.
await Promise.all(backends.filter(isBackendName).map((name) => loadBackend(name).catch(() => undefined)));
if (prewarm === true && backends.includes('sim')) await dryRun();
post({ type: 'booted' });

/** One attach + teardown of each common sim model on private hardware; failures are ignored (it is only a warm-up). */
async function dryRun(): Promise<void> {
  const [{ createSimBackendHost }, { createDeviceControlBlock }] = await Promise.all([
    import('../../sim/backend.js'),
    import('../../fastpath/layout.js'),
  ]);
  const host = createSimBackendHost();
  try {
    for (const bdf of ['0000:02:00.0', '0000:00:10.0']) {
      const rt = new DeviceRuntime(() => {}, { forwardTrace: false });
      try {
        await rt.handle({
          type: 'activate',
          deviceId: `warm-up-${bdf}`,
          bdf,
          spec: await host.prepare(bdf),
          controlBlock: createDeviceControlBlock(),
          irq: undefined,
          generation: 0,
          forwardTrace: false,
          callTimeoutMs: 5000,
          stepTimeoutMs: 5000,
          unmapTimeoutMs: 100,
          presenceCheckMs: 0,
          dmaCompanion: undefined,
        });
        await rt.handle({ type: 'shutdown' });
      } catch {
        // a warm-up that fails costs nothing but its time
      }
    }
  } finally {
    await host.close();
  }
}
