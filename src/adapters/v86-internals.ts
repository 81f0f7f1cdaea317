/**
 * The v86 internals the adapter uses (none is in v86's typings), the
 * version they were read from, and the check that finds each by name
 * before anything is touched.
 */
import { PassthroughError } from '../errors.js';
import type { AddressWindow } from './placement.js';
import type { BlockHandlers } from './dispatch.js';

/** The v86 version whose internals this adapter was written against. */
export const V86_VERSION = '0.5.462';
/** v86's MMIO dispatch granularity (MMAP_BLOCK_SIZE). */
export const V86_MMIO_BLOCK_BYTES = 1 << 17;
/** Default window for memory BARs: below v86's VGA ROM (0xFEB00000) and above its VGA framebuffer. */
export const V86_DEFAULT_BAR_WINDOW: AddressWindow = { start: 0xe8000000, end: 0xfeb00000 };

/** A v86 port handler (numbers in, a number out). */
export type V86PortHandler = (...args: number[]) => number;
type Fn = V86PortHandler;
/** A v86 MMIO block handler: a read (address → value) or a write (address, value). */
export type V86Handler = ((addr: number) => number) | ((addr: number, value: number) => void);
/** One entry of v86's I/O port table (`cpu.io.ports`): the parts the adapter reads and restores. */
export interface V86Port { read8: Fn; read16: Fn; read32: Fn; write8: Fn; write16: Fn; write32: Fn; device: unknown }
/** A device as v86's PCI bus registers it (`register_device`). */
export interface V86PciDevice { name: string; pci_id: number; pci_space: number[]; pci_bars: unknown[] }
/** v86's PCI bus (`cpu.devices.pci`): the members the adapter uses, checked by {@link checkV86Internals}. */
export interface V86Pci {
  /** Adds a device at its `pci_id` (devfn); returns its config space as 32-bit words. */
  register_device(device: V86PciDevice): Int32Array;
  /** Asserts the device's INTx line. */
  raise_irq(devfn: number): void;
  /** Deasserts the device's INTx line. */
  lower_irq(devfn: number): void;
  /** A byte written to the config data port (0xCFC + n). */
  pci_write8(address: number, value: number): void;
  /** A 16-bit write to the config data port. */
  pci_write16(address: number, value: number): void;
  /** A 32-bit write to the config data port. */
  pci_write32(address: number, value: number): void;
  /** Latches the config dword the address port (0xCF8) selects into `pci_response32`. */
  pci_query(): void;
  /** Restores the bus from a saved state (v86's `restore_state`). */
  set_state(state: unknown): void;
  pci_addr: Uint8Array;
  pci_response32: Int32Array;
  pci_status32: Int32Array;
  devices: (V86PciDevice | undefined)[];
  device_spaces: (Int32Array | undefined)[];
  isa_bridge_space8: Uint8Array;
}
/** v86's I/O bus (`cpu.io`): MMIO registration and the port tables. */
export interface V86Io {
  /** Serves [addr, addr+size) with the given handlers (128 KiB blocks). */
  mmap_register(addr: number, size: number, r8: BlockHandlers['read8'], w8: BlockHandlers['write8'], r32: BlockHandlers['read32'], w32: BlockHandlers['write32']): void;
  /** Serves reads of an I/O port. */
  register_read(port: number, device: object, r8: Fn, r16: Fn, r32: Fn): void;
  /** Serves writes of an I/O port. */
  register_write(port: number, device: object, w8: Fn, w16: Fn, w32: Fn): void;
  ports: V86Port[];
}
/** v86's CPU object: the memory-map handler tables, the buses and the guest RAM size. */
export interface V86Cpu {
  devices: { pci: V86Pci };
  io: V86Io;
  memory_map_read8: V86Handler[];
  memory_map_write8: V86Handler[];
  memory_map_read32: V86Handler[];
  memory_map_write32: V86Handler[];
  memory_size: ArrayLike<number>;
}
/** v86's core object (`emulator.v86`): the CPU and the tick the adapter hooks to poll its functions. */
export interface V86Core {
  /** The CPU. */
  cpu: V86Cpu;
  /** One emulator tick (the adapter wraps it to poll its functions). */
  do_tick(): void;
}

/** The v86 objects the adapter uses, checked. */
export interface V86Internals {
  readonly core: V86Core;
  readonly cpu: V86Cpu;
  readonly pci: V86Pci;
  readonly io: V86Io;
}

const fnType = (v: unknown) => typeof v === 'function';
const arrayOf = (n: number) => (v: unknown) => Array.isArray(v) && v.length >= n;
const REQUIRED: readonly (readonly [string, (v: unknown) => boolean, string])[] = [
  ['do_tick', fnType, 'function'],
  ['cpu.io.mmap_register', fnType, 'function'],
  ['cpu.io.register_read', fnType, 'function'],
  ['cpu.io.register_write', fnType, 'function'],
  ['cpu.io.ports', arrayOf(0x10000), 'array of 65536 port entries'],
  ['cpu.memory_map_read8', arrayOf(1), 'array'],
  ['cpu.memory_map_write8', arrayOf(1), 'array'],
  ['cpu.memory_map_read32', arrayOf(1), 'array'],
  ['cpu.memory_map_write32', arrayOf(1), 'array'],
  ['cpu.memory_size', (v) => typeof v === 'object' && v !== null && typeof (v as ArrayLike<unknown>)[0] === 'number', 'view of a number (guest RAM bytes)'],
  ['cpu.devices.pci.register_device', fnType, 'function'],
  ['cpu.devices.pci.raise_irq', fnType, 'function'],
  ['cpu.devices.pci.lower_irq', fnType, 'function'],
  ['cpu.devices.pci.pci_write8', fnType, 'function'],
  ['cpu.devices.pci.pci_write16', fnType, 'function'],
  ['cpu.devices.pci.pci_write32', fnType, 'function'],
  ['cpu.devices.pci.pci_query', fnType, 'function'],
  ['cpu.devices.pci.set_state', fnType, 'function'],
  ['cpu.devices.pci.pci_addr', (v) => v instanceof Uint8Array && v.length === 4, 'Uint8Array(4)'],
  ['cpu.devices.pci.pci_response32', (v) => v instanceof Int32Array, 'Int32Array'],
  ['cpu.devices.pci.pci_status32', (v) => v instanceof Int32Array, 'Int32Array'],
  ['cpu.devices.pci.devices', arrayOf(256), 'array of 256'],
  ['cpu.devices.pci.device_spaces', arrayOf(256), 'array of 256'],
  ['cpu.devices.pci.isa_bridge_space8', (v) => v instanceof Uint8Array, 'Uint8Array'],
];

/**
 * Checks that a v86 emulator (a `V86` instance after `emulator-loaded`) has
 * every internal the adapter uses, and returns them.
 * Throws PT_ERR_INVALID_ARGUMENT (not a v86 instance), PT_ERR_INVALID_STATE
 * (not loaded yet), PT_ERR_NOT_SUPPORTED (internals moved: `context.missing`
 * lists each `emulator.v86.<path> (<expected>)`).
 */
export function checkV86Internals(emulator: unknown): V86Internals {
  if (typeof emulator !== 'object' || emulator === null) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'the v86 adapter needs a V86 emulator instance', { emulator: 'v86' });
  }
  const core = (emulator as { v86?: unknown }).v86;
  if (core === undefined || core === null) {
    throw new PassthroughError('PT_ERR_INVALID_STATE', "v86 has not loaded yet: attach from the 'emulator-loaded' listener, before run() or restore_state()", { emulator: 'v86' });
  }
  const missing: string[] = [];
  for (const [path, ok, expected] of REQUIRED) {
    let v: unknown = core;
    for (const key of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    if (!ok(v)) missing.push(`emulator.v86.${path} (${expected})`);
  }
  if (missing.length > 0) {
    throw new PassthroughError(
      'PT_ERR_NOT_SUPPORTED',
      `v86 internals moved: ${missing.join(', ')}; pcipt's v86 adapter is written for v86 ${V86_VERSION}`,
      { emulator: 'v86', expectedVersion: V86_VERSION, missing },
    );
  }
  const c = core as V86Core;
  return { core: c, cpu: c.cpu, pci: c.cpu.devices.pci, io: c.cpu.io };
}
