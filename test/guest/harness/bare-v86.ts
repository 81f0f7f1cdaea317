/**
 * A v86 PC that never runs: SeaBIOS loaded, nothing executed. Tests drive
 * its PCI configuration ports, MMIO handler tables and port table directly
 * (the same JS entry points v86's wasm calls for guest accesses), so the
 * adapter is exercised against the real v86 without booting a guest.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The v86 entry points the tests call (what the CPU calls for guest port I/O and MMIO). */
export interface BareCpu {
  io: {
    port_read8(port: number): number;
    port_read16(port: number): number;
    port_read32(port: number): number;
    port_write8(port: number, v: number): void;
    port_write16(port: number, v: number): void;
    port_write32(port: number, v: number): void;
  };
  mmap_read8(addr: number): number;
  mmap_read32(addr: number): number;
  mmap_write8(addr: number, v: number): void;
  mmap_write32(addr: number, v: number): void;
  memory_map_read8: unknown[];
  device_raise_irq(irq: number): void;
  device_lower_irq(irq: number): void;
  devices: { pci: Record<string, unknown> };
}

/** A loaded, never-run v86. */
export interface BareV86 {
  emulator: { v86: { cpu: BareCpu }; save_state(): Promise<ArrayBuffer>; restore_state(s: ArrayBuffer): Promise<void>; destroy(): Promise<void> };
  cpu: BareCpu;
  /** IRQ lines raised / lowered through v86's interrupt routing, in order (`+11`, `-11`). */
  irqLog: string[];
  cfgRead(devfn: number, off: number): number;
  cfgWrite(devfn: number, off: number, size: 1 | 2 | 4, value: number): void;
  close(): Promise<void>;
}

/** Creates a bare v86 (64 MiB) and waits for `emulator-loaded`; `beforeRun` runs in the listener. */
export async function bareV86(beforeRun?: (emulator: BareV86['emulator']) => void): Promise<BareV86> {
  const req = createRequire(import.meta.url);
  const { V86 } = (await import('v86')) as unknown as { V86: new (o: Record<string, unknown>) => BareV86['emulator'] & { add_listener(e: string, cb: () => void): void } };
  const bios = readFileSync('/usr/share/seabios/bios.bin');
  const emulator = new V86({
    wasm_path: req.resolve('v86/build/v86.wasm'),
    memory_size: 64 * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    bios: { buffer: bios.buffer.slice(bios.byteOffset, bios.byteOffset + bios.byteLength) },
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    log_level: 0,
  });
  await new Promise<void>((resolve) => emulator.add_listener('emulator-loaded', resolve));
  const cpu = emulator.v86.cpu;
  const irqLog: string[] = [];
  const raise = cpu.device_raise_irq.bind(cpu);
  const lower = cpu.device_lower_irq.bind(cpu);
  cpu.device_raise_irq = (irq) => {
    irqLog.push(`+${irq}`);
    raise(irq);
  };
  cpu.device_lower_irq = (irq) => {
    irqLog.push(`-${irq}`);
    lower(irq);
  };
  beforeRun?.(emulator);
  const address = (devfn: number, off: number) => (0x80000000 | (devfn << 8) | (off & 0xfc)) | 0;
  return {
    emulator,
    cpu,
    irqLog,
    cfgRead(devfn, off) {
      cpu.io.port_write32(0xcf8, address(devfn, off));
      return cpu.io.port_read32(0xcfc) >>> 0;
    },
    cfgWrite(devfn, off, size, value) {
      cpu.io.port_write32(0xcf8, address(devfn, off));
      if (size === 4) cpu.io.port_write32(0xcfc, value | 0);
      else if (size === 2) cpu.io.port_write16(0xcfc + (off & 2), value & 0xffff);
      else cpu.io.port_write8(0xcfc + (off & 3), value & 0xff);
    },
    close: () => emulator.destroy().catch(() => undefined),
  };
}
