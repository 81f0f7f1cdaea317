/**
 * Devices attached by the supervisor, as functions an emulator adapter
 * plugs in: each DeviceHandle becomes a guest-facing function through the
 * guest layer's factory (src/guest/), opened with a sink that relays to
 * whichever adapter attaches it.
 */
import type { DeviceHandle } from '../actors/device-handle.js';
import { PassthroughError } from '../errors.js';
import type { GuestFunctionSink, GuestPciFunction } from '../guest/contract.js';
import type { V86FunctionSpec } from './v86.js';

/** Turns an attached device into a guest-facing function (may be async: host interrupt setup, DMA maps). */
export type GuestFunctionFactory = (handle: DeviceHandle, sink: GuestFunctionSink) => GuestPciFunction | Promise<GuestPciFunction>;

/**
 * The guest layer's factory.
 *
 * PENDING (issue 13 item 1): the guest-facing layer (src/guest/) lands on
 * its own branch; until the lead wires its factory here, this throws
 * PT_ERR_NOT_SUPPORTED (`context.pending`), `pcipt guest --device` says so,
 * and the tier over real pcipt functions says it is pending (never a silent
 * skip).
 */
export async function loadGuestFunctionFactory(): Promise<GuestFunctionFactory> {
  throw new PassthroughError(
    'PT_ERR_NOT_SUPPORTED',
    'the guest-facing function layer (src/guest) is not wired into this build yet, so devices cannot be passed into a guest',
    { pending: 'issue 13 item 1: GuestPciFunction over a DeviceHandle' },
  );
}

/**
 * Opens one function per handle with `factory` and returns adapter specs
 * (host BDF kept, so a host slot's functions share a guest slot). The sink
 * given to the factory relays to the adapter's once attached.
 */
export async function supervisedFunctionSpecs(handles: readonly DeviceHandle[], factory: GuestFunctionFactory): Promise<V86FunctionSpec[]> {
  const specs: V86FunctionSpec[] = [];
  const opened: GuestPciFunction[] = [];
  try {
    for (const handle of handles) {
      let target: GuestFunctionSink | undefined;
      const relay: GuestFunctionSink = {
        intx: (level) => target?.intx?.(level),
        msi: (address, data) => target?.msi?.(address, data),
        barsChanged: (bars) => target?.barsChanged?.(bars),
      };
      const fn = await factory(handle, relay);
      opened.push(fn);
      specs.push({
        hostBdf: handle.bdf,
        open(sink) {
          target = sink;
          return fn;
        },
      });
    }
  } catch (e) {
    for (const fn of opened) fn.close();
    throw e;
  }
  return specs;
}
