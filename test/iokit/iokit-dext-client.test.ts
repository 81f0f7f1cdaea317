/**
 * The IOKit dext client through koffi against the C stand-in of IOKit: the
 * real prototypes, real pointers and real mach-message completions.
 */
import { describe, expect, test } from 'vitest';
import { IOReturn, MemoryType, Selector, kIOMapAnywhere, kIOMapWriteCombineCache } from '../../src/dext/contract.js';
import { createIokitDextDriver, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { loadKoffiForIokit } from '../../src/iokit/bindings.js';
import { viewAt } from '../../src/iokit/native-view.js';
import { toBdf } from '../../src/types.js';
import { expectDextError, useStandin } from './helpers.js';
import { FailPoint } from './standin/control.js';

const s = useStandin();
const BDF3 = toBdf('03:00.0');
const BDF4 = toBdf('04:00.0');

function connect(bdf = BDF4): IokitDextClient {
  return createIokitDextDriver({ libraries: s.libraries }).connect(bdf) as IokitDextClient;
}
function claimed(bdf = BDF4): IokitDextClient {
  const c = connect(bdf);
  c.claim();
  return c;
}

describe('discovery and connect', () => {
  test('lists only the VFIOUserPCIDriver instances, closing every probe connection', () => {
    const services = createIokitDextDriver({ libraries: s.libraries }).listServices();
    expect(services.map((x) => x.bdf)).toEqual([BDF3, BDF4]);
    expect(services[1]!.identity).toEqual({ bus: 4, device: 0, function: 0, vendorId: 0x1234, deviceId: 0x11e9, classCode: 0x030000 });
    const n = s.ctl.counts();
    expect(n).toMatchObject({ connections: 0, registryRefs: 0, cfObjects: 0, openedTotal: 2, closedTotal: 2 });
  });

  test('connect matches the BDF; the instances probed before it are closed; iterators and services released', () => {
    const c = connect(BDF4);
    expect(c.bdf).toBe(BDF4);
    expect(c.getIdentity().deviceId).toBe(0x11e9);
    // 03:00.0 was opened, did not match and was closed; the other-class service was never opened.
    expect(s.ctl.counts()).toMatchObject({ connections: 1, openedTotal: 2, closedTotal: 1, registryRefs: 0, cfObjects: 0 });
    c.close();
    expect(s.ctl.counts()).toMatchObject({ connections: 0, closedTotal: 2 });
  });

  test('the match stays open; every later instance is still opened, identified and closed (the BDF may repeat under another root)', () => {
    const c = connect(BDF3);
    expect(c.getIdentity().bus).toBe(3);
    expect(c.bdf).toBe('0000:03:00.0');
    expect(s.ctl.counts()).toMatchObject({ connections: 1, openedTotal: 2, closedTotal: 1 });
    c.close();
  });

  test('no match → PT_ERR_CONNECT_FAILED with kernReturn NotFound; nothing leaks', () => {
    const d = createIokitDextDriver({ libraries: s.libraries });
    expectDextError(() => d.connect(toBdf('05:00.0')), { code: 'PT_ERR_CONNECT_FAILED', kernReturn: IOReturn.NotFound });
    // the dext identity has no domain: a non-zero domain never matches
    expectDextError(() => d.connect(toBdf('0001:04:00.0')), { code: 'PT_ERR_CONNECT_FAILED' });
    expect(s.ctl.counts()).toMatchObject({ connections: 0, registryRefs: 0, cfObjects: 0 });
  });

  test('an IOServiceOpen failure is reported in the context and the next instance is still tried', () => {
    s.ctl.setFail(FailPoint.Open, IOReturn.NotPermitted);
    const c = connect(BDF4); // 03 fails to open, 04 matches
    expect(c.getIdentity().bus).toBe(4);
    c.close();
    s.ctl.setFail(FailPoint.Open, IOReturn.NotPermitted);
    let err: { context: Record<string, unknown> } | undefined;
    try {
      connect(BDF3);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.context.openKernReturn).toBe(IOReturn.NotPermitted);
  });

  test('createIokitDextDriver without libraries is macOS-only', () => {
    if (process.platform === 'darwin') return;
    expectDextError(() => createIokitDextDriver(), { code: 'PT_ERR_PLATFORM' });
  });
});

describe('claim and refcount', () => {
  test('first claim opens the function and sets COMMAND memory + bus master; a repeat claim is Success', () => {
    const c = connect();
    expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: false, refs: 0, command: 0 });
    c.claim();
    c.claim();
    expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: true, refs: 1, command: 0x6 });
    expect(c.configRead(0x04, 2)).toBe(0x6);
    c.close();
    expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: false, refs: 0 });
  });

  test('an Open failure on first claim surfaces as a typed Claim error', () => {
    const c = connect();
    s.ctl.setFail(FailPoint.ClaimOpen, IOReturn.NotPermitted);
    expectDextError(() => c.claim(), { code: 'PT_ERR_PERMISSION', kernReturn: IOReturn.NotPermitted, selectorName: 'Claim' });
    c.close();
  });

  test('gated selectors answer NotOpen before any claim', () => {
    const c = connect();
    expectDextError(() => c.setupInterrupts(), { code: 'PT_ERR_NOT_OPEN', kernReturn: IOReturn.NotOpen, selectorName: 'SetupInterrupts' });
    expectDextError(() => c.registerDmaRegion(1n, 0x10000n, 4096n), { code: 'PT_ERR_NOT_OPEN', selectorName: 'RegisterDMARegion' });
    expectDextError(() => c.allocateDmaBuffer(4096n, 0n), { code: 'PT_ERR_NOT_OPEN', selectorName: 'AllocateDMABuffer' });
    expectDextError(() => c.resetDevice(), { code: 'PT_ERR_NOT_OPEN', selectorName: 'ResetDevice' });
    c.close();
  });

  test('a secondary client shares the claim; the opener closing strands it (spec §5)', () => {
    const opener = claimed();
    const second = claimed();
    expect(s.ctl.deviceState(4).refs).toBe(2);
    opener.close();
    expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: false, refs: 1 });
    expectDextError(() => second.resetDevice(), { code: 'PT_ERR_NOT_OPEN' });
    second.close();
  });
});

describe('every selector: success and typed IOReturn errors', () => {
  test('an injected IOReturn on each selector surfaces with code, kernReturn and selectorName', () => {
    const c = claimed();
    c.setupInterrupts();
    const calls: [number, () => unknown][] = [
      [Selector.GetIdentity, () => c.getIdentity()],
      [Selector.Claim, () => c.claim()],
      [Selector.Terminate, () => c.terminate()],
      [Selector.AllocateDMABuffer, () => c.allocateDmaBuffer(4096n, 0n)],
      [Selector.FreeDMABuffer, () => c.freeDmaBuffer()],
      [Selector.RegisterDMARegion, () => c.registerDmaRegion(1n, 0x10000n, 4096n)],
      [Selector.UnregisterDMARegion, () => c.unregisterDmaRegion(1n)],
      [Selector.ProbeDMARegion, () => c.probeDmaRegion(1n, 0n)],
      [Selector.ConfigRead, () => c.configRead(0, 4)],
      [Selector.ConfigWrite, () => c.configWrite(0x40, 4, 1)],
      [Selector.GetBARInfo, () => c.getBarInfo(0)],
      [Selector.MMIORead, () => c.mmioRead(0, 0n, 4)],
      [Selector.MMIOWrite, () => c.mmioWrite(0, 0n, 4, 1n)],
      [Selector.SetupInterrupts, () => c.setupInterrupts()],
      [Selector.CheckInterrupt, () => c.checkInterrupt()],
      [Selector.WaitInterrupt, () => c.waitInterruptBlocking(0)],
      [Selector.SetIRQMask, () => c.setIrqMask([0n, 0n, 0n, 0n])],
      [Selector.ResetDevice, () => c.resetDevice()],
    ];
    expect(calls).toHaveLength(18);
    const names = Object.keys(Selector);
    for (const [sel, call] of calls) {
      s.ctl.setFail(sel, IOReturn.NoDevice);
      expectDextError(call, { code: 'PT_ERR_DEVICE_GONE', kernReturn: IOReturn.NoDevice, selectorName: names[sel]! });
    }
    // an unknown IOReturn becomes PT_ERR_KERN_RETURN
    s.ctl.setFail(Selector.ConfigRead, 0xe0001234);
    expectDextError(() => c.configRead(0, 4), { code: 'PT_ERR_KERN_RETURN', kernReturn: 0xe0001234 });
    c.close();
  });

  test('identity, terminate, DMA buffer alloc/free with the dext limits', () => {
    const c = claimed();
    c.terminate();
    const buf = c.allocateDmaBuffer(20000n, 0n);
    // The real dext's last output is the function's class code (not the alignment).
    expect(buf).toMatchObject({ sizeBytes: 20000n, segmentCount: 1, seg0Len: 20000n, class: 0x030000n });
    expectDextError(() => c.allocateDmaBuffer(0n, 0n), { code: 'PT_ERR_BAD_ARGUMENT', selectorName: 'AllocateDMABuffer' });
    expectDextError(() => c.allocateDmaBuffer(1536n * 1024n * 1024n + 1n, 0n), { code: 'PT_ERR_BAD_ARGUMENT' });
    const m = c.mapMemory(MemoryType.DmaBuffer);
    expect(m.lengthBytes).toBe(32768);
    m.write(0, 8, 0x1122334455667788n);
    expect(m.read(0, 8)).toBe(0x1122334455667788n);
    c.unmapMemory(MemoryType.DmaBuffer, m.address);
    c.freeDmaBuffer();
    expectDextError(() => c.mapMemory(MemoryType.DmaBuffer), { code: 'PT_ERR_NOT_READY', kernReturn: IOReturn.NotReady });
    c.close();
  });
});

describe('config space', () => {
  test('reads by width, raw writes, failed width → BadArgument, past the end → all ones', () => {
    const c = connect();
    expect(c.configRead(0, 4)).toBe(0x11e91234);
    expect(c.configRead(0, 2)).toBe(0x1234);
    expect(c.configRead(1, 1)).toBe(0x12);
    expect(c.configRead(0x0a, 2)).toBe(0x0300);
    c.configWrite(0x40, 4, 0xcafef00d);
    expect(c.configRead(0x40, 4)).toBe(0xcafef00d);
    c.configWrite(0x41, 1, 0x55);
    expect(c.configRead(0x40, 4)).toBe(0xcafe550d);
    expect(c.configRead(0xffe, 2)).toBe(0); // extended space, zero
    expect(c.configRead(0x1000, 4)).toBe(0xffffffff);
    expectDextError(() => c.configRead(0, 3), { code: 'PT_ERR_BAD_ARGUMENT', kernReturn: IOReturn.BadArgument, selectorName: 'ConfigRead' });
    expectDextError(() => c.configWrite(0, 8, 0), { code: 'PT_ERR_BAD_ARGUMENT', selectorName: 'ConfigWrite' });
    c.close();
  });

  test('BAR synthesis at 0x10–0x24: type bits only, 0 for unused BARs and the 64-bit upper half', () => {
    const c = connect();
    expect([0x10, 0x14, 0x18, 0x1c, 0x20, 0x24].map((o) => c.configRead(o, 4))).toEqual([0x0, 0, 0xc, 0, 0, 0]);
    // other widths are raw reads of the register
    expect(c.configRead(0x12, 2)).toBe(0xa000);
    c.close();
  });
});

describe('BARs', () => {
  test('GetBARInfo: memIdx, size, type; unused BAR → NotFound; bar > 5 → BadArgument', () => {
    const c = connect();
    expect(c.getBarInfo(0)).toEqual({ memIdx: 0, sizeBytes: 16384n, type: 0 });
    expect(c.getBarInfo(2)).toEqual({ memIdx: 1, sizeBytes: 16384n, type: 0xc });
    expectDextError(() => c.getBarInfo(3), { code: 'PT_ERR_NOT_FOUND', kernReturn: IOReturn.NotFound, selectorName: 'GetBARInfo' });
    expectDextError(() => c.getBarInfo(6), { code: 'PT_ERR_BAD_ARGUMENT' });
    c.close();
  });

  test('map type = 1 + bar; write-combine only for the prefetchable BAR; unmap', () => {
    const c = claimed();
    const bar0 = c.mapMemory(MemoryType.Bar0);
    expect(s.ctl.lastMapOptions(MemoryType.Bar0)).toBe(kIOMapAnywhere);
    expect(bar0.writeCombined).toBe(false);
    const bar2 = c.mapMemory(MemoryType.Bar2);
    expect(s.ctl.lastMapOptions(MemoryType.Bar2)).toBe(kIOMapAnywhere | kIOMapWriteCombineCache);
    expect(bar2.writeCombined).toBe(true);
    expect(bar2).toMatchObject({ type: 3, lengthBytes: 16384, buffer: undefined });
    expect(s.ctl.counts().maps).toBe(2);
    // the upper half of the 64-bit BAR: GetBARInfo's error passes through
    expectDextError(() => c.mapMemory(MemoryType.Bar3), { code: 'PT_ERR_NOT_FOUND', kernReturn: IOReturn.NotFound });
    expectDextError(() => c.mapMemory(9), { code: 'PT_ERR_UNSUPPORTED', kernReturn: IOReturn.Unsupported });
    s.ctl.setFail(FailPoint.Map, IOReturn.NoMemory);
    expectDextError(() => c.mapMemory(MemoryType.Bar0), { code: 'PT_ERR_NO_MEMORY', kernReturn: IOReturn.NoMemory });
    c.unmapMemory(MemoryType.Bar0, bar0.address);
    c.unmapMemory(MemoryType.Bar2, bar2.address);
    expect(s.ctl.counts().maps).toBe(0);
    expectDextError(() => bar0.read(0, 4), { code: 'PT_ERR_BAR_RELEASED' });
    expectDextError(() => c.unmapMemory(MemoryType.Bar0, 0n), { code: 'PT_ERR_BAD_ARGUMENT', kernReturn: IOReturn.BadArgument });
    c.close();
  });

  test('width-exact access: a store touches exactly its bytes; the dext slow path sees the same memory', () => {
    const c = claimed();
    const bar = c.mapMemory(MemoryType.Bar0);
    bar.write(0, 8, 0xffffffffffffffffn);
    bar.write(2, 2, 0x1234n);
    expect(c.mmioRead(0, 0n, 8)).toBe(0xffffffff1234ffffn);
    bar.write(5, 1, 0n);
    expect(c.mmioRead(0, 0n, 8)).toBe(0xffff00ff1234ffffn);
    bar.write(8, 4, 0xaabbccddn);
    expect(c.mmioRead(0, 8n, 4)).toBe(0xaabbccddn);
    expect(s.ctl.mmioLog('read')).toEqual({ count: 3, lastWidth: 4 });
    // loads return exactly the width asked for
    c.mmioWrite(0, 16n, 8, 0x0102030405060708n);
    expect(s.ctl.mmioLog('write')).toEqual({ count: 1, lastWidth: 8 });
    expect(bar.read(16, 1)).toBe(0x08n);
    expect(bar.read(16, 2)).toBe(0x0708n);
    expect(bar.read(16, 4)).toBe(0x05060708n);
    expect(bar.read(20, 4)).toBe(0x01020304n);
    expect(bar.read(16, 8)).toBe(0x0102030405060708n);
    for (const w of [1, 2, 4] as const) {
      c.mmioRead(0, 16n, w);
      expect(s.ctl.mmioLog('read').lastWidth).toBe(w);
    }
    bar.write(16, 4, 0x1_ffff_ffffn); // truncated to the width
    expect(bar.read(16, 8)).toBe(0x01020304ffffffffn);
    c.close();
  });

  test('viewAt rebuilds a zero-copy view from the address alone (what another thread does)', () => {
    const c = claimed();
    const bar = c.mapMemory(MemoryType.Bar2);
    const u32 = new Uint32Array(viewAt(bar.address, bar.lengthBytes));
    expect(u32.length).toBe(4096);
    bar.write(0x100, 4, 0x5a5a1234n);
    expect(Atomics.load(u32, 0x40)).toBe(0x5a5a1234);
    Atomics.store(u32, 0x41, 0xa5a5a5a5);
    expect(c.mmioRead(1, 0x104n, 4)).toBe(0xa5a5a5a5n);
    expectDextError(() => viewAt(0n, 16), { code: 'PT_ERR_INVALID_ARGUMENT' });
    expectDextError(() => viewAt(bar.address, 0), { code: 'PT_ERR_INVALID_ARGUMENT' });
    c.close();
  });

  test('bounds, width and alignment are checked before touching memory', () => {
    const c = claimed();
    const bar = c.mapMemory(MemoryType.Bar0);
    expectDextError(() => bar.read(16384, 1), { code: 'PT_ERR_OUT_OF_RANGE' });
    expectDextError(() => bar.read(16380, 8), { code: 'PT_ERR_OUT_OF_RANGE' });
    expectDextError(() => bar.write(-4, 4, 0n), { code: 'PT_ERR_OUT_OF_RANGE' });
    expectDextError(() => bar.read(2, 4), { code: 'PT_ERR_ALIGNMENT' });
    expectDextError(() => bar.read(0, 3 as 4), { code: 'PT_ERR_BAD_WIDTH' });
    expectDextError(() => c.mmioRead(0, 0n, 3), { code: 'PT_ERR_BAD_ARGUMENT', selectorName: 'MMIORead' });
    expectDextError(() => c.mmioWrite(5, 0n, 4, 0n), { code: 'PT_ERR_BAD_ARGUMENT', selectorName: 'MMIOWrite' });
    c.close();
    expectDextError(() => bar.read(0, 4), { code: 'PT_ERR_BAR_RELEASED' });
  });
});

describe('interrupts', () => {
  test('IRQ page: NotReady before setup, mapped after; pending clears through CheckInterrupt', () => {
    const c = claimed();
    expectDextError(() => c.mapMemory(MemoryType.IrqPage), { code: 'PT_ERR_NOT_READY', kernReturn: IOReturn.NotReady });
    expectDextError(() => c.checkInterrupt(), { code: 'PT_ERR_NOT_READY', selectorName: 'CheckInterrupt' });
    expectDextError(() => c.setIrqMask([0n, 0n, 0n, 0n]), { code: 'PT_ERR_NOT_READY', selectorName: 'SetIRQMask' });
    expectDextError(() => c.waitInterrupt(), { code: 'PT_ERR_NOT_READY', selectorName: 'WaitInterrupt' });
    expect(c.setupInterrupts()).toBe(8); // MSI MMC = 3
    expectDextError(() => c.setupInterrupts(), { code: 'PT_ERR_STILL_OPEN', kernReturn: IOReturn.StillOpen });
    const page = c.mapMemory(MemoryType.IrqPage);
    expect(page.lengthBytes).toBe(16384);
    expect([0, 8, 16, 24].map((o) => page.read(0x20 + o, 8))).toEqual(Array(4).fill(0xffffffffffffffffn));
    expect(s.ctl.raise(4, 5)).toBe(true);
    expect(s.ctl.raise(4, 8)).toBe(false); // beyond the vector count
    expect(page.read(0, 8)).toBe(1n << 5n);
    expect(c.checkInterrupt()).toEqual([1n << 5n, 0n, 0n, 0n]);
    expect(c.checkInterrupt()).toEqual([0n, 0n, 0n, 0n]);
    c.close();
  });

  test('mask: a masked vector is not latched; SetIRQMask writes the enable words', () => {
    const c = claimed();
    c.setupInterrupts();
    const page = c.mapMemory(MemoryType.IrqPage);
    c.setIrqMask([0b101n, 0n, 0n, 0n]);
    expect(page.read(0x20, 8)).toBe(0b101n);
    expect(s.ctl.raise(4, 1)).toBe(false);
    expect(s.ctl.raise(4, 2)).toBe(true);
    expect(c.checkInterrupt()).toEqual([0b100n, 0n, 0n, 0n]);
    c.close();
  });

  test('blocking wait: times out, completes on an interrupt, completes at once when already pending, aborts on wake', () => {
    const c = claimed();
    c.setupInterrupts();
    const t0 = Date.now();
    expect(c.waitInterruptBlocking(30)).toBe(IOReturn.Timeout);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    s.ctl.raise(4, 0); // armed wait from the timed-out call is replaced by the next arm
    expect(c.waitInterruptBlocking(1000)).toBe(IOReturn.Success); // pending → completes at arm
    expect(c.checkInterrupt()).toEqual([1n, 0n, 0n, 0n]);
    // a wake sent before the wait is kept and ends the next wait at once, without arming
    c.wakeInterruptSync();
    expect(c.waitInterruptBlocking(1000)).toBe(IOReturn.Aborted);
    expect(s.ctl.deviceState(4).completionArmed).toBe(false);
    // stale completions are drained before arming: nothing pending → the next wait times out
    s.ctl.raise(4, 1);
    expect(c.checkInterrupt()).toEqual([2n, 0n, 0n, 0n]); // nothing armed: the raise latched without completing
    expect(c.waitInterruptBlocking(10)).toBe(IOReturn.Timeout);
    expectDextError(() => c.waitInterruptBlocking(Number.POSITIVE_INFINITY), { code: 'PT_ERR_INVALID_ARGUMENT' });
    c.close();
  });

  test('promise wait: completes on an interrupt, cancel settles Aborted, a drain/re-arm loop sees every vector', async () => {
    const c = claimed();
    c.setupInterrupts();
    const w = c.waitInterrupt();
    setTimeout(() => s.ctl.raise(4, 3), 5);
    expect(await w.completion).toBe(IOReturn.Success);
    expect(c.checkInterrupt()).toEqual([8n, 0n, 0n, 0n]);
    const w2 = c.waitInterrupt();
    w2.cancel();
    w2.cancel();
    expect(await w2.completion).toBe(IOReturn.Aborted);
    // a new wait replaces the old one
    const a = c.waitInterrupt();
    const b = c.waitInterrupt();
    expect(await a.completion).toBe(IOReturn.Aborted);
    s.ctl.raise(4, 7);
    expect(await b.completion).toBe(IOReturn.Success);
    let seen = 0n;
    for (let i = 0; i < 3; i++) {
      const wait = c.waitInterrupt();
      s.ctl.raise(4, i);
      expect(await wait.completion).toBe(IOReturn.Success);
      seen |= c.checkInterrupt()[0];
    }
    expect(seen & 0b111n).toBe(0b111n);
    // close settles a pending wait and destroys the port
    const ports = s.ctl.counts().notificationPorts;
    const last = c.waitInterrupt();
    c.close();
    expect(await last.completion).toBe(IOReturn.Aborted);
    expect(s.ctl.counts().notificationPorts).toBe(ports - 1);
  });
});

describe('DMA registry', () => {
  test('register reports [1, bus, len]; the dext reads the client memory; unregister; the dext errors', () => {
    const c = claimed();
    const { u64, va } = pageAligned(65536);
    u64[3] = 0xfeedfacecafebeefn;
    const r = c.registerDmaRegion(0x1000n, va, 65536n);
    expect(r.count).toBe(1);
    expect(r.busLen).toBe(65536n);
    expect(r.busAddr).toBeGreaterThan(0n);
    expect(c.probeDmaRegion(0x1000n, 24n)).toBe(0xfeedfacecafebeefn);
    expectDextError(() => c.probeDmaRegion(0x1000n, 65530n), { code: 'PT_ERR_OVERRUN', kernReturn: IOReturn.Overrun });
    expectDextError(() => c.probeDmaRegion(0x2000n, 0n), { code: 'PT_ERR_NOT_FOUND', selectorName: 'ProbeDMARegion' });
    expectDextError(() => c.registerDmaRegion(0x1000n, va, 4096n), { code: 'PT_ERR_STILL_OPEN', kernReturn: IOReturn.StillOpen });
    expectDextError(() => c.registerDmaRegion(0x3000n, 0n, 4096n), { code: 'PT_ERR_BAD_ARGUMENT' });
    expectDextError(() => c.registerDmaRegion(0x3000n, va, 0n), { code: 'PT_ERR_BAD_ARGUMENT' });
    expectDextError(() => c.registerDmaRegion(0x3000n, va + 8n, 4096n), { code: 'PT_ERR_NOT_ALIGNED', kernReturn: IOReturn.NotAligned });
    c.unregisterDmaRegion(0x1000n);
    expectDextError(() => c.unregisterDmaRegion(0x1000n), { code: 'PT_ERR_NOT_FOUND', kernReturn: IOReturn.NotFound, selectorName: 'UnregisterDMARegion' });
    c.close();
  });

  test('limits: no free slot → NoSpace; too many chunks → NoSpace; busLen is chunk 0', () => {
    const c = claimed();
    const { va } = pageAligned(16384);
    s.ctl.setDmaLimits(2, 4096n, 2);
    expect(c.registerDmaRegion(1n, va, 8192n).busLen).toBe(4096n);
    expectDextError(() => c.registerDmaRegion(2n, va, 8193n), { code: 'PT_ERR_NO_SPACE', kernReturn: IOReturn.NoSpace });
    c.registerDmaRegion(2n, va, 4096n);
    expectDextError(() => c.registerDmaRegion(3n, va, 4096n), { code: 'PT_ERR_NO_SPACE' });
    c.unregisterDmaRegion(1n);
    c.registerDmaRegion(3n, va, 4096n);
    c.close();
  });
});

describe('reset and disconnect', () => {
  test('ResetDevice restores config space and keeps the claim', () => {
    const c = claimed();
    c.configWrite(0x40, 4, 0x12345678);
    c.resetDevice();
    expect(c.configRead(0x40, 4)).toBe(0);
    expect(s.ctl.deviceState(4)).toMatchObject({ resets: 1, providerClaimed: true });
    s.ctl.setFail(Selector.ResetDevice, IOReturn.Error);
    expectDextError(() => c.resetDevice(), { code: 'PT_ERR_KERN_RETURN', kernReturn: IOReturn.Error, selectorName: 'ResetDevice' });
    c.close();
  });

  test('close runs the user client Stop, releases everything, is idempotent; later calls → PT_ERR_CLOSED', () => {
    const c = claimed();
    c.setupInterrupts();
    c.mapMemory(MemoryType.Bar0);
    c.mapMemory(MemoryType.IrqPage);
    const ports = s.ctl.counts().notificationPorts;
    void c.wakePort;
    expect(s.ctl.counts().notificationPorts).toBe(ports + 1);
    c.close();
    c.close();
    expect(c.connected).toBe(false);
    expect(s.ctl.deviceState(4)).toMatchObject({ providerClaimed: false, irqSetup: false, refs: 0 });
    expect(s.ctl.counts()).toMatchObject({ connections: 0, notificationPorts: ports, maps: 0, registryRefs: 0, cfObjects: 0 });
    expectDextError(() => c.getIdentity(), { code: 'PT_ERR_CLOSED', selectorName: 'GetIdentity' });
    expectDextError(() => c.mapMemory(1), { code: 'PT_ERR_CLOSED' });
    expectDextError(() => c.waitInterruptBlocking(0), { code: 'PT_ERR_CLOSED' });
  });
});

describe('marshalling', () => {
  test('IOConnectCallScalarMethod is bound with the same prototype the stand-in checks', async () => {
    const { loadIokitBindings } = await import('../../src/iokit/bindings.js');
    const b = loadIokitBindings(s.libraries);
    const c = connect();
    const out = new BigUint64Array(6);
    const cnt = Uint32Array.of(6);
    expect(b.IOConnectCallScalarMethod(c.connection, 0, null, 0, out, cnt)).toBe(0);
    expect(cnt[0]).toBe(6);
    expect(out[0]).toBe(4n);
    // an output count below the selector's arity is refused (and counted as a violation)
    cnt[0] = 2;
    expect(b.IOConnectCallScalarMethod(c.connection, 0, null, 0, out, cnt)).toBe(IOReturn.BadArgument);
    expect(s.ctl.violations()).toBe(1);
    expect(s.ctl.lastViolation()).toContain('outputCnt');
    s.ctl.reset(); // clears the expected violation (and closes the connection)
  });
});

/** A 4096-aligned window of `sizeBytes` inside a SharedArrayBuffer (its store never moves), with its host address. */
function pageAligned(sizeBytes: number): { u64: BigUint64Array; va: bigint } {
  const sab = new SharedArrayBuffer(sizeBytes + 4096);
  const base = addressOf(new Uint8Array(sab));
  const skip = Number((4096n - (base % 4096n)) % 4096n);
  const u64 = new BigUint64Array(sab, skip, sizeBytes / 8);
  return { u64, va: base + BigInt(skip) };
}
function addressOf(view: ArrayBufferView): bigint {
  return koffiAddress(view);
}
// koffi.address through the one module that may import koffi (bindings.ts requires it lazily).
const koffiAddress = (v: unknown): bigint => loadKoffiForIokit().address(v);
