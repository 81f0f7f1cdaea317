/**
 * Issue 14, point 5: the IOKit backend and its C stand-in behave like the
 * later original ([G]) and the real dext:
 * - the same BDF under two host roots is refused with the original's text,
 *   and a host root chooses one (driver, container, and the public supervisor);
 * - a WaitInterrupt completion is message id 53 (async-completion type); any
 *   other message on the port is ignored;
 * - the stand-in: 64 DMA chunks per region, interrupt state per connection,
 *   AllocateDMABuffer's last output = the class code (checked in
 *   iokit-dext-client.test.ts).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { createAppleContainer } from '../../src/apple/container.js';
import { ConnectionTable } from '../../src/apple/connection-table.js';
import { Mach, loadIokitBindings } from '../../src/iokit/bindings.js';
import { IOReturn } from '../../src/dext/contract.js';
import { createIokitDextDriver, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { ASYNC_COMPLETION_MSG_ID } from '../../src/iokit/notify-port.js';
import { createSupervisor, PassthroughError, type Supervisor } from '../../src/index.js';
import { toBdf } from '../../src/types.js';
import { expectDextError, useStandin } from './helpers.js';
import { thrown as caught } from '../shared/thrown.js';

const s = useStandin();
const BDF4 = toBdf('04:00.0');
const TWO_ROOTS = '04:00.0 is claimed by 2 VFIOUserPCIDriver instances (pcic0-bridge, pcic1-bridge); add host-root=<name> to disambiguate';


describe('the same BDF under two host roots', () => {
  test('listServices names each instance\'s host root (the topmost IOPCIDevice above it)', () => {
    s.ctl.setTwin(true);
    const list = createIokitDextDriver({ libraries: s.libraries }).listServices();
    expect(list.map((x) => [x.bdf, x.hostRoot, x.identity.deviceId])).toEqual([
      ['0000:03:00.0', 'pcic0-bridge', 0x11e8],
      ['0000:04:00.0', 'pcic0-bridge', 0x11e9],
      ['0000:04:00.0', 'pcic1-bridge', 0x11ea],
    ]);
    expect(s.ctl.counts()).toMatchObject({ connections: 0, registryRefs: 0, cfObjects: 0 });
  });

  test('connect without a host root is refused with the original\'s text; nothing stays open', () => {
    s.ctl.setTwin(true);
    const d = createIokitDextDriver({ libraries: s.libraries });
    const e = caught(() => d.connect(BDF4));
    expect(e.code).toBe('PT_ERR_CONNECT_FAILED');
    expect(e.message).toBe(TWO_ROOTS);
    expect(e.context.hostRoots).toEqual(['pcic0-bridge', 'pcic1-bridge']);
    expect(s.ctl.counts()).toMatchObject({ connections: 0, registryRefs: 0, cfObjects: 0 });
    // A BDF that does not repeat still connects without one.
    const c = d.connect(toBdf('03:00.0'));
    expect(c.getIdentity().deviceId).toBe(0x11e8);
    c.close();
  });

  test('hostRoot chooses the instance; an unknown root names the roots found', () => {
    s.ctl.setTwin(true);
    const d = createIokitDextDriver({ libraries: s.libraries });
    const twin = d.connect(BDF4, { hostRoot: 'pcic1-bridge' }) as IokitDextClient;
    expect(twin.getIdentity().deviceId).toBe(0x11ea);
    expect(twin.bdf).toBe('0000:04:00.0');
    const first = d.connect(BDF4, { hostRoot: 'pcic0-bridge' });
    expect(first.getIdentity().deviceId).toBe(0x11e9);
    expect(s.ctl.counts().connections).toBe(2);
    twin.close();
    first.close();
    const e = caught(() => d.connect(BDF4, { hostRoot: 'pcic9-bridge' }));
    expect([e.code, e.message]).toEqual([
      'PT_ERR_CONNECT_FAILED',
      "no VFIOUserPCIDriver instance for 04:00.0 under root 'pcic9-bridge' (found under: pcic0-bridge, pcic1-bridge)",
    ]);
    expect(s.ctl.counts()).toMatchObject({ connections: 0, registryRefs: 0 });
  });

  test('the container: "vfio-apple: <the original\'s text>", hostRoot attaches, a duplicate owner names the root', () => {
    s.ctl.setTwin(true);
    const driver = createIokitDextDriver({ libraries: s.libraries });
    const table = new ConnectionTable();
    const e = caught(() => createAppleContainer({ driver, table }).attachDevice(BDF4));
    expect([e.code, e.message]).toEqual(['PT_ERR_CONNECT_FAILED', `vfio-apple: ${TWO_ROOTS}`]);
    const a = createAppleContainer({ driver, table, hostRoot: 'pcic1-bridge' });
    const dev = a.attachDevice(BDF4);
    expect(dev.ops.regionRead(7, 2, 2)).toEqual(Uint8Array.of(0xea, 0x11));
    const dup = caught(() => createAppleContainer({ driver, table, hostRoot: 'pcic1-bridge' }).attachDevice(BDF4));
    expect([dup.code, dup.message]).toEqual(['PT_ERR_DUPLICATE_OWNER', 'vfio-apple: duplicate dext owner for host PCI 04:00.0@pcic1-bridge']);
    a.detachDevice(BDF4);
    expect(s.ctl.counts()).toMatchObject({ connections: 0 });
  });
});

describe('the public supervisor with two host roots', () => {
  let sup: Supervisor | undefined;
  afterEach(async () => {
    await sup?.close();
    sup = undefined;
  });

  test('backendOptions.hostRoots chooses the root; without it attach is refused with the original\'s text', async () => {
    s.ctl.setTwin(true);
    sup = await createSupervisor({ backend: 'iokit', backendOptions: { libraries: s.libraries }, callTimeoutMs: 5000 });
    const listed = (await sup.listFunctions()).filter((f) => f.bdf === '0000:04:00.0').map((f) => f.details.root);
    expect(listed).toEqual(['pcic0-bridge', 'pcic1-bridge']);
    const e = await sup.attach('04:00.0').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PassthroughError);
    expect((e as PassthroughError).code).toBe('PT_ERR_CONNECT_FAILED');
    expect((e as PassthroughError).message).toContain(`vfio-apple: ${TWO_ROOTS}`);
    await sup.close();
    sup = await createSupervisor({
      backend: 'iokit',
      backendOptions: { libraries: s.libraries, hostRoots: { '04:00.0': 'pcic1-bridge' } },
      callTimeoutMs: 5000,
    });
    const h = await sup.attach('04:00.0');
    expect(h.info.deviceId).toBe(0x11ea);
    await h.detach();
  });
});

describe('async completions: message id 53, other messages ignored', () => {
  /** Posts a message shaped like an async completion, with `id` and notification `type`, to `port`. */
  function post(port: number, id: number, type: number): void {
    const b = loadIokitBindings(s.libraries);
    const msg = new Uint8Array(104);
    const w = new Uint32Array(msg.buffer);
    w[0] = Mach.MSG_TYPE_MAKE_SEND;
    w[1] = 104;
    w[2] = port;
    w[5] = id;
    w[6] = 8; // OSNotificationHeader64.size
    w[7] = type;
    w[24] = IOReturn.Success; // result at 96
    expect(b.mach_msg(msg, Mach.SEND_MSG | Mach.SEND_TIMEOUT, 104, 0, 0, 0, 0)).toBe(Mach.MSG_SUCCESS);
  }

  test('the stand-in completes with id 53; a message with id 57, or id 53 of another type, does not end the wait', () => {
    expect(ASYNC_COMPLETION_MSG_ID).toBe(53);
    const c = createIokitDextDriver({ libraries: s.libraries }).connect(BDF4) as IokitDextClient;
    c.claim();
    c.setupInterrupts();
    const port = c.wakePort;
    post(port, 57, 150); // kOSAsyncCompleteMessageID: not what the kernel sends for an async result
    post(port, 53, 100); // a service-publish notification, not a completion
    post(port, 0x1234, 150);
    // Drained and ignored before arming; then armed, nothing pending: the wait times out.
    expect(c.waitInterruptBlocking(50)).toBe(IOReturn.Timeout);
    // While a wait is armed, foreign messages still do not end it; the real completion does.
    post(port, 57, 150);
    expect(c.waitInterruptBlocking(50)).toBe(IOReturn.Timeout);
    expect(s.ctl.raise(4, 0)).toBe(true);
    expect(c.waitInterruptBlocking(2000)).toBe(IOReturn.Success);
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    c.close();
  });
});

describe('the stand-in behaves like the real dext', () => {
  test('interrupt state is per connection: each sets up its own page, mask and completion', () => {
    const d = createIokitDextDriver({ libraries: s.libraries });
    const a = d.connect(BDF4) as IokitDextClient;
    const b = d.connect(BDF4) as IokitDextClient;
    a.claim();
    b.claim(); // secondary claim
    expect(a.setupInterrupts()).toBe(8);
    expectDextError(() => a.setupInterrupts(), { code: 'PT_ERR_STILL_OPEN', kernReturn: IOReturn.StillOpen });
    expect(b.setupInterrupts()).toBe(8); // not StillOpen: b has no interrupt state yet
    expect(s.ctl.deviceState(4)).toMatchObject({ irqConnections: 2 });
    b.setIrqMask([0n, 0n, 0n, 0n]); // masks b only
    expect(s.ctl.raiseCount(4, 3)).toBe(1);
    expect(a.checkInterrupt()).toEqual([8n, 0n, 0n, 0n]);
    expect(b.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    a.close(); // a's Stop releases a's interrupts only
    expect(s.ctl.deviceState(4)).toMatchObject({ irqConnections: 1 });
    b.setIrqMask([~0n & 0xffff_ffff_ffff_ffffn, 0n, 0n, 0n]);
    expect(s.ctl.raiseCount(4, 1)).toBe(1);
    expect(b.checkInterrupt()).toEqual([2n, 0n, 0n, 0n]);
    b.close();
  });

  test('64 chunks of 1.5 GiB per region pass the chunk check; 65 are NoSpace', () => {
    const c = createIokitDextDriver({ libraries: s.libraries }).connect(BDF4) as IokitDextClient;
    c.claim();
    const chunk = 1536n * 1024n * 1024n;
    expect(c.registerDmaRegion(1n, 0x1_0000_0000n, 64n * chunk).busLen).toBe(chunk);
    expectDextError(() => c.registerDmaRegion(2n, 0x1_0000_0000n, 64n * chunk + 1n), { code: 'PT_ERR_NO_SPACE', kernReturn: IOReturn.NoSpace });
    c.close();
  });
});
