/**
 * DeviceRuntime with a backend that asks for a dedicated IRQ pump thread
 * (WorkerBackend.irqPumpDescriptor), in-process: the sim backend wrapped so
 * its descriptor points at real eventfds made here (what the linux backend
 * hands over after VFIO_DEVICE_SET_IRQS). Checks the interrupt path, the
 * teardown order (the thread has exited before the device's fds could be
 * closed) and that a pump thread dying faults the device.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IrqPumpThread } from '../../../src/actors/worker/irq-pump-thread.js';
import type { WorkerEvent } from '../../../src/actors/protocol.js';
import type { WorkerBackend } from '../../../src/vfio/backend.js';
import { createDeviceControlBlock, IrqLine } from '../../../src/fastpath/index.js';
import { createEventfd, LinuxInterruptSource } from '../../../src/linux/interrupts.js';
import { libc } from '../../../src/linux/libc.js';
import { IrqIndex } from '../../../src/vfio/device-io-ops.js';
import type { AttachedDevice, IommuOps } from '../../../src/vfio/iommu-ops.js';

const EDU = '0000:00:10.0';
const one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** The eventfd-backed "native" interrupts of the current test. */
let native: { src: LinuxInterruptSource; fds: number[] } | undefined;
/** Pump threads the runtime started (captured through the mock below). */
const threads: IrqPumpThread[] = [];

vi.mock('../../../src/actors/worker/irq-pump-thread.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../src/actors/worker/irq-pump-thread.js')>();
  return {
    ...orig,
    startIrqPumpThread: (opts: Parameters<typeof orig.startIrqPumpThread>[0]) => {
      const t = orig.startIrqPumpThread(opts);
      threads.push(t);
      return t;
    },
  };
});

vi.mock('../../../src/backends/index.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../../src/backends/index.js')>();
  return {
    ...orig,
    createWorkerBackend: async (spec: Parameters<typeof orig.createWorkerBackend>[0]): Promise<WorkerBackend> => {
      const inner = await orig.createWorkerBackend(spec);
      const n = native!;
      const container = new Proxy(inner.container, {
        get(target, key) {
          if (key === 'attachDevice') {
            return (bdf: Parameters<IommuOps['attachDevice']>[0]): AttachedDevice => {
              const a = target.attachDevice(bdf);
              const s = a.interrupts;
              // The device's wake() is the native wake path, as on linux.
              const interrupts = { next: () => s.next(), nextSync: s.nextSync, wake: () => (s.wake(), n.src.wake()), close: () => s.close() };
              return { bdf: a.bdf, name: a.name, info: a.info, ops: a.ops, interrupts };
            };
          }
          const v = Reflect.get(target, key, target) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      return Object.assign(Object.create(inner) as WorkerBackend, {
        container,
        irqPumpDescriptor: () => ({ backend: 'linux' as const, options: { ...n.src.pumpDescriptor() } }),
      });
    },
  };
});

const { DeviceRuntime } = await import('../../../src/actors/worker/runtime.js');
const { createSimBackendHost } = await import('../../../src/sim/backend.js');

afterEach(() => {
  threads.length = 0;
  if (native !== undefined) {
    native.src.close();
    native.src.closeFds(native.fds);
    native = undefined;
  }
});

async function activate() {
  const src = new LinuxInterruptSource(EDU);
  const fds = [createEventfd()];
  src.addVectors(IrqIndex.MSI, 0, fds, { deliver() {} });
  native = { src, fds };
  const host = createSimBackendHost();
  const events: WorkerEvent[] = [];
  const rt = new DeviceRuntime((e) => events.push(e), { forwardTrace: false });
  const controlBlock = createDeviceControlBlock();
  await rt.handle({
    type: 'activate',
    deviceId: 'd1',
    bdf: EDU,
    spec: await host.prepare(EDU),
    controlBlock,
    irq: undefined,
    generation: 0,
    forwardTrace: false,
    stepTimeoutMs: 5000,
    unmapTimeoutMs: 100,
    presenceCheckMs: 0,
  });
  return { rt, events, line: new IrqLine(controlBlock), host, raise: () => libc().write(fds[0]!, one, 8) };
}

describe('device runtime with an IRQ pump thread', () => {
  it('interrupts reach the control block through the pump thread; shutdown stops the thread first', async () => {
    const { rt, events, line, host, raise } = await activate();
    expect(threads).toHaveLength(1);
    expect(native!.src.handedOff).toBe(true);
    const seq = line.seq;
    raise();
    expect(line.waitSync(seq, 5000)).not.toBe(seq);
    expect(line.drain()).toEqual([0]);
    let exitCode: number | undefined;
    void threads[0]!.exited.then((c) => (exitCode = c));
    const report = (await rt.handle({ type: 'shutdown' })) as { state: string; error?: { code: string; message: string } };
    // The thread had exited (code 0) before teardown went on (the exit is seen before shutdown resolves).
    expect(exitCode).toBe(0);
    // This runtime runs on the vitest main thread, where the blocking requestUnmap of teardown
    // refuses (PT_ERR_INVALID_STATE, region 0); no other teardown step may fail.
    if (report.error !== undefined) expect(report.error).toMatchObject({ code: 'PT_ERR_INVALID_STATE', context: { failures: 1, region: 0 } });
    expect(events.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state)).toEqual(['ready', 'stopped']);
    await host.close();
  });

  it('a pump thread that dies faults the device with PT_ERR_WORKER_EXITED', async () => {
    const { rt, events, host } = await activate();
    // A thread blocked in a native call ends only when the call returns (ecosystem facts §2.3):
    // with one vector the pump blocks in read() on its eventfd, so wake it for the terminate to land.
    const dying = threads[0]!.worker.terminate();
    native!.src.wake();
    await dying;
    await vi.waitFor(() => expect(events.some((e) => e.type === 'state' && e.state === 'faulted')).toBe(true));
    const faulted = events.find((e) => e.type === 'state' && e.state === 'faulted') as Extract<WorkerEvent, { type: 'state' }>;
    expect(faulted.cause).toMatchObject({ code: 'PT_ERR_WORKER_EXITED', context: { deviceId: 'd1', backend: 'linux' } });
    await rt.handle({ type: 'shutdown' });
    await host.close();
  });
});
