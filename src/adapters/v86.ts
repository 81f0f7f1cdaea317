/**
 * The v86 adapter: plugs guest-facing PCI functions ({@link GuestPciFunction})
 * into a v86 emulator (https://github.com/copy/v86, pinned to
 * {@link V86_VERSION}) so its guest enumerates and drives them.
 *
 * This is the only file that knows v86's internals. None of them is in
 * v86.d.ts; {@link checkV86Internals} names every one this file touches and
 * fails with PT_ERR_NOT_SUPPORTED, listing what moved, when an update moves
 * one. What each is for:
 * - `v86.cpu.devices.pci`: `register_device` puts a function on bus 0 (the
 *   Int32Array it returns is the config image v86 saves in snapshots, kept
 *   here as a mirror); `pci_query` (runs when the guest writes 0xCF8) and
 *   `pci_write8/16/32` are wrapped on the instance so config cycles of our
 *   functions go to the function; `set_state` is wrapped to replay the
 *   restored config into the function; `raise_irq/lower_irq` drive INTx
 *   through the PIIX3 PIRQ routing (`isa_bridge_space8[0x60..0x63]`).
 * - `v86.cpu.io`: `mmap_register` and the `memory_map_*` handler tables
 *   (128 KiB blocks) for memory BARs; `register_read/register_write` and
 *   `ports` for I/O BARs.
 * - `v86.do_tick`: wrapped to call each function's `poll()` once per
 *   emulator tick; between ticks a function's `waitAsync` (when it has one)
 *   or an idle timer triggers a poll, and raising an IRQ wakes a halted
 *   v86 CPU.
 *
 * v86 limits (see README, "Emulator integration: v86"): no MSI or MSI-X (a
 * message the function emits is counted in `msiDropped`); memory BARs are
 * fixed by default (the adapter places them in free guest-physical blocks
 * and keeps them there, as v86 does for its own devices, because SeaBIOS's
 * idea of the PCI window does not match v86's fixed devices); I/O BARs
 * move; MMIO arrives as 8- or 32-bit calls (16-bit accesses as two 8-bit
 * ones); bus 0 only, 256-byte config space; the interrupt controllers live
 * in v86's wasm and expose no EOI, so an INTx cycle ends through the
 * function's own rule (host line unmasked on the guest's next BAR access).
 */
import type { GuestPciFunction, GuestFunctionSink } from '../guest/contract.js';
import { PassthroughError, toPassthroughError } from '../errors.js';
import { assignSlots, placeMemoryBars, type AddressWindow } from './placement.js';
import { createMmioTable, createPortTable, type BlockHandlers, type MmioHost, type PortHost } from './dispatch.js';
import { FunctionSlot, newAdapterCounters, programBar, type AdapterCounters, type SlotDeps } from './function-slot.js';

export type { AddressWindow } from './placement.js';
export type { BlockHandlers, MemRead, MemWrite, DispatchCounters } from './dispatch.js';
export type { AdapterCounters } from './function-slot.js';

export {
  V86_VERSION,
  V86_MMIO_BLOCK_BYTES,
  V86_DEFAULT_BAR_WINDOW,
  checkV86Internals,
  type V86PortHandler,
  type V86Handler,
  type V86Port,
  type V86PciDevice,
  type V86Pci,
  type V86Io,
  type V86Cpu,
  type V86Core,
  type V86Internals,
} from './v86-internals.js';
import { V86_MMIO_BLOCK_BYTES, V86_DEFAULT_BAR_WINDOW, checkV86Internals, type V86PortHandler as Fn, type V86Cpu, type V86Io, type V86Pci, type V86Core } from './v86-internals.js';

/** One function to pass through. */
export interface V86FunctionSpec {
  /** Opens the function with the adapter's sink (INTx, MSI, BAR changes). The adapter closes it on detach. */
  open(sink: GuestFunctionSink): GuestPciFunction;
  /** Name v86 shows for the device (default `pcipt <hostBdf>` or `pcipt #i`). */
  name?: string;
  /** Host function; functions of one host slot share a guest slot (see assignSlots). */
  hostBdf?: string;
  /** Guest slot 0–31 on bus 0 (default: chosen by the adapter). */
  slot?: number;
  /** Guest function number with `slot`. */
  function?: number;
}

/** Options of {@link attachToV86}. */
export interface V86AdapterOptions {
  /** `fixed` (default): memory BARs stay where the adapter placed them, as v86's own do; `guest`: the guest may move them. */
  memoryBars?: 'fixed' | 'guest';
  /** Guest-physical window for memory BARs (default {@link V86_DEFAULT_BAR_WINDOW}). */
  window?: AddressWindow;
  /**
   * Period of the idle poll timer in ms (default 1; 0: poll only on emulator ticks). Functions with
   * `waitAsync` (the guest layer's) wake the adapter instead, without a timer.
   */
  pollIntervalMs?: number;
  /** Called with each error a guest access met (the access itself completes as a master abort: all ones). */
  onError?(error: PassthroughError): void;
}

/** Counters of one attachment (all accesses, all functions). */
export type V86AdapterCounters = AdapterCounters;

/** One attached function. */
export interface V86AttachedFunction {
  readonly name: string;
  /** The host function, when the spec named one. */
  readonly hostBdf: string | undefined;
  /** Guest address, `0000:00:SS.F`. */
  readonly guestBdf: string;
  readonly devfn: number;
  readonly fn: GuestPciFunction;
  /** Addresses the adapter placed memory BARs at (by BAR index; 6 = ROM). */
  readonly placed: ReadonlyMap<number, number>;
}

/** What {@link attachToV86} returns. */
export interface V86Attachment {
  readonly functions: readonly V86AttachedFunction[];
  /** A snapshot of the attachment's counters (accesses, interrupts, refusals). */
  counters(): V86AdapterCounters;
  /** Polls every function now (the adapter also does it each tick). Returns messages delivered. */
  poll(): number;
  /** Unregisters everything from v86, restores its methods and handlers, closes the functions. Idempotent. */
  detach(): void;
}

/** A range of v86 MMIO blocks {@link mapRawMmio} took over. */
export interface RawMmioRange {
  /** Guest physical address of the first byte. */
  readonly address: number;
  /** Gives the blocks back to what served them before. Idempotent. */
  unmap(): void;
}

const attachedCores = new WeakSet<object>();
/** A function that can wake its emulator (the guest layer's optional `waitAsync`, issue 13). */
type WakeableFunction = GuestPciFunction & { waitAsync?(timeoutMs: number): Promise<boolean> };
/** Upper bound of one wait of a wake loop: a detached adapter's loop ends within it. */
const WAKE_WAIT_MS = 250;

/**
 * Registers `specs` on v86's PCI bus 0 and serves their config cycles, MMIO,
 * port I/O and INTx. Call it from the `emulator-loaded` listener, before
 * `run()` or `restore_state()` (register first, restore second: v86 restores
 * a device's config only when the device exists).
 * Throws what {@link checkV86Internals} throws, PT_ERR_INVALID_STATE (already
 * attached), PT_ERR_INVALID_ARGUMENT / PT_ERR_NO_SPACE (slots, BAR space).
 */
export function attachToV86(emulator: unknown, specs: readonly V86FunctionSpec[], options: V86AdapterOptions = {}): V86Attachment {
  const v = checkV86Internals(emulator);
  if (attachedCores.has(v.core)) throw new PassthroughError('PT_ERR_INVALID_STATE', 'this v86 emulator already has pcipt functions attached', { emulator: 'v86' });
  const counters = newAdapterCounters();
  const report = (e: unknown, context: Record<string, unknown>): void => {
    counters.errors++;
    if (options.onError === undefined) return;
    const error = toPassthroughError(e);
    options.onError(new PassthroughError(error.code, error.message, { ...error.context, emulator: 'v86', ...context }, { cause: error }));
  };
  const deps: SlotDeps = {
    mmio: createMmioTable(v86MmioHost(v.cpu), counters, report),
    ports: createPortTable(v86PortHost(v.io), counters, report),
    counters,
    report,
    fixed: (options.memoryBars ?? 'fixed') === 'fixed',
  };
  const byDevfn: (FunctionSlot | undefined)[] = new Array<FunctionSlot | undefined>(256).fill(undefined);
  const list: FunctionSlot[] = [];
  const opened: GuestPciFunction[] = [];
  const restores: (() => void)[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;
  let detached = false;

  /** The IRQ v86's raise_irq will use: PIIX3 PIRQ route of (pin, slot), as v86's pci.js swizzles it. */
  const irqOf = (a: FunctionSlot): number | undefined => {
    const pin = (a.space[0x3c >> 2]! >> 8) & 0xff;
    if (pin < 1 || pin > 4) return undefined;
    const route = v.pci.isa_bridge_space8[0x60 + ((pin - 1 + (a.devfn >> 3) - 1) & 3)]!;
    return route === 0 || (route & 0x80) !== 0 || route >= 16 ? undefined : route;
  };
  const setIntx = (a: FunctionSlot, level: boolean): void => {
    if (!a.ready) return;
    a.level = level;
    const irq = irqOf(a);
    if (irq === undefined) {
      if (level) counters.intxUnrouted++;
      return;
    }
    if (level) {
      counters.intxAsserts++;
      v.pci.raise_irq(a.devfn);
    } else if (!list.some((o) => o !== a && o.level && irqOf(o) === irq)) {
      // A shared line goes low only when no other function of ours on it is asserted.
      counters.intxDeasserts++;
      v.pci.lower_irq(a.devfn);
    }
  };
  const wrap = <K extends string>(obj: Record<K, unknown>, key: K, replacement: unknown): void => {
    const own = Object.prototype.hasOwnProperty.call(obj, key);
    const before = obj[key];
    obj[key] = replacement;
    restores.push(() => {
      if (own) obj[key] = before;
      else delete obj[key];
    });
  };
  const pollAll = (): number => {
    let n = 0;
    for (const a of list) {
      try {
        n += a.fn.poll();
      } catch (e) {
        report(e, { guestBdf: a.guestBdf, phase: 'poll' });
      }
    }
    counters.delivered += n;
    return n;
  };
  /** Polls when `a` says host interrupts wait; ends with detach (its waits are bounded). */
  const wakeLoop = async (a: FunctionSlot): Promise<void> => {
    const fn = a.fn as WakeableFunction;
    while (!detached) {
      try {
        if ((await fn.waitAsync!(WAKE_WAIT_MS)) && !detached) pollAll();
      } catch (e) {
        report(e, { guestBdf: a.guestBdf, phase: 'waitAsync' });
        return;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  const detach = (): void => {
    if (detached) return;
    detached = true;
    if (timer !== undefined) clearInterval(timer);
    for (const a of list) {
      if (a.level) setIntx(a, false);
      a.ready = false;
      a.unmap();
      v.pci.devices[a.devfn] = undefined;
      v.pci.device_spaces[a.devfn] = undefined;
    }
    for (const r of restores.reverse()) r();
    for (const fn of opened) {
      try {
        fn.close();
      } catch (e) {
        report(e, { phase: 'close' });
      }
    }
    attachedCores.delete(v.core);
  };

  try {
    const devfns = assignSlots(specs, new Set(v.pci.devices.flatMap((d, i) => (d === undefined ? [] : [i]))));
    // Open every function and place its memory BARs before anything touches v86.
    const holders: { a?: FunctionSlot }[] = [];
    for (const spec of specs) {
      const holder: { a?: FunctionSlot } = {};
      holders.push(holder);
      opened.push(
        spec.open({
          intx: (level) => holder.a !== undefined && setIntx(holder.a, level),
          msi: () => void counters.msiDropped++,
          barsChanged: () => holder.a?.resync(),
        }),
      );
    }
    const memBars = opened.flatMap((fn, i) => fn.bars.filter((b) => b.kind === 'memory' && b.sizeBytes > 0).map((b) => ({ i, index: b.index, size: b.sizeBytes })));
    const window = options.window ?? V86_DEFAULT_BAR_WINDOW;
    const bases = deps.fixed ? placeMemoryBars(memBars.map((m) => m.size), window, V86_MMIO_BLOCK_BYTES, v86FreeBlocks(v.cpu)) : [];

    opened.forEach((fn, i) => {
      const spec = specs[i]!;
      const placed = new Map<number, number>();
      memBars.forEach((m, k) => m.i === i && bases[k] !== undefined && placed.set(m.index, bases[k]!));
      for (const [index, at] of placed) programBar(fn, index, at);
      const image = new Int32Array(64);
      for (let d = 0; d < 64; d++) image[d] = fn.configRead(d * 4, 4) | 0;
      const name = spec.name ?? (spec.hostBdf === undefined ? `pcipt #${i}` : `pcipt ${spec.hostBdf}`);
      const space = v.pci.register_device({ name, pci_id: devfns[i]!, pci_space: Array.from(new Uint8Array(image.buffer)), pci_bars: [] });
      const a = new FunctionSlot(name, spec.hostBdf, devfns[i]!, fn, space, placed, deps);
      a.ready = true;
      holders[i]!.a = a;
      byDevfn[a.devfn] = a;
      list.push(a);
      a.resync();
    });
    attachedCores.add(v.core);

    const pci = v.pci;
    const query = pci.pci_query;
    wrap(pci as unknown as Record<string, unknown>, 'pci_query', function (this: V86Pci): void {
      query.call(this);
      const devfn = (this.pci_addr[2]! << 8) | this.pci_addr[1]!;
      const a = devfn < 256 ? byDevfn[devfn] : undefined;
      if (a === undefined) return;
      counters.configReads++;
      this.pci_status32[0] = 0x80000000 | 0;
      try {
        this.pci_response32[0] = a.fn.configRead(this.pci_addr[0]! & 0xfc, 4) | 0;
      } catch (e) {
        report(e, { guestBdf: a.guestBdf, offsetBytes: this.pci_addr[0]! & 0xfc });
        this.pci_response32[0] = -1;
      }
    });
    for (const [key, size] of [['pci_write8', 1], ['pci_write16', 2], ['pci_write32', 4]] as const) {
      const original = pci[key];
      wrap(pci as unknown as Record<string, unknown>, key, function (this: V86Pci, address: number, value: number): void {
        const devfn = (address >> 8) & 0xffff;
        const a = devfn < 256 ? byDevfn[devfn] : undefined;
        if (a === undefined) return original.call(this, address, value);
        const off = address & 0xff;
        a.configWrite(off, size, value);
        // A read of the same dword without a new 0xCF8 write must see the write.
        const pa = this.pci_addr;
        if (((pa[2]! << 8) | pa[1]!) === devfn && (pa[0]! & 0xfc) === (off & 0xfc)) this.pci_response32[0] = a.space[off >> 2]!;
      });
    }
    const setState = pci.set_state;
    wrap(pci as unknown as Record<string, unknown>, 'set_state', function (this: V86Pci, state: unknown): void {
      setState.call(this, state);
      for (const a of list) a.replay();
    });
    const tick = v.core.do_tick;
    wrap(v.core as unknown as Record<string, unknown>, 'do_tick', function (this: V86Core): void {
      pollAll();
      tick.call(this);
    });
    // Functions that can say when host interrupts wait (the guest layer's optional waitAsync) wake the
    // adapter; the idle timer is for the others.
    const wakeable = list.filter((a) => typeof (a.fn as WakeableFunction).waitAsync === 'function');
    for (const a of wakeable) void wakeLoop(a);
    const period = options.pollIntervalMs ?? 1;
    if (period > 0 && wakeable.length < list.length) {
      timer = setInterval(pollAll, period);
      timer.unref();
    }
  } catch (e) {
    detach();
    throw toPassthroughError(e, { emulator: 'v86' });
  }

  return { functions: list, counters: () => ({ ...counters }), poll: pollAll, detach };
}

/**
 * Serves a guest-physical range with plain JS handlers, no PCI function and
 * no adapter in between: what a hand-written v86 device does. The guest
 * benchmark's baseline. `address` (128 KiB aligned) defaults to a free
 * range; give a placed BAR's address to serve it instead of its function
 * (Linux maps /dev/mem pages outside any PCI resource differently, and a
 * guest access there costs ~3× more in v86). Returns the address and a
 * function that gives the blocks back. Throws what {@link checkV86Internals}
 * throws, PT_ERR_NO_SPACE, PT_ERR_INVALID_ARGUMENT.
 */
export function mapRawMmio(emulator: unknown, handlers: BlockHandlers, sizeBytes = V86_MMIO_BLOCK_BYTES, address?: number): RawMmioRange {
  const v = checkV86Internals(emulator);
  const host = v86MmioHost(v.cpu);
  const at = address ?? placeMemoryBars([Math.max(sizeBytes, V86_MMIO_BLOCK_BYTES)], V86_DEFAULT_BAR_WINDOW, V86_MMIO_BLOCK_BYTES, v86FreeBlocks(v.cpu))[0]!;
  if (at % V86_MMIO_BLOCK_BYTES !== 0) throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `a raw MMIO range must start on a 128 KiB boundary (0x${at.toString(16)})`);
  const first = at / V86_MMIO_BLOCK_BYTES;
  const blocks = Math.max(1, Math.ceil(sizeBytes / V86_MMIO_BLOCK_BYTES));
  const saved = Array.from({ length: blocks }, (_, k) => host.get(first + k));
  for (let k = 0; k < blocks; k++) host.set(first + k, handlers);
  return { address: at, unmap: () => saved.forEach((h, k) => host.set(first + k, h)) };
}

/** v86's memory handler tables as a {@link MmioHost}. */
function v86MmioHost(cpu: V86Cpu): MmioHost {
  return {
    blockBytes: V86_MMIO_BLOCK_BYTES,
    get: (block) => ({
      read8: cpu.memory_map_read8[block] as BlockHandlers['read8'],
      write8: cpu.memory_map_write8[block] as BlockHandlers['write8'],
      read32: cpu.memory_map_read32[block] as BlockHandlers['read32'],
      write32: cpu.memory_map_write32[block] as BlockHandlers['write32'],
    }),
    // mmap_register writes the four tables for the block, as v86's own devices do.
    set: (block, h) => cpu.io.mmap_register(block * V86_MMIO_BLOCK_BYTES, V86_MMIO_BLOCK_BYTES, h.read8, h.write8, h.read32, h.write32),
  };
}

/** v86's port table as a {@link PortHost}: handlers installed with register_read/register_write, the entry's fields restored after. */
function v86PortHost(io: V86Io): PortHost {
  const device = { name: 'pcipt' };
  return {
    set(port, h) {
      const entry = io.ports[port]!;
      const saved = { ...entry };
      io.register_read(port, device, h.read8, h.read16, h.read32);
      io.register_write(port, device, h.write8 as Fn, h.write16 as Fn, h.write32 as Fn);
      return () => {
        Object.assign(io.ports[port]!, saved);
      };
    },
  };
}

/**
 * Which 128 KiB blocks are free: above guest RAM, and still served by v86's
 * "unmapped" handler (the one shared by most blocks above RAM; VGA, the BIOS
 * and the APICs have their own).
 */
function v86FreeBlocks(cpu: V86Cpu): (block: number) => boolean {
  const ramBlocks = Math.ceil((cpu.memory_size[0]! >>> 0) / V86_MMIO_BLOCK_BYTES);
  const uses = new Map<unknown, number>();
  for (let b = ramBlocks; b < cpu.memory_map_read8.length; b++) uses.set(cpu.memory_map_read8[b], (uses.get(cpu.memory_map_read8[b]) ?? 0) + 1);
  let unmapped: unknown;
  let best = 0;
  for (const [h, n] of uses) if (n > best) [unmapped, best] = [h, n];
  return (block) => block >= ramBlocks && block < cpu.memory_map_read8.length && cpu.memory_map_read8[block] === unmapped;
}
