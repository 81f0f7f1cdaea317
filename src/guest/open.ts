/**
 * Opening a guest function in the vCPU thread from what the supervisor
 * posts: the device's descriptor (DeviceHandle.descriptor()) and, for BARs
 * without a window and the ROM, its region sizes (DeviceHandle.info.regions).
 * The fast path is rebuilt in this thread (openFastPath); BARs the device has
 * but nothing maps (an I/O BAR on linux) and the ROM region go through the
 * control block's mailbox slow path.
 */
import { createMailboxSlowPath, openFastPath, type DeviceHandleDescriptor, type OpenFastPathDeps } from '../fastpath/index.js';
import { PassthroughError } from '../errors.js';
import { slowBarPort, type GuestBarPort, type GuestDevice } from './device.js';
import { createGuestFunction, type GuestFunction, type GuestFunctionOptions } from './function.js';

/** One region of the device (the shape of DeviceHandle.info.regions entries). */
export interface GuestRegionInfo {
  /** Region index: 0–5 BARs, 6 the expansion ROM. */
  index: number;
  sizeBytes: number;
}

/** Options of {@link openGuestFunction}. */
export interface OpenGuestFunctionOptions extends GuestFunctionOptions {
  /** The device's regions (DeviceHandle.info.regions): sizes of BARs without a window and of the ROM. */
  regions?: readonly GuestRegionInfo[];
  /** Fast-path options: `viewFactory` on real backends, timeouts, spin budget. */
  fastPath?: OpenFastPathDeps;
}

/**
 * Opens the fast path of `desc` in this thread and builds the guest function
 * over it. On failure, whatever was opened is released.
 * Throws PT_ERR_INVALID_ARGUMENT (bad descriptor or options) or the device's error.
 */
export function openGuestFunction(desc: DeviceHandleDescriptor, opts: OpenGuestFunctionOptions = {}): GuestFunction {
  const deps = opts.fastPath ?? {};
  const fp = openFastPath(desc, deps);
  try {
    const slow = createMailboxSlowPath(desc.control, {
      ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
      ...(deps.spinIterations === undefined ? {} : { spinIterations: deps.spinIterations }),
    });
    const sizeOf = (index: number): number => {
      const r = opts.regions?.find((x) => x.index === index);
      return r === undefined || !Number.isSafeInteger(r.sizeBytes) || r.sizeBytes < 0 ? 0 : r.sizeBytes;
    };
    const bars: (GuestBarPort | undefined)[] = [];
    for (let i = 0; i < 6; i++) {
      const w = fp.bars[i];
      const unmapped = sizeOf(i);
      bars.push(w ?? (unmapped > 0 ? slowBarPort(slow, i, unmapped) : undefined));
    }
    const views = new Map<number, Uint8Array | undefined>();
    const device: GuestDevice = {
      bars,
      irq: fp.irq,
      config: fp.config,
      romBytes: sizeOf(6),
      region: slow,
      ram(bar: number): Uint8Array | undefined {
        if (!views.has(bar)) views.set(bar, ramView(desc, bar, deps));
        return views.get(bar);
      },
      close: () => fp.close(),
    };
    return createGuestFunction(device, opts);
  } catch (e) {
    fp.close();
    throw PassthroughError.is(e) ? e.prepend(`guest function for ${desc.bdf}`, { bdf: desc.bdf, deviceId: desc.id }) : e;
  }
}

/** A Uint8Array over BAR `bar` when it has no trapped range (plain memory). */
function ramView(desc: DeviceHandleDescriptor, bar: number, deps: OpenFastPathDeps): Uint8Array | undefined {
  const d = desc.bars[bar];
  if (d === undefined || d.trapRanges.length !== 0) return undefined;
  if (d.buffer !== undefined) return new Uint8Array(d.buffer, 0, d.sizeBytes);
  if (d.address !== undefined && deps.viewFactory !== undefined) return new Uint8Array(deps.viewFactory(d.address, d.sizeBytes), 0, d.sizeBytes);
  return undefined;
}
