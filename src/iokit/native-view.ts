/**
 * Zero-copy views of native memory for BarWindow's viewFactory: a worker
 * that receives a BAR's host address (a bigint) rebuilds its own view with
 * {@link viewAt}; views cannot be posted between threads (postMessage copies
 * an external ArrayBuffer, eco §3.3).
 *
 * koffi is required lazily, on the first call.
 */
import { PassthroughError } from '../errors.js';
import { loadKoffiForIokit } from './bindings.js';

/**
 * An ArrayBuffer over `lengthBytes` of native memory at `address`
 * (koffi.view). Access it with Atomics on Uint8/16/32Array or
 * BigUint64Array, never DataView (eco §3.4).
 *
 * SAFETY: the caller guarantees the range stays mapped for as long as the
 * view (or any typed array over it) is used; touching it after the BAR is
 * unmapped crashes the whole process. Unmapping is a supervisor-coordinated
 * step (eco §3.3).
 *
 * Throws PT_ERR_INVALID_ARGUMENT for a null address or a bad length,
 * PT_ERR_NOT_SUPPORTED when koffi cannot load or the runtime forbids
 * external buffers (Electron).
 */
export function viewAt(address: bigint, lengthBytes: number): ArrayBuffer {
  if (typeof address !== 'bigint' || address <= 0n) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'viewAt: the address must be a non-null bigint', {
      address: String(address),
    });
  }
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `viewAt: bad length ${lengthBytes}`, { sizeBytes: lengthBytes });
  }
  const koffi = loadKoffiForIokit();
  try {
    return koffi.view(address, lengthBytes);
  } catch (cause) {
    throw new PassthroughError('PT_ERR_NOT_SUPPORTED', 'viewAt: this runtime forbids external buffers', {
      sizeBytes: lengthBytes,
    }, { cause });
  }
}
