/**
 * Host memory exposure for the backends that hand the device native
 * addresses (linux, iokit): the address of a SharedArrayBuffer range's
 * backing store, kept alive by holding a view over the range until it is
 * unexposed. One implementation for both worker halves.
 */
import { PassthroughError } from '../errors.js';
import type { HostVa } from '../types.js';

/** The exposure table of one worker backend. */
export interface NativeExposures {
  /**
   * Pins `lengthBytes` of `buffer` at `offsetBytes` and returns the native
   * address of its first byte. Throws PT_ERR_OUT_OF_RANGE when the range is
   * empty or outside the buffer.
   */
  expose(buffer: SharedArrayBuffer, offsetBytes: number, lengthBytes: number): HostVa;
  /** Drops the view that pins the exposure at `va` (unknown addresses are ignored). */
  unexpose(va: HostVa): void;
  /** Drops every exposure. */
  clear(): void;
}

/**
 * Creates an exposure table over `addressOf` (koffi's address of a typed
 * array's first byte: libc().address or loadKoffiForIokit().address).
 */
export function nativeExposures(addressOf: (view: Uint8Array) => bigint): NativeExposures {
  /** Views that pin the exposed ranges (their backing stores never move; holding the view keeps them alive). */
  const exposed = new Map<bigint, Uint8Array>();
  return {
    expose(buffer, offsetBytes, lengthBytes) {
      if (offsetBytes < 0 || lengthBytes <= 0 || offsetBytes + lengthBytes > buffer.byteLength) {
        throw new PassthroughError('PT_ERR_OUT_OF_RANGE', 'exposed range is outside the SharedArrayBuffer', {
          offsetBytes,
          sizeBytes: lengthBytes,
        });
      }
      const view = new Uint8Array(buffer, offsetBytes, lengthBytes);
      // SAFETY: a SharedArrayBuffer's backing store never moves and lives while `view` is held in `exposed`.
      const va = addressOf(view);
      exposed.set(va, view);
      return va as HostVa;
    },
    unexpose(va) {
      exposed.delete(BigInt(va));
    },
    clear() {
      exposed.clear();
    },
  };
}
