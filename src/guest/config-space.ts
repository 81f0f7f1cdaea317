/**
 * The guest's view of config space, as QEMU's PCIDevice keeps it for
 * vfio-pci (`config`, `wmask`, `w1cmask`, `emulated_config_bits`), with one
 * difference: what is forwarded to the device is a table of its own
 * (`fwd`), not "everything, the kernel filters", because the dext has no
 * kernel filter above it. Per byte of the 4 KiB space:
 *
 * - `emu`: bits read from the shadow; the others are read from the device.
 * - `wmask`, `w1c`: emulated bits a guest write sets / clears (write 1 to clear).
 * - `fwd`: bits a guest write forwards to the device. Forwarded bytes that
 *   also hold non-forwarded bits send `host` in their place (COMMAND keeps
 *   the host's memory / I/O enables and INTx-disable this way).
 *
 * Defaults: read live, forward writes, no emulated bits (the original's
 * pass-through). The setup (capabilities.ts, bars.ts, msi.ts, msix.ts)
 * marks what is emulated, hidden or refused, and registers write hooks that
 * run after the shadow changed. Pure: the device is reached through a
 * {@link GuestConfigPort}.
 */
import { PassthroughError } from '../errors.js';
import type { GuestConfigPort } from './device.js';

/** Size of config space in bytes. */
export const kConfigBytes = 4096;

/** Called after a guest write that overlaps `[start, end)` updated the shadow. */
export type ConfigWriteHook = (offsetBytes: number, size: 1 | 2 | 4, value: number) => void;
/** Adjusts a read of `[offsetBytes, offsetBytes+size)` that overlaps its range; returns the value to give. */
export type ConfigReadOverlay = (offsetBytes: number, size: 1 | 2 | 4, value: number) => number;

interface Ranged<T> {
  start: number;
  end: number;
  fn: T;
}

/** Emulation options of a byte range. */
export interface EmulateOptions {
  /** Bits the guest may write, as a little-endian value of the range's width (default none). */
  wmask?: number;
  /** Bits a guest write of 1 clears (default none). */
  w1c?: number;
}

/** The guest-visible config space of one function. */
export class VirtualConfig {
  readonly shadow = new Uint8Array(kConfigBytes);
  readonly emu = new Uint8Array(kConfigBytes);
  readonly wmask = new Uint8Array(kConfigBytes);
  readonly w1c = new Uint8Array(kConfigBytes);
  readonly fwd = new Uint8Array(kConfigBytes).fill(0xff);
  readonly host = new Uint8Array(kConfigBytes);
  readonly #port: GuestConfigPort;
  readonly #hooks: Ranged<ConfigWriteHook>[] = [];
  readonly #overlays: Ranged<ConfigReadOverlay>[] = [];

  constructor(port: GuestConfigPort) {
    this.#port = port;
  }

  // ---- setup ---------------------------------------------------------------

  /**
   * Makes `[off, off+width)` fully emulated with `value` (little endian,
   * width 1–4) and never forwarded.
   */
  emulate(off: number, width: number, value: number, opts: EmulateOptions = {}): void {
    for (let i = 0; i < width; i++) {
      const at = off + i;
      this.emu[at] = 0xff;
      this.fwd[at] = 0;
      this.shadow[at] = byteOf(value, i);
      this.wmask[at] = byteOf(opts.wmask ?? 0, i);
      this.w1c[at] = byteOf(opts.w1c ?? 0, i);
    }
  }

  /** Emulates a range of any length as constant `fill` bytes (hidden: reads `fill`, writes refused). */
  hide(off: number, lengthBytes: number, fill = 0): void {
    for (let at = off; at < off + lengthBytes && at < kConfigBytes; at++) {
      this.emu[at] = 0xff;
      this.fwd[at] = 0;
      this.shadow[at] = fill;
      this.wmask[at] = 0;
      this.w1c[at] = 0;
    }
  }

  /**
   * Emulates only `bits` of `[off, off+width)` (read from the shadow, written
   * through `wmask`), and forwards the other bits with `host` in place of the
   * emulated ones.
   */
  emulateBits(off: number, width: number, bits: number, value: number, wmask: number, host: number): void {
    for (let i = 0; i < width; i++) {
      const at = off + i;
      const b = byteOf(bits, i);
      this.emu[at] = b;
      this.fwd[at] = ~b & 0xff;
      this.shadow[at] = byteOf(value, i) & b;
      this.wmask[at] = byteOf(wmask, i) & b;
      this.host[at] = byteOf(host, i) & b;
    }
  }

  /** Refuses guest writes to `[off, off+lengthBytes)` (reads stay as they are). */
  refuse(off: number, lengthBytes: number): void {
    for (let at = off; at < off + lengthBytes && at < kConfigBytes; at++) this.fwd[at] = 0;
  }

  /** Runs `fn` after every guest write overlapping `[start, end)`. */
  onWrite(start: number, end: number, fn: ConfigWriteHook): void {
    this.#hooks.push({ start, end, fn });
  }

  /** Passes every guest read overlapping `[start, end)` through `fn`. */
  onRead(start: number, end: number, fn: ConfigReadOverlay): void {
    this.#overlays.push({ start, end, fn });
  }

  // ---- shadow access (the layer's side; no masks) ---------------------------

  get8(off: number): number {
    return this.shadow[off]!;
  }

  get16(off: number): number {
    return this.shadow[off]! | (this.shadow[off + 1]! << 8);
  }

  get32(off: number): number {
    return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0;
  }

  /** Stores `value` into the shadow (width bytes, little endian), ignoring masks. */
  set(off: number, width: number, value: number): void {
    for (let i = 0; i < width; i++) this.shadow[off + i] = byteOf(value, i);
  }

  // ---- guest access -----------------------------------------------------------

  /**
   * The guest's config read: emulated bits from the shadow merged over the
   * device's bits (one device read when any bit is live), then the overlays.
   * Throws PT_ERR_BAD_WIDTH, PT_ERR_OUT_OF_RANGE, PT_ERR_ALIGNMENT (an access
   * crossing a dword), or the device's error.
   */
  read(off: number, size: 1 | 2 | 4): number {
    check(off, size);
    let live = false;
    for (let i = 0; i < size; i++) if (this.emu[off + i] !== 0xff) live = true;
    const dev = live ? this.#deviceRead(off, size) : 0;
    let v = 0;
    for (let i = 0; i < size; i++) {
      const e = this.emu[off + i]!;
      v |= ((this.shadow[off + i]! & e) | (byteOf(dev, i) & ~e & 0xff)) << (8 * i);
    }
    v >>>= 0;
    for (const o of this.#overlays) if (off < o.end && off + size > o.start) v = o.fn(off, size, v) >>> 0;
    return v;
  }

  /**
   * The guest's config write: emulated bits into the shadow through
   * wmask/w1c, forwarded bits to the device (the whole access when every
   * byte forwards something, else each run of forwarding bytes in naturally
   * aligned pieces), then the hooks. Throws as {@link read}.
   */
  write(off: number, size: 1 | 2 | 4, value: number): void {
    check(off, size);
    value >>>= 0;
    if (size < 4) value &= (1 << (8 * size)) - 1;
    let out = 0;
    let fwdCount = 0;
    for (let i = 0; i < size; i++) {
      const at = off + i;
      const b = byteOf(value, i);
      const wm = this.wmask[at]!;
      if (wm !== 0) this.shadow[at] = (this.shadow[at]! & ~wm) | (b & wm);
      const clear = this.w1c[at]! & b;
      if (clear !== 0) this.shadow[at] = this.shadow[at]! & ~clear;
      const f = this.fwd[at]!;
      if (f !== 0) {
        fwdCount++;
        out |= ((b & f) | (this.host[at]! & ~f & 0xff)) << (8 * i);
      }
    }
    out >>>= 0;
    if (fwdCount === size) {
      this.#deviceWrite(off, size, out);
    } else if (fwdCount !== 0) {
      this.#forwardRuns(off, size, out);
    }
    for (const h of this.#hooks) if (off < h.end && off + size > h.start) h.fn(off, size, value);
  }

  /** True when a guest write to byte `at` would reach the device (any bit forwarded). */
  forwards(at: number): boolean {
    return this.fwd[at] !== 0;
  }

  #forwardRuns(off: number, size: number, out: number): void {
    let i = 0;
    while (i < size) {
      if (this.fwd[off + i] === 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < size && this.fwd[off + j] !== 0) j++;
      // [i, j) forwards: naturally aligned pieces, largest first.
      let at = i;
      while (at < j) {
        const abs = off + at;
        const w = (abs & 1) === 0 && at + 2 <= j ? 2 : 1;
        this.#deviceWrite(abs, w, (out >>> (8 * at)) & (w === 2 ? 0xffff : 0xff));
        at += w;
      }
      i = j;
    }
  }

  #deviceRead(off: number, size: number): number {
    const p = this.#port;
    if ((off & (size - 1)) === 0) return size === 4 ? p.read32(off) >>> 0 : size === 2 ? p.read16(off) : p.read8(off);
    // Inside one dword but not naturally aligned: read the dword, take the bytes.
    const dword = p.read32(off & ~3) >>> 0;
    const shift = 8 * (off & 3);
    return size === 2 ? (dword >>> shift) & 0xffff : (dword >>> shift) & 0xff;
  }

  #deviceWrite(off: number, size: number, value: number): void {
    const p = this.#port;
    if ((off & (size - 1)) === 0) {
      if (size === 4) p.write32(off, value);
      else if (size === 2) p.write16(off, value);
      else p.write8(off, value);
      return;
    }
    for (let i = 0; i < size; i++) p.write8(off + i, byteOf(value, i));
  }
}

function byteOf(value: number, i: number): number {
  return (value >>> (8 * i)) & 0xff;
}

function check(off: number, size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new PassthroughError('PT_ERR_BAD_WIDTH', `config access width ${size} is not 1, 2 or 4`, { offsetBytes: off, width: size });
  }
  if (!Number.isSafeInteger(off) || off < 0 || off + size > kConfigBytes) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `config access of ${size} byte(s) at ${off} is out of range`, {
      offsetBytes: off,
      width: size,
      sizeBytes: kConfigBytes,
    });
  }
  if ((off & 3) + size > 4) {
    throw new PassthroughError('PT_ERR_ALIGNMENT', `config access of ${size} byte(s) at ${off} crosses a dword`, {
      offsetBytes: off,
      width: size,
    });
  }
}
