/**
 * LinuxInterruptSource over real eventfds (no VFIO needed): what a vfio-pci
 * MSI does to the eventfd is a write of 1, so the test writes it directly.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEventfd, LinuxInterruptSource } from '../../../src/linux/interrupts.js';
import { libc } from '../../../src/linux/libc.js';
import { IrqIndex } from '../../../src/vfio/device-io-ops.js';

const one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
const open: { src: LinuxInterruptSource; fds: number[] }[] = [];

function make(count: number, index: number = IrqIndex.MSI) {
  const src = new LinuxInterruptSource('0000:00:10.0');
  const fds = Array.from({ length: count }, () => createEventfd());
  const got: number[] = [];
  src.addVectors(index, 0, fds, { deliver: (v) => got.push(v) });
  open.push({ src, fds });
  return { src, fds, got, raise: (v: number) => libc().write(fds[v]!, one, 8) };
}

afterEach(() => {
  for (const { src, fds } of open.splice(0)) {
    src.close();
    src.closeFds(fds);
  }
});

/** Whether this kernel lets us use io_uring at all (containers often forbid it by seccomp). */
const uringHere = (() => {
  const src = new LinuxInterruptSource('0000:00:10.0');
  const fd = createEventfd();
  process.env.PCIPT_LINUX_IRQ_WAIT = 'io_uring';
  src.addVectors(IrqIndex.MSI, 0, [fd], { deliver() {} });
  delete process.env.PCIPT_LINUX_IRQ_WAIT;
  const yes = src.usesIoUring;
  src.close();
  src.closeFds([fd]);
  return yes;
})();

describe.each([
  ['io_uring completions (PCIPT_LINUX_IRQ_WAIT=io_uring)', 'io_uring'],
  ['read() + poll() of the eventfds (default)', 'default'],
])('LinuxInterruptSource (%s)', (_label, mode) => {
  beforeEach((ctx) => {
    if (mode === 'io_uring' && !uringHere) ctx.skip();
    if (mode === 'io_uring') process.env.PCIPT_LINUX_IRQ_WAIT = 'io_uring';
  });
  afterEach(() => {
    delete process.env.PCIPT_LINUX_IRQ_WAIT;
  });
  it('uses the wait it says', () => {
    const { src } = make(1);
    expect(src.usesIoUring).toBe(mode === 'io_uring');
  });

  it('nextSync delivers each raised vector once, lowest first, and times out with 0 when nothing is pending', () => {
    const { src, got, raise } = make(3);
    raise(2);
    raise(0);
    expect(src.nextSync!(1000)).toBe(2);
    expect(got).toEqual([0, 2]);
    const t0 = Date.now();
    expect(src.nextSync!(30)).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(got).toEqual([0, 2]);
  });

  it('INTx is delivered as vector 0', () => {
    const { src, got, raise } = make(1, IrqIndex.INTX);
    raise(0);
    expect(src.nextSync!(1000)).toBe(1);
    expect(got).toEqual([0]);
  });

  it('many vectors (poll path): only the raised ones are delivered', () => {
    const { src, got, raise } = make(8);
    raise(5);
    raise(7);
    expect(src.nextSync!(1000)).toBe(2);
    expect(got).toEqual([5, 7]);
  });

  it('wake() ends a blocking wait at once with 0', () => {
    const { src } = make(1);
    src.wake();
    const t0 = Date.now();
    expect(src.nextSync!(5000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('next() waits without blocking the event loop and resolves when a vector is raised', async () => {
    const { src, got, raise } = make(1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const p = src.next();
    // The event loop keeps turning while next() is pending: timers fire (however late a loaded
    // machine runs them), and only then is the vector raised.
    await vi.waitFor(() => expect(ticks).toBeGreaterThan(2));
    raise(0);
    expect(await p).toBe(1);
    clearInterval(timer);
    expect(got).toEqual([0]);
  });

  it('close() resolves a pending next() with 0 and later waits return 0', async () => {
    const { src } = make(1);
    const p = src.next();
    await new Promise((r) => setTimeout(r, 10));
    src.close();
    expect(await p).toBe(0);
    expect(await src.next()).toBe(0);
    expect(src.nextSync!(10)).toBe(0);
  });
});
