/**
 * Devices attached by the supervisor, as functions an emulator adapter
 * plugs in: each DeviceHandle becomes a guest-facing function through the
 * guest layer's factory (src/guest/), opened with a sink that relays to
 * whichever adapter attaches it.
 */
import type { DeviceHandle } from '../actors/supervisor/handle.js';
import type { GuestFunctionSink, GuestPciFunction } from '../guest/contract.js';
import type { V86FunctionSpec } from './v86.js';

/** Turns an attached device into a guest-facing function (may be async: host interrupt setup, DMA maps). */
export type GuestFunctionFactory = (handle: DeviceHandle, sink: GuestFunctionSink) => GuestPciFunction | Promise<GuestPciFunction>;

/**
 * The guest layer's factory: each handle becomes a GuestPciFunction over its
 * fast path (src/guest/openGuestFunction), with the host side on the
 * supervisor's VFIO-level view (hostControlForHandle). It resolves once the
 * host has followed the function's initial interrupt mode.
 */
export async function loadGuestFunctionFactory(): Promise<GuestFunctionFactory> {
  const { openGuestFunction, hostControlForHandle } = await import('../guest/index.js');
  return async (handle, sink) => {
    const fn = openGuestFunction(handle.descriptor(), { sink, control: hostControlForHandle(handle), regions: handle.info.regions });
    try {
      await fn.whenIdle();
    } catch (e) {
      fn.close();
      throw e;
    }
    return fn;
  };
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
