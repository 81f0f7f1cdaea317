/**
 * A host function for the guest layer's unit tests, without workers: config
 * space built with the sim's builder (SimConfigSpace) behind a port that
 * applies the original's write filter (COMMAND bytes one by one, STATUS and
 * BAR writes dropped) and answers BAR registers with their type bits only,
 * as the dext does; BARs as plain memory with an access log; a real IrqLine
 * over a real control block (tests raise host vectors on it).
 */
import { createDeviceControlBlock, IrqLine } from '../../../../src/fastpath/index.js';
import type { GuestBarPort, GuestConfigPort, GuestDevice } from '../../../../src/guest/device.js';
import { CapId, Cfg, Msi, Msix } from '../../../../src/pci/config-space.js';
import { SimConfigSpace } from '../../../../src/sim/config-space.js';
import { PassthroughError } from '../../../../src/errors.js';

/** A config write as it reached the device. */
export interface DeviceConfigWrite {
  offsetBytes: number;
  width: number;
  value: number;
}

/** The config port of the fake function, with the original's filter and a write log. */
export class FakeConfigPort implements GuestConfigPort {
  readonly cfg: SimConfigSpace;
  /** Every write that reached the port (before the filter). */
  readonly writes: DeviceConfigWrite[] = [];
  reads = 0;

  constructor(cfg: SimConfigSpace) {
    this.cfg = cfg;
  }

  read8(off: number): number {
    return this.#read(off, 1);
  }
  read16(off: number): number {
    return this.#read(off, 2);
  }
  read32(off: number): number {
    return this.#read(off, 4);
  }
  write8(off: number, v: number): void {
    this.#write(off, 1, v);
  }
  write16(off: number, v: number): void {
    this.#write(off, 2, v);
  }
  write32(off: number, v: number): void {
    this.#write(off, 4, v);
  }

  #read(off: number, w: number): number {
    checkNatural(off, w);
    this.reads++;
    if (w === 4 && off >= Cfg.BAR0 && off < Cfg.BAR_END) return this.cfg.read(off, 4) & 0xf; // dext BAR synthesis: type bits
    return this.cfg.read(off, w);
  }

  #write(off: number, w: number, v: number): void {
    checkNatural(off, w);
    this.writes.push({ offsetBytes: off, width: w, value: v >>> 0 });
    const end = off + w;
    for (let b = Math.max(off, 4); b < Math.min(end, 6); b++) this.cfg.write(b, 1, (v >>> (8 * (b - off))) & 0xff);
    if (off >= 4 && end <= 6) return;
    if ((off < 8 && end > 6) || (off < Cfg.BAR_END && end > Cfg.BAR0)) return;
    this.cfg.write(off, w, v);
  }
}

function checkNatural(off: number, w: number): void {
  if (off % w !== 0 || off < 0 || off + w > 4096) {
    throw new PassthroughError('PT_ERR_ALIGNMENT', `fake config access ${w}@${off}`, { offsetBytes: off, width: w });
  }
}

/** One BAR access as the device saw it. */
export interface BarAccess {
  op: 'r' | 'w';
  offsetBytes: number;
  width: number;
  value?: bigint;
}

/**
 * A BAR of plain memory with an access log; alignment and bounds checked like
 * a BarWindow. At most 1 MiB is backed (a larger BAR reads 0 past it).
 */
export class FakeBar implements GuestBarPort {
  readonly sizeBytes: number;
  readonly mem: Uint8Array;
  readonly log: BarAccess[] = [];
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;

  constructor(sizeBytes: number) {
    this.sizeBytes = sizeBytes;
    const buf = new ArrayBuffer(Math.min(sizeBytes, 0x10_0000));
    this.mem = new Uint8Array(buf);
    this.#u16 = new Uint16Array(buf);
    this.#u32 = new Uint32Array(buf);
    this.#u64 = new BigUint64Array(buf);
  }

  #check(off: number, w: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + w > this.sizeBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `fake BAR ${w}@${off}`, { offsetBytes: off, width: w });
    }
    if (off % w !== 0) throw new PassthroughError('PT_ERR_ALIGNMENT', `fake BAR ${w}@${off}`, { offsetBytes: off, width: w });
  }

  read8(off: number): number {
    this.#check(off, 1);
    this.log.push({ op: 'r', offsetBytes: off, width: 1 });
    return this.mem[off] ?? 0;
  }
  read16(off: number): number {
    this.#check(off, 2);
    this.log.push({ op: 'r', offsetBytes: off, width: 2 });
    return this.#u16[off >>> 1] ?? 0;
  }
  read32(off: number): number {
    this.#check(off, 4);
    this.log.push({ op: 'r', offsetBytes: off, width: 4 });
    return this.#u32[off >>> 2] ?? 0;
  }
  read64(off: number): bigint {
    this.#check(off, 8);
    this.log.push({ op: 'r', offsetBytes: off, width: 8 });
    return this.#u64[off >>> 3] ?? 0n;
  }
  write8(off: number, v: number): void {
    this.#check(off, 1);
    this.log.push({ op: 'w', offsetBytes: off, width: 1, value: BigInt(v & 0xff) });
    this.mem[off] = v;
  }
  write16(off: number, v: number): void {
    this.#check(off, 2);
    this.log.push({ op: 'w', offsetBytes: off, width: 2, value: BigInt(v & 0xffff) });
    this.#u16[off >>> 1] = v;
  }
  write32(off: number, v: number): void {
    this.#check(off, 4);
    this.log.push({ op: 'w', offsetBytes: off, width: 4, value: BigInt(v >>> 0) });
    this.#u32[off >>> 2] = v;
  }
  write64(off: number, v: bigint): void {
    this.#check(off, 8);
    this.log.push({ op: 'w', offsetBytes: off, width: 8, value: BigInt.asUintN(64, v) });
    this.#u64[off >>> 3] = v;
  }
}

/** What the fake function has. */
export interface FakeSpec {
  /** BARs: index, size, type bits (io 0x1, mem64 0x4, prefetch 0x8), RAM-like or not. */
  bars?: { index: number; sizeBytes: number; type: number; ram?: boolean }[];
  /** Interrupt pin (default 1). */
  pin?: number;
  /** MSI with this many vectors (1–32); `maskable` adds per-vector masking. */
  msi?: { vectors: number; is64?: boolean; maskable?: boolean };
  /** MSI-X with the table and PBA in BAR `bar` at the given offsets. */
  msix?: { vectors: number; bar: number; tableOffset: number; pbaOffset: number };
  /** A PCIe v2 endpoint capability (FLR when `flr`). */
  pcie?: { flr: boolean };
  /** Extra standard capabilities (id, length) appended to the list. */
  extraCaps?: { id: number; lengthBytes: number }[];
  /** Extended capabilities (id) from 0x100, 0x40 bytes apart. */
  extCaps?: number[];
  /** Size of the device's ROM region, with `romContents` at its start. */
  romBytes?: number;
  romContents?: Uint8Array;
}

/** The fake function and what the tests inspect. */
export interface FakeDevice extends GuestDevice {
  readonly port: FakeConfigPort;
  readonly fakeBars: (FakeBar | undefined)[];
  readonly line: IrqLine;
  /** Offsets of the capabilities built, by id. */
  readonly capAt: Map<number, number>;
  /** Slow-path region reads (the ROM). */
  readonly regionReads: number;
  closed: number;
}

/** Builds a fake function from `spec`. */
export function fakeDevice(spec: FakeSpec = {}): FakeDevice {
  const cfg = new SimConfigSpace();
  cfg.header({ vendorId: 0x1234, deviceId: 0xbeef, revision: 2, classCode: 0xff0000, subsystemVendorId: 0x1af4, subsystemId: 0x1100, interruptPin: spec.pin ?? 1 });
  const fakeBars: (FakeBar | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  const ramBars = new Set<number>();
  for (const b of spec.bars ?? [{ index: 0, sizeBytes: 0x1000, type: 0 }]) {
    cfg.bar({ index: b.index, sizeBytes: b.sizeBytes, type: b.type }, 0n);
    fakeBars[b.index] = new FakeBar(b.sizeBytes);
    if (b.ram === true) ramBars.add(b.index);
  }
  const capAt = new Map<number, number>();
  if (spec.pcie !== undefined) {
    const at = cfg.capability(CapId.EXP, 0x3c);
    cfg.set(at + 2, 2, 0x0002);
    cfg.set(at + 4, 4, (spec.pcie.flr ? 1 << 28 : 0) | 0x8001);
    cfg.set(at + 8, 2, 0x2810);
    cfg.set(at + 0x10, 2, 0x0040);
    cfg.set(at + 0x28, 2, 0x0010);
    capAt.set(CapId.EXP, at);
  }
  if (spec.msi !== undefined) {
    const is64 = spec.msi.is64 ?? true;
    const maskable = spec.msi.maskable ?? false;
    const at = cfg.capability(CapId.MSI, (is64 ? 14 : 10) + (maskable ? 10 : 0));
    cfg.set(at + Msi.FLAGS, 2, (is64 ? Msi.FLAGS_64BIT : 0) | (maskable ? Msi.FLAGS_MASKBIT : 0) | (Math.log2(spec.msi.vectors) << 1));
    capAt.set(CapId.MSI, at);
  }
  if (spec.msix !== undefined) {
    const at = cfg.capability(CapId.MSIX, 12);
    cfg.set(at + Msix.FLAGS, 2, spec.msix.vectors - 1);
    cfg.set(at + Msix.TABLE, 4, spec.msix.tableOffset | spec.msix.bar);
    cfg.set(at + Msix.PBA, 4, spec.msix.pbaOffset | spec.msix.bar);
    capAt.set(CapId.MSIX, at);
  }
  for (const c of spec.extraCaps ?? []) capAt.set(c.id, cfg.capability(c.id, c.lengthBytes));
  (spec.extCaps ?? []).forEach((id, i) => {
    const at = 0x100 + 0x40 * i;
    const next = i + 1 < (spec.extCaps ?? []).length ? at + 0x40 : 0;
    cfg.set(at, 4, (id | (1 << 16) | (next << 20)) >>> 0);
    cfg.set(at + 4, 4, 0xa5a5_0000 | id);
    capAt.set(0x1000 + id, at);
  });
  const port = new FakeConfigPort(cfg);
  const line = new IrqLine(createDeviceControlBlock());
  const rom = new Uint8Array(spec.romBytes ?? 0).fill(0);
  if (spec.romContents !== undefined) rom.set(spec.romContents);
  let regionReads = 0;
  const device: FakeDevice = {
    port,
    fakeBars,
    line,
    capAt,
    bars: fakeBars,
    irq: line,
    config: port,
    romBytes: spec.romBytes ?? 0,
    region: {
      read(region: number, off: number, width: 1 | 2 | 4 | 8): bigint {
        regionReads++;
        if (region !== 6 || off + width > rom.length) throw new PassthroughError('PT_ERR_OUT_OF_RANGE', 'fake region read', { region, offsetBytes: off });
        let v = 0n;
        for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(rom[off + i]!);
        return v;
      },
    },
    get regionReads() {
      return regionReads;
    },
    ram: (bar: number) => (ramBars.has(bar) ? fakeBars[bar]!.mem : undefined),
    closed: 0,
    close() {
      device.closed++;
    },
  };
  return device;
}

/** Forwarded config writes that touched byte `at`. */
export function writesTouching(port: FakeConfigPort, at: number): DeviceConfigWrite[] {
  return port.writes.filter((w) => at >= w.offsetBytes && at < w.offsetBytes + w.width);
}
