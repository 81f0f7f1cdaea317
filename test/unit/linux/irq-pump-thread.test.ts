/**
 * The dedicated IRQ pump thread (src/actors/irq-pump.worker.ts) over real
 * eventfds, no VFIO needed: a vfio-pci MSI is a write of 1 to the vector's
 * eventfd, so the test writes it and watches the IrqLine in the shared
 * control block. Needs the compiled entry (npx tsc -p tsconfig.json).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startIrqPumpThread, type IrqPumpThread } from '../../../src/actors/worker/irq-pump-thread.js';
import { PassthroughError } from '../../../src/errors.js';
import { createDeviceControlBlock, IrqLine } from '../../../src/fastpath/index.js';
import { createEventfd, createLinuxPumpSource, LinuxInterruptSource } from '../../../src/linux/interrupts.js';
import { libc } from '../../../src/linux/libc.js';
import { Libc } from '../../../src/linux/vfio-abi.js';
import { IrqIndex } from '../../../src/vfio/device-io-ops.js';
import { nextVectors, settledCounters } from '../../shared/irq.js';

const one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A device-side source with `count` vectors of `index`, as the linux device builds it. */
function device(count: number, index: number = IrqIndex.MSI) {
  const src = new LinuxInterruptSource('0000:00:10.0');
  const fds = Array.from({ length: count }, () => createEventfd());
  src.addVectors(index, 0, fds, { deliver() {} });
  cleanups.push(() => {
    src.close();
    src.closeFds(fds);
  });
  return { src, fds, raise: (v: number) => libc().write(fds[v]!, one, 8) };
}

/** Starts a pump thread over `src`'s vectors; returns it with the line it raises and the faults it reported. */
async function pump(src: LinuxInterruptSource, waitSliceMs = 30_000) {
  const control = createDeviceControlBlock();
  const line = new IrqLine(control);
  const faults: PassthroughError[] = [];
  const thread = startIrqPumpThread({
    control,
    descriptor: { backend: 'linux', options: { ...src.pumpDescriptor() } },
    wake: () => src.wake(),
    onFault: (e) => faults.push(e),
    waitSliceMs,
  });
  cleanups.push(() => thread.stop());
  await thread.ready;
  return { thread, line, faults };
}

describe('createLinuxPumpSource', () => {
  it('waits on the same eventfds, delivers to its sink, and its close() leaves every fd open', () => {
    const { src, fds, raise } = device(3);
    const desc = src.pumpDescriptor();
    expect(desc.vectors).toEqual(fds.map((fd, vector) => ({ fd, index: IrqIndex.MSI, vector })));
    const got: number[] = [];
    const pumpSrc = createLinuxPumpSource(desc, { deliver: (v) => got.push(v) });
    raise(2);
    raise(0);
    expect(pumpSrc.nextSync!(1000)).toBe(2);
    expect(got).toEqual([0, 2]);
    pumpSrc.close();
    // Neither the wake fd nor the vectors were closed by the pump's source.
    expect(libc().write(desc.wakeFd, one, 8)).toBe(8);
    for (const fd of fds) expect(libc().write(fd, one, 8)).toBe(8);
  });

  it('after the hand-off the device source no longer reads (exactly one reader)', async () => {
    const { src } = device(1);
    src.pumpDescriptor();
    expect(src.handedOff).toBe(true);
    expect(() => src.nextSync!(0)).toThrow(expect.objectContaining({ code: 'PT_ERR_INVALID_STATE' }));
    await expect(src.next()).rejects.toMatchObject({ code: 'PT_ERR_INVALID_STATE' });
  });

  it("waits in 'read' mode with one vector: a blocking read of its eventfd, woken through that eventfd", () => {
    const { src, fds, raise } = device(1);
    const desc = src.pumpDescriptor();
    expect(desc.mode).toBe('read');
    const got: number[] = [];
    const pumpSrc = createLinuxPumpSource(desc, { deliver: (v) => got.push(v) });
    const flags = () => libc().fcntlInt(fds[0]!, Libc.F_GETFL, 0);
    expect(flags() & Libc.O_NONBLOCK).toBe(0);
    raise(0);
    raise(0);
    expect(pumpSrc.nextSync!(1000)).toBe(1); // two signals before the read: one delivery (eventfd counts coalesce)
    expect(got).toEqual([0]);
    src.wake(); // the device worker's wake: a count of 2^32 on the vector's eventfd
    expect(pumpSrc.nextSync!(1000)).toBe(0);
    expect(got).toEqual([0]);
    raise(0);
    src.wake();
    expect(pumpSrc.nextSync!(1000)).toBe(1); // an interrupt merged with a wake is still delivered
    expect(got).toEqual([0, 0]);
    pumpSrc.close();
    expect(flags() & Libc.O_NONBLOCK).toBe(Libc.O_NONBLOCK); // the device's fd is non-blocking again
  });

  it("uses 'poll' mode with several vectors, and a wake then only goes to the wake eventfd", () => {
    const { src, fds } = device(2);
    const desc = src.pumpDescriptor();
    expect(desc.mode).toBe('poll');
    src.wake();
    for (const fd of fds) expect(libc().read(fd, new Uint8Array(8), 8)).toBe(-1); // EAGAIN: nothing written
  });

  it('rejects a malformed descriptor', () => {
    expect(() => createLinuxPumpSource({ bdf: 'x', wakeFd: -1, vectors: [] }, { deliver() {} })).toThrow(
      expect.objectContaining({ code: 'PT_ERR_INVALID_ARGUMENT' }),
    );
  });
});

describe('IRQ pump thread (linux eventfds)', () => {
  it('raises each signalled MSI vector on the IrqLine of the control block', async () => {
    const { src, raise } = device(4);
    const { line, faults } = await pump(src);
    let seq = line.seq;
    raise(3);
    expect(nextVectors(line, seq)).toEqual([3]);
    seq = line.seq;
    raise(1);
    expect(nextVectors(line, seq)).toEqual([1]);
    expect(settledCounters(line, (c) => c.raised >= 2).raised).toBe(2);
    expect(faults).toEqual([]);
  });

  it('delivers INTx as vector 0', async () => {
    const { src, fds } = device(1, IrqIndex.INTX);
    const { line } = await pump(src);
    const seq = line.seq;
    libc().write(fds[0]!, one, 8);
    expect(nextVectors(line, seq)).toEqual([0]);
  });

  it('stop() while the thread is blocked in a 30 s poll returns promptly, exits cleanly and is not a fault', async () => {
    const { src, fds } = device(2);
    const { thread, faults } = await pump(src, 30_000);
    const t0 = performance.now();
    await thread.stop();
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await thread.exited).toBe(0);
    expect(faults).toEqual([]);
    // The device's fds are still open (the worker closes them only after this).
    for (const fd of fds) expect(libc().write(fd, one, 8)).toBe(8);
    await thread.stop(); // idempotent
  });

  it('stop() while the thread is blocked in read() on its one vector returns promptly and is not a fault', async () => {
    const { src, fds } = device(1);
    const { thread, line, faults } = await pump(src, 30_000);
    const seq = line.seq;
    libc().write(fds[0]!, one, 8);
    expect(nextVectors(line, seq)).toEqual([0]); // it waits and delivers in 'read' mode
    await thread.stop();
    expect(await thread.exited).toBe(0);
    expect(faults).toEqual([]);
    expect(libc().write(fds[0]!, one, 8)).toBe(8); // still open
  });

  it('a pump thread that ends without being stopped is reported as PT_ERR_WORKER_EXITED, once', async () => {
    // Two vectors: the thread waits in poll() slices of 20 ms, so terminate() lands within one.
    const { src } = device(2);
    const { thread, faults } = await pump(src, 20);
    await thread.worker.terminate();
    await thread.exited;
    expect(faults).toHaveLength(1);
    expect(faults[0]).toBeInstanceOf(PassthroughError);
    expect(faults[0]!.code).toBe('PT_ERR_WORKER_EXITED');
    expect(faults[0]!.context).toMatchObject({ backend: 'linux' });
  });

  it('a source that cannot be built rejects ready and faults', async () => {
    const control = createDeviceControlBlock();
    const faults: PassthroughError[] = [];
    const thread = startIrqPumpThread({
      control,
      descriptor: { backend: 'linux', options: { bdf: '0000:00:10.0', wakeFd: -1, vectors: [] } },
      wake() {},
      onFault: (e) => faults.push(e),
    });
    await expect(thread.ready).rejects.toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    await thread.exited;
    expect(faults.map((f) => f.code)).toEqual(['PT_ERR_INVALID_ARGUMENT']);
  });
});
