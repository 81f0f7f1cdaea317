/**
 * Config space of a simulated function: 4096 bytes with a per-byte write
 * mask (bits software may change) and write-one-to-clear mask, as QEMU's
 * PCIDevice keeps `config`/`wmask`/`w1cmask`. Models build their power-on
 * image with the helpers here (header, BARs with sizing masks, capability
 * list with next pointers) so pciutils can decode it.
 */
import { BarBits, Cfg, PCIE_CONFIG_BYTES, Status } from '../pci/config-space.js';

/** A BAR as a device model declares it. */
export interface SimBarDecl {
  index: number;
  sizeBytes: number;
  /** BarType bits: io 0x1, mem64 0x4, prefetch 0x8. */
  type: number;
}

/** A simulated function's config space: storage and builder (named by the device models' declarations). */
export class SimConfigSpace {
  readonly bytes = new Uint8Array(PCIE_CONFIG_BYTES);
  readonly wmask = new Uint8Array(PCIE_CONFIG_BYTES);
  readonly w1cmask = new Uint8Array(PCIE_CONFIG_BYTES);
  #lastCap = -1;
  #nextCapOffset = 0x40;

  /** Little-endian read of `width` bytes (no side effects). */
  read(offsetBytes: number, width: number): number {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + this.bytes[offsetBytes + i]!;
    return v >>> 0;
  }

  /** Guest-visible write: only `wmask` bits change; `w1cmask` bits clear when written as 1. */
  write(offsetBytes: number, width: number, value: number): void {
    for (let i = 0; i < width; i++) {
      const at = offsetBytes + i;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this.wmask[at]!;
      const w1c = this.w1cmask[at]!;
      let cur = this.bytes[at]!;
      cur = (cur & ~wm) | (b & wm);
      cur &= ~(b & w1c);
      this.bytes[at] = cur & 0xff;
    }
  }

  /** Raw store, ignoring masks (device side). */
  set(offsetBytes: number, width: number, value: number): void {
    for (let i = 0; i < width; i++) this.bytes[offsetBytes + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  }

  /** Sets the write mask of `width` bytes. */
  setWmask(offsetBytes: number, width: number, mask: number): void {
    for (let i = 0; i < width; i++) this.wmask[offsetBytes + i] = Math.floor(mask / 2 ** (8 * i)) & 0xff;
  }

  /** Sets the write-one-to-clear mask of `width` bytes. */
  setW1c(offsetBytes: number, width: number, mask: number): void {
    for (let i = 0; i < width; i++) this.w1cmask[offsetBytes + i] = Math.floor(mask / 2 ** (8 * i)) & 0xff;
  }

  /**
   * Standard type-0 header: ids, revision, class, subsystem, interrupt pin,
   * and the writable bits of COMMAND (IO, MEM, MASTER, PERR, SERR, INTx
   * disable), cache line, latency timer and interrupt line.
   */
  header(h: {
    vendorId: number;
    deviceId: number;
    revision: number;
    classCode: number;
    subsystemVendorId?: number;
    subsystemId?: number;
    interruptPin?: number;
    headerType?: number;
  }): void {
    this.set(Cfg.VENDOR_ID, 2, h.vendorId);
    this.set(Cfg.DEVICE_ID, 2, h.deviceId);
    this.set(Cfg.REVISION_ID, 1, h.revision);
    this.set(Cfg.CLASS_PROG, 3, h.classCode);
    this.set(Cfg.HEADER_TYPE, 1, h.headerType ?? 0);
    this.set(Cfg.SUBSYSTEM_VENDOR_ID, 2, h.subsystemVendorId ?? 0);
    this.set(Cfg.SUBSYSTEM_ID, 2, h.subsystemId ?? 0);
    this.set(Cfg.INTERRUPT_PIN, 1, h.interruptPin ?? 0);
    this.set(Cfg.INTERRUPT_LINE, 1, (h.interruptPin ?? 0) === 0 ? 0 : 0xff);
    this.setWmask(Cfg.COMMAND, 2, 0x0547);
    this.setW1c(Cfg.STATUS, 2, 0xf900);
    this.setWmask(Cfg.CACHE_LINE_SIZE, 2, 0xffff);
    this.setWmask(Cfg.INTERRUPT_LINE, 1, 0xff);
  }

  /** Declares a BAR at `address` with its sizing mask (and the upper dword for 64-bit BARs). */
  bar(decl: SimBarDecl, address: bigint): void {
    const at = Cfg.BAR0 + 4 * decl.index;
    const io = (decl.type & BarBits.IO_SPACE) !== 0;
    const lowBits = io ? BarBits.IO_SPACE : decl.type & BarBits.MEM_MASK;
    const size = BigInt(decl.sizeBytes);
    const mask = ~(size - 1n);
    this.set(at, 4, Number((address & 0xffff_fff0n) | BigInt(lowBits)));
    this.setWmask(at, 4, Number(mask & (io ? 0xffff_fffcn : 0xffff_fff0n)));
    if ((decl.type & BarBits.MEM_TYPE_64) !== 0) {
      this.set(at + 4, 4, Number(address >> 32n));
      this.setWmask(at + 4, 4, Number((mask >> 32n) & 0xffff_ffffn));
    }
  }

  /**
   * Appends a capability of `lengthBytes` (id and next pointer included) to
   * the list, dword aligned, and returns its offset. Sets STATUS.CAP_LIST.
   */
  capability(id: number, lengthBytes: number, at?: number): number {
    const off = at ?? this.#nextCapOffset;
    this.bytes[off] = id;
    this.bytes[off + 1] = 0;
    if (this.#lastCap < 0) this.bytes[Cfg.CAPABILITY_LIST] = off;
    else this.bytes[this.#lastCap + 1] = off;
    this.#lastCap = off;
    this.#nextCapOffset = Math.max(this.#nextCapOffset, (off + lengthBytes + 3) & ~3);
    this.set(Cfg.STATUS, 2, this.read(Cfg.STATUS, 2) | Status.CAP_LIST);
    return off;
  }

  /** Offset of the first capability with `id`, or 0. Walks at most 48 entries (loop-safe). */
  findCapability(id: number): number {
    if ((this.read(Cfg.STATUS, 2) & Status.CAP_LIST) === 0) return 0;
    let off = this.bytes[Cfg.CAPABILITY_LIST]! & 0xfc;
    for (let n = 0; n < 48 && off >= 0x40; n++) {
      if (this.bytes[off] === id) return off;
      off = this.bytes[off + 1]! & 0xfc;
    }
    return 0;
  }

  /** A copy of the bytes. */
  snapshot(): Uint8Array {
    return this.bytes.slice();
  }

  /** Replaces the bytes (power-on image or a restore). */
  load(image: Uint8Array): void {
    this.bytes.set(image.subarray(0, PCIE_CONFIG_BYTES));
  }
}
