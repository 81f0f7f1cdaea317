/**
 * The v86 adapter against the real v86 (0.5.462), without booting a guest:
 * config cycles through ports 0xCF8/0xCFC, MMIO through v86's handler
 * tables and port I/O through its port table (the entry points v86's CPU
 * calls for guest accesses), INTx through its PIIX3 routing, snapshots
 * through save_state/restore_state. The functions are the in-process edu
 * fixture (test/guest/fixture/edu-fixture.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GuestFunctionSink } from '../../src/guest/contract.js';
import { PassthroughError } from '../../src/errors.js';
import { attachToV86, checkV86Internals, V86_VERSION, type V86AdapterOptions, type V86Attachment, type V86FunctionSpec } from '../../src/adapters/v86.js';
import { installedV86Version } from '../../src/adapters/v86-machine.js';
import { EduFixture } from './fixture/edu-fixture.js';
import { bareV86, type BareV86 } from './harness/bare-v86.js';
import { thrown } from '../shared/thrown.js';

const SLOT10 = 0x10 << 3;
let open: { pc: BareV86; att?: V86Attachment }[] = [];

afterEach(async () => {
  for (const o of open) {
    o.att?.detach();
    await o.pc.close();
  }
  open = [];
});

function fixtureSpec(into: EduFixture[], extra: Partial<V86FunctionSpec> = {}, make = (s: GuestFunctionSink) => new EduFixture(s)): V86FunctionSpec {
  return {
    open: (sink) => {
      const f = make(sink);
      into.push(f);
      return f;
    },
    ...extra,
  };
}

async function attached(specs: V86FunctionSpec[], options: V86AdapterOptions = {}): Promise<{ pc: BareV86; att: V86Attachment }> {
  const pc = await bareV86();
  const entry: { pc: BareV86; att?: V86Attachment } = { pc };
  open.push(entry);
  entry.att = attachToV86(pc.emulator, specs, { pollIntervalMs: 0, ...options });
  return { pc, att: entry.att };
}

/** Programs PIIX3 PIRQA–D to IRQ 10, 11, 10, 11 as SeaBIOS does, so INTx has a route. */
function routePirqs(pc: BareV86): void {
  pc.cfgWrite(1 << 3, 0x60, 4, 0x0b0a0b0a);
}

describe('v86 adapter on the real v86', () => {
  it(`runs against the pinned v86 ${V86_VERSION}, whose internals it finds`, async () => {
    expect(installedV86Version()).toMatch(new RegExp(`^${V86_VERSION.replace(/\./g, '\\.')}(\\+|$)`));
    const pc = await bareV86();
    open.push({ pc });
    const v = checkV86Internals(pc.emulator);
    expect(typeof v.pci.register_device).toBe('function');
  });

  it('puts functions at free slots on bus 0: the host slot when it is on bus 0 and free; a host slot group keeps its function numbers', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([
      fixtureSpec(f, { hostBdf: '0000:00:10.0' }),
      fixtureSpec(f, { hostBdf: '0000:03:00.0' }),
      fixtureSpec(f, { hostBdf: '0000:03:00.1' }),
      fixtureSpec(f, { hostBdf: '0000:00:05.0' }), // taken by v86's own ne2k: the next free preferred slot
    ]);
    expect(att.functions.map((x) => x.guestBdf)).toEqual(['0000:00:10.0', '0000:00:11.0', '0000:00:11.1', '0000:00:13.0']);
    expect(pc.cfgRead(5 << 3, 0x00)).toBe(0x802910ec); // v86's ne2k is still there
    for (const x of att.functions) expect(pc.cfgRead(x.devfn, 0x00)).toBe(0x11e81234);
    expect(pc.cfgRead(SLOT10, 0x08)).toBe(0x00ff0010);
    expect((pc.cfgRead(SLOT10, 0x3c) >>> 8) & 0xff).toBe(1); // INTA
    expect(pc.cfgRead((0x18 << 3), 0x00)).toBe(0xffffffff); // nothing else appeared
  });

  it('places memory BARs in free blocks below the VGA ROM, answers sizing probes and refuses moves (v86 keeps memory BARs fixed)', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)]);
    const devfn = att.functions[0]!.devfn;
    const bar0 = pc.cfgRead(devfn, 0x10);
    expect(bar0 & 0xfffff).toBe(0); // 1 MiB aligned
    expect(bar0).toBeGreaterThanOrEqual(0xe8000000);
    expect(bar0).toBeLessThan(0xfeb00000);
    expect(att.functions[0]!.placed.get(0)).toBe(bar0);
    expect(att.functions[0]!.placed.get(2)).toBe((pc.cfgRead(devfn, 0x18) & ~0xf) >>> 0);
    pc.cfgWrite(devfn, 0x10, 4, 0xffffffff);
    expect(pc.cfgRead(devfn, 0x10)).toBe(0xfff00000);
    pc.cfgWrite(devfn, 0x10, 4, 0x12300000);
    expect(pc.cfgRead(devfn, 0x10)).toBe(bar0);
    expect(att.counters().barMovesRefused).toBe(1);
    pc.cfgWrite(devfn, 0x1c, 4, 0xffffffff); // BAR2's upper half: probe, then a move refused
    expect(pc.cfgRead(devfn, 0x1c)).toBe(0xffffffff);
    pc.cfgWrite(devfn, 0x1c, 4, 0x1);
    expect(pc.cfgRead(devfn, 0x1c)).toBe(0);
  });

  it('serves MMIO through v86 handler tables while memory decoding is on, and nothing once COMMAND turns it off', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)]);
    const devfn = att.functions[0]!.devfn;
    const bar0 = pc.cfgRead(devfn, 0x10);
    expect(pc.cpu.mmap_read32(bar0) >>> 0).toBe(0xffffffff); // not decoding yet: v86's unmapped space
    pc.cfgWrite(devfn, 0x04, 2, 0x0002);
    expect(pc.cpu.mmap_read32(bar0) >>> 0).toBe(0x010000ed);
    pc.cpu.mmap_write32(bar0 + 4, 0x12345678);
    expect(pc.cpu.mmap_read32(bar0 + 4) >>> 0).toBe(0xedcba987);
    pc.cpu.mmap_write32(bar0 + 8, 5);
    expect(pc.cpu.mmap_read32(bar0 + 8)).toBe(120);
    expect(pc.cpu.mmap_read8(bar0)).toBe(0xed);
    expect(pc.cpu.mmap_read8(bar0 + 3)).toBe(0x01);
    const before = f[0]!.counters.mmioReads;
    pc.cfgWrite(devfn, 0x04, 2, 0x0000);
    expect(pc.cpu.mmap_read32(bar0) >>> 0).toBe(0xffffffff);
    expect(f[0]!.counters.mmioReads).toBe(before);
    expect(att.counters().mmioReads).toBeGreaterThanOrEqual(5);
  });

  it('serves a RAM-like BAR straight from its window (8/32-bit, unaligned), without calling the function', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)]);
    const devfn = att.functions[0]!.devfn;
    const bar2 = att.functions[0]!.placed.get(2)!;
    pc.cfgWrite(devfn, 0x04, 2, 0x0002);
    pc.cpu.mmap_write32(bar2 + 0x100, 0x44332211);
    expect([...f[0]!.ram.subarray(0x100, 0x104)]).toEqual([0x11, 0x22, 0x33, 0x44]);
    pc.cpu.mmap_write8(bar2 + 0xffff, 0xab);
    expect(f[0]!.ram[0xffff]).toBe(0xab);
    expect(pc.cpu.mmap_read32(bar2 + 0x101) >>> 0).toBe(0x00443322);
    expect(f[0]!.counters.mmioReads + f[0]!.counters.mmioWrites).toBe(0);
  });

  it('I/O BARs follow the guest: ports are served where the BAR is, and given back when it moves', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)]);
    const devfn = att.functions[0]!.devfn;
    pc.cfgWrite(devfn, 0x20, 4, 0xffffffff);
    expect(pc.cfgRead(devfn, 0x20)).toBe(0xffffffe1);
    pc.cfgWrite(devfn, 0x20, 4, 0xc100);
    pc.cfgWrite(devfn, 0x04, 2, 0x0001);
    expect(pc.cpu.io.port_read8(0xc100)).toBe(0x5a);
    pc.cpu.io.port_write32(0xc104, 0x0badcafe);
    expect(pc.cpu.io.port_read32(0xc104) >>> 0).toBe(0x0badcafe);
    expect(pc.cpu.io.port_read16(0xc106)).toBe(0x0bad);
    pc.cfgWrite(devfn, 0x20, 4, 0xc200);
    expect(pc.cpu.io.port_read8(0xc100)).toBe(0xff);
    expect(pc.cpu.io.port_read32(0xc204) >>> 0).toBe(0x0badcafe);
    expect(att.counters().remaps).toBeGreaterThanOrEqual(2);
  });

  it("with memoryBars 'guest', a memory BAR the guest moves is re-registered at its new address", async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)], { memoryBars: 'guest' });
    const devfn = att.functions[0]!.devfn;
    pc.cfgWrite(devfn, 0x10, 4, 0xfd000000);
    pc.cfgWrite(devfn, 0x04, 2, 0x0002);
    expect(pc.cpu.mmap_read32(0xfd000000) >>> 0).toBe(0x010000ed);
    pc.cfgWrite(devfn, 0x10, 4, 0xfc000000);
    expect(pc.cpu.mmap_read32(0xfc000000) >>> 0).toBe(0x010000ed);
    expect(pc.cpu.mmap_read32(0xfd000000) >>> 0).toBe(0xffffffff);
  });

  it('INTx: a raise reaches v86 on the next poll through the PIIX3 route (slot 0x10 pin A → PIRQD → IRQ 11); INTx disable and the ack lower it', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f, { hostBdf: '0000:00:10.0' })]);
    const bar0 = pc.cfgRead(SLOT10, 0x10);
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0002);
    pc.cpu.mmap_write32(bar0 + 0x60, 1); // before the BIOS programmed PIRQ routing: nowhere to go
    att.poll();
    expect(pc.irqLog).toEqual([]);
    expect(att.counters().intxUnrouted).toBe(1);
    pc.cpu.mmap_write32(bar0 + 0x64, 1);
    routePirqs(pc);
    pc.cpu.mmap_write32(bar0 + 0x60, 1);
    expect(pc.irqLog).toEqual([]); // latched until the emulator loop polls
    expect(att.poll()).toBe(1);
    expect(pc.irqLog).toEqual(['+11']);
    expect((pc.cfgRead(SLOT10, 0x04) >>> 16) & 0x08).toBe(0x08); // STATUS interrupt bit is live
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0402); // the guest's handler masks INTx (pci_check_and_mask_intx)
    expect(pc.irqLog).toEqual(['+11', '-11']);
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0002); // unmasked while the device still asserts
    expect(pc.irqLog).toEqual(['+11', '-11', '+11']);
    pc.cpu.mmap_write32(bar0 + 0x64, 1); // ack
    expect(pc.irqLog).toEqual(['+11', '-11', '+11', '-11']);
    expect(att.counters()).toMatchObject({ intxAsserts: 2, intxDeasserts: 2, delivered: 2 }); // the unrouted raise was delivered too
  });

  it("a function with waitAsync (the guest layer's wake-up) is polled when it says interrupts wait, with no emulator tick and no idle timer", async () => {
    class Wakeable extends EduFixture {
      #wake: (() => void) | undefined;
      waits = 0;
      override mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void {
        super.mmioWrite(gpa, size, value);
        this.#wake?.();
      }
      waitAsync(timeoutMs: number): Promise<boolean> {
        this.waits++;
        return new Promise((resolve) => {
          const t = setTimeout(() => resolve(false), timeoutMs);
          this.#wake = () => {
            clearTimeout(t);
            this.#wake = undefined;
            resolve(true);
          };
        });
      }
    }
    const f: EduFixture[] = [];
    const intervals = vi.spyOn(globalThis, 'setInterval');
    const { pc, att } = await attached([fixtureSpec(f, { hostBdf: '0000:00:10.0' }, (s) => new Wakeable(s))], { pollIntervalMs: 1 });
    expect(intervals).not.toHaveBeenCalled();
    intervals.mockRestore();
    routePirqs(pc);
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0002);
    pc.cpu.mmap_write32(pc.cfgRead(SLOT10, 0x10) + 0x60, 1);
    for (let i = 0; i < 100 && pc.irqLog.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pc.irqLog).toEqual(['+11']);
    expect(att.counters().delivered).toBe(1);
    expect((f[0] as Wakeable).waits).toBeGreaterThanOrEqual(2); // woke, polled, and waits again
  });

  it('a line shared by two functions goes low only when neither asserts', async () => {
    const f: EduFixture[] = [];
    // Slots 0x10 and 0x14 with pin A both swizzle to PIRQD.
    const { pc, att } = await attached([fixtureSpec(f, { slot: 0x10 }), fixtureSpec(f, { slot: 0x14 })]);
    routePirqs(pc);
    const bars = att.functions.map((x) => {
      pc.cfgWrite(x.devfn, 0x04, 2, 0x0002);
      return pc.cfgRead(x.devfn, 0x10);
    });
    pc.cpu.mmap_write32(bars[0]! + 0x60, 1);
    pc.cpu.mmap_write32(bars[1]! + 0x60, 1);
    att.poll();
    expect(pc.irqLog).toEqual(['+11', '+11']);
    pc.cpu.mmap_write32(bars[0]! + 0x64, 1);
    expect(pc.irqLog).toEqual(['+11', '+11']);
    pc.cpu.mmap_write32(bars[1]! + 0x64, 1);
    expect(pc.irqLog).toEqual(['+11', '+11', '-11']);
  });

  it('an access the function fails completes as a master abort (all ones) and is reported, never thrown into v86', async () => {
    const f: EduFixture[] = [];
    const errors: PassthroughError[] = [];
    class Dying extends EduFixture {
      override mmioRead(): number {
        throw new PassthroughError('PT_ERR_WORKER_EXITED', 'device worker exited', { deviceId: 'd0' });
      }
    }
    const { pc, att } = await attached([fixtureSpec(f, {}, (s) => new Dying(s))], { onError: (e) => errors.push(e) });
    const bar0 = pc.cfgRead(att.functions[0]!.devfn, 0x10);
    pc.cfgWrite(att.functions[0]!.devfn, 0x04, 2, 0x0002);
    expect(pc.cpu.mmap_read32(bar0) >>> 0).toBe(0xffffffff);
    expect(pc.cpu.mmap_read8(bar0)).toBe(0xff);
    expect(errors.map((e) => e.code)).toEqual(['PT_ERR_WORKER_EXITED', 'PT_ERR_WORKER_EXITED']);
    expect(errors[0]!.context).toMatchObject({ emulator: 'v86', gpa: bar0, width: 4 });
    expect(att.counters().errors).toBe(2);
  });

  it('an MSI the function emits is counted as dropped (v86 has no MSI)', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f)]);
    const devfn = att.functions[0]!.devfn;
    pc.cfgWrite(devfn, 0x42, 2, 0x0081); // MSI enable
    pc.cfgWrite(devfn, 0x04, 2, 0x0002);
    pc.cpu.mmap_write32(pc.cfgRead(devfn, 0x10) + 0x60, 1);
    att.poll();
    expect(att.counters().msiDropped).toBe(1);
    expect(f[0]!.counters.msiDelivered).toBe(1);
  });

  it('snapshots: after restore_state into a fresh emulator, the fresh function gets the saved BARs, line and COMMAND replayed', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f, { hostBdf: '0000:00:10.0' })]);
    const bar0 = pc.cfgRead(SLOT10, 0x10);
    pc.cfgWrite(SLOT10, 0x20, 4, 0xc300);
    pc.cfgWrite(SLOT10, 0x3c, 1, 11);
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0403);
    // v86 cannot restore a state in which IDE's legacy BAR0/1 still hold their reset value (it looks up
    // BAR entries it does not have); SeaBIOS's sizing clears them in a real boot, so do what it does.
    pc.cfgWrite(0x1e << 3, 0x10, 4, 0xffffffff);
    pc.cfgWrite(0x1e << 3, 0x14, 4, 0xffffffff);
    const state = await pc.emulator.save_state();

    const fresh: EduFixture[] = [];
    const pc2 = await bareV86();
    const entry: { pc: BareV86; att?: V86Attachment } = { pc: pc2 };
    open.push(entry);
    entry.att = attachToV86(pc2.emulator, [fixtureSpec(fresh, { hostBdf: '0000:00:10.0' })], { pollIntervalMs: 0 });
    expect(fresh[0]!.bars.find((b) => b.index === 4)!.address).toBeUndefined();
    await pc2.emulator.restore_state(state);
    expect(entry.att.counters().replays).toBe(1);
    expect(fresh[0]!.configRead(0x04, 2)).toBe(0x0403);
    expect(fresh[0]!.configRead(0x3c, 1)).toBe(11);
    expect(fresh[0]!.bars.find((b) => b.index === 4)).toMatchObject({ address: 0xc300, decoding: true });
    expect(pc2.cpu.mmap_read32(bar0) >>> 0).toBe(0x010000ed);
    expect(pc2.cpu.io.port_read8(0xc300)).toBe(0x5a);
  });

  it('detach gives v86 back what it had: the bus slot, its methods, MMIO blocks and ports; the functions are closed', async () => {
    const f: EduFixture[] = [];
    const { pc, att } = await attached([fixtureSpec(f, { hostBdf: '0000:00:10.0' })]);
    const pci = pc.cpu.devices.pci;
    const bar0 = pc.cfgRead(SLOT10, 0x10);
    pc.cfgWrite(SLOT10, 0x20, 4, 0xc100);
    pc.cfgWrite(SLOT10, 0x04, 2, 0x0003);
    const unmapped = pc.cpu.memory_map_read8[0xe0000000 / 0x20000 + 1];
    expect(pc.cpu.memory_map_read8[bar0 / 0x20000]).not.toBe(unmapped);
    att.detach();
    att.detach();
    expect(pc.cfgRead(SLOT10, 0x00)).toBe(0xffffffff);
    for (const m of ['pci_query', 'pci_write8', 'pci_write16', 'pci_write32', 'set_state']) expect(Object.prototype.hasOwnProperty.call(pci, m), m).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(pc.emulator.v86, 'do_tick')).toBe(false);
    expect(pc.cpu.mmap_read32(bar0) >>> 0).toBe(0xffffffff);
    expect(pc.cpu.io.port_read8(0xc100)).toBe(0xff);
    expect(() => f[0]!.poll()).not.toThrow();
    // A second attach is possible again.
    const again = attachToV86(pc.emulator, [fixtureSpec(f)], { pollIntervalMs: 0 });
    open.push({ pc: { ...pc, close: async () => undefined }, att: again });
  });

  it('refuses a second attachment to one emulator (PT_ERR_INVALID_STATE)', async () => {
    const f: EduFixture[] = [];
    const { pc } = await attached([fixtureSpec(f)]);
    expect(thrown(() => attachToV86(pc.emulator, [fixtureSpec(f)]))).toMatchObject({ code: 'PT_ERR_INVALID_STATE' });
  });
});

describe('v86 internals check', () => {
  it('names every internal that moved, with the version the adapter was written for (PT_ERR_NOT_SUPPORTED)', async () => {
    const pc = await bareV86();
    open.push({ pc });
    const pci = pc.cpu.devices.pci;
    // An "update" that renamed two internals: shadow them on the instance.
    const shadow = <T extends object>(o: T, key: string): T => Object.assign(Object.create(o) as T, { [key]: undefined });
    const fakeCore = Object.assign(Object.create(pc.emulator.v86) as object, {
      cpu: Object.assign(Object.create(pc.cpu) as object, { io: shadow(pc.cpu.io, 'mmap_register'), devices: { pci: shadow(pci, 'pci_query') } }),
    });
    const e = thrown(() => checkV86Internals({ v86: fakeCore }));
    expect(e).toMatchObject({ code: 'PT_ERR_NOT_SUPPORTED' });
    expect((e as PassthroughError).context.missing).toEqual(['emulator.v86.cpu.io.mmap_register (function)', 'emulator.v86.cpu.devices.pci.pci_query (function)']);
    expect((e as PassthroughError).message).toContain(`v86 ${V86_VERSION}`);
  });

  it('asks to attach after emulator-loaded (PT_ERR_INVALID_STATE) and rejects what is not an emulator (PT_ERR_INVALID_ARGUMENT)', () => {
    expect(thrown(() => checkV86Internals({ bus: {} }))).toMatchObject({ code: 'PT_ERR_INVALID_STATE' });
    expect(thrown(() => checkV86Internals(undefined))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
    expect(thrown(() => attachToV86(42, []))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
  });
});
