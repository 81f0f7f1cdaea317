/**
 * The expansion ROM the guest sees behind its ROM BAR (QEMU's rombar /
 * romfile): the device's own ROM region, read lazily through the slow path
 * the first time the guest reads it (QEMU loads it lazily too); an image the
 * embedder hands over (a file's bytes); or none (the ROM BAR reads 0 and
 * ignores writes, so the guest sees no ROM). Writes to the ROM are ignored.
 *
 * The BAR is a power of two of at least 2 KiB: a file image is padded with
 * 0xff (erased flash) up to it. A device ROM that cannot be read reads all
 * ones (the read error is reported once through `onError`).
 */
import { PassthroughError, toPassthroughError } from '../errors.js';
import { pow2AtLeast } from './bars.js';
import type { GuestDevice } from './device.js';

/** Where the ROM comes from: the device, an image, or nowhere. */
export type RomSource = 'device' | 'off' | Uint8Array;

/** Smallest ROM BAR (the ROM BAR's address field starts at bit 11). */
export const kMinRomBytes = 2048;
/** Region index of the expansion ROM. */
const kRomRegion = 6;

/** The ROM image of one function. */
export class RomImage {
  /** BAR size in bytes; 0 when the function shows no ROM. */
  readonly sizeBytes: number;
  readonly #device: GuestDevice;
  readonly #deviceBytes: number;
  readonly #onError: (e: PassthroughError) => void;
  #image: Uint8Array | undefined;

  /**
   * Throws PT_ERR_INVALID_ARGUMENT for a source that is not 'device', 'off'
   * or a Uint8Array, or an image larger than 16 MiB.
   */
  constructor(device: GuestDevice, source: RomSource | undefined, onError: (e: PassthroughError) => void) {
    this.#device = device;
    this.#onError = onError;
    this.#deviceBytes = 0;
    if (source instanceof Uint8Array) {
      if (source.length > 16 * 1024 * 1024) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'ROM image is larger than 16 MiB', { sizeBytes: source.length });
      }
      this.sizeBytes = source.length === 0 ? 0 : pow2AtLeast(Math.max(source.length, kMinRomBytes));
      const image = new Uint8Array(this.sizeBytes).fill(0xff);
      image.set(source);
      this.#image = image;
      return;
    }
    if (source !== undefined && source !== 'device' && source !== 'off') {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', "rom must be 'device', 'off' or a Uint8Array", { rom: String(source) });
    }
    const deviceBytes = device.romBytes ?? 0;
    const usable = (source ?? 'device') === 'device' && deviceBytes > 0 && device.region !== undefined;
    this.#deviceBytes = usable ? deviceBytes : 0;
    this.sizeBytes = usable ? pow2AtLeast(Math.max(deviceBytes, kMinRomBytes)) : 0;
  }

  /** Little-endian read of `size` bytes at `off` (inside the BAR). */
  read(off: number, size: 1 | 2 | 4 | 8): bigint {
    const image = this.#image ?? this.#load();
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(image[off + i] ?? 0xff);
    return v;
  }

  /** Reads the device's ROM region once, 8 bytes at a time (4 KiB of ROM is 512 slow-path calls). */
  #load(): Uint8Array {
    const image = new Uint8Array(this.sizeBytes).fill(0xff);
    this.#image = image;
    const region = this.#device.region!;
    try {
      for (let off = 0; off + 8 <= this.#deviceBytes; off += 8) {
        const v = region.read(kRomRegion, off, 8);
        for (let i = 0; i < 8; i++) image[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
      }
      for (let off = this.#deviceBytes & ~7; off < this.#deviceBytes; off++) image[off] = Number(region.read(kRomRegion, off, 1));
    } catch (e) {
      image.fill(0xff);
      this.#onError(toPassthroughError(e).prepend('expansion ROM read failed', { region: kRomRegion }));
    }
    return image;
  }
}
