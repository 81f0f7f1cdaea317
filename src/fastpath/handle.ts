/**
 * Rebuilding a device's fast path in any thread from one posted descriptor:
 * the BAR windows (a view built in this thread), the IRQ line and the
 * config port, all over the device control block.
 */
import { invalidArgument, PassthroughError } from '../errors.js';
import { BarWindow, type BarWindowDescriptor, type SlowPath } from './bar-window.js';
import { ConfigPort, createMailboxSlowPath } from './config-port.js';
import { IrqLine } from './irq-line.js';
import { checkLayout, kBarCount, Liveness } from './layout.js';
import { livenessOf } from './liveness.js';

/** What the supervisor posts to an embedding thread. Structured-cloneable. */
export interface DeviceHandleDescriptor {
  /** Device id given by the supervisor. */
  id: string;
  /** Host function, `dddd:bb:ss.f`. */
  bdf: string;
  /** The device control block. */
  control: SharedArrayBuffer;
  /** One entry per BAR 0–5; undefined where nothing is mapped. */
  bars: (BarWindowDescriptor | undefined)[];
  /**
   * URL of the module exporting `viewAt(address, lengthBytes): ArrayBuffer`,
   * for BARs that are host addresses (linux, iokit); undefined when every BAR
   * is a SharedArrayBuffer (sim). {@link loadFastPath} loads it in the calling thread.
   */
  viewFactoryModule?: string | undefined;
}

/** Dependencies and options of {@link openFastPath}. */
export interface OpenFastPathDeps {
  /** Builds a view of native memory in this thread (real backends: koffi.view). */
  viewFactory?: (address: bigint, lengthBytes: number) => ArrayBuffer;
  /** Slow path for trapped BAR ranges (default: the control block's mailbox). */
  slowPath?: SlowPath;
  /** Timeout of each config / slow-path call in ms (default 1000). */
  timeoutMs?: number;
  /** Client spin budget of config / slow-path calls (default 0). */
  spinIterations?: number;
}

/** The fast path of one device in the calling thread. */
export interface FastPath {
  readonly id: string;
  readonly bdf: string;
  /** Windows by BAR number; undefined where nothing is mapped. */
  readonly bars: readonly (BarWindow | undefined)[];
  /** The window of BAR `i`. Throws PT_ERR_NOT_FOUND when BAR `i` has none. */
  bar(i: number): BarWindow;
  readonly irq: IrqLine;
  readonly config: ConfigPort;
  /** Releases every BAR window of this thread. Idempotent. */
  close(): void;
}

/**
 * Opens the fast path from a descriptor in any thread, on every backend:
 * loads the descriptor's view factory module when a BAR is a host address
 * (and `deps.viewFactory` is not given), then {@link openFastPath}.
 * Throws as openFastPath; PT_ERR_NOT_FOUND when the view factory module cannot be loaded.
 */
export async function loadFastPath(desc: DeviceHandleDescriptor, deps: OpenFastPathDeps = {}): Promise<FastPath> {
  checkDescriptor(desc);
  checkDeps(deps);
  const needsView = desc.bars.some((b) => b !== undefined && b.buffer === undefined);
  if (!needsView || deps.viewFactory !== undefined || desc.viewFactoryModule === undefined) return openFastPath(desc, deps);
  let viewAt: unknown;
  try {
    viewAt = ((await import(desc.viewFactoryModule)) as { viewAt?: unknown }).viewAt;
  } catch (e) {
    throw new PassthroughError('PT_ERR_NOT_FOUND', `cannot load the view factory module ${desc.viewFactoryModule}`, { deviceId: desc.id }, { cause: e });
  }
  if (typeof viewAt !== 'function') {
    throw new PassthroughError('PT_ERR_NOT_FOUND', `${desc.viewFactoryModule} exports no viewAt()`, { deviceId: desc.id });
  }
  return openFastPath(desc, { ...deps, viewFactory: viewAt as (address: bigint, lengthBytes: number) => ArrayBuffer });
}

function checkDeps(deps: OpenFastPathDeps): void {
  if (deps === null || typeof deps !== 'object') throw invalidArgument('deps', deps, 'fast-path deps must be an object');
  if (deps.viewFactory !== undefined && typeof deps.viewFactory !== 'function') throw invalidArgument('viewFactory', deps.viewFactory, 'viewFactory must be a function');
}

function checkDescriptor(desc: DeviceHandleDescriptor): void {
  if (desc === null || typeof desc !== 'object') {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'a fast-path descriptor must be an object (DeviceHandle.descriptor())', { descriptor: String(desc) });
  }
  checkLayout(desc.control);
  if (livenessOf(desc.control) === Liveness.DETACHED) {
    throw new PassthroughError('PT_ERR_NOT_ATTACHED', `device ${String(desc.id)} is detached`, { deviceId: String(desc.id) });
  }
  if (!Array.isArray(desc.bars) || desc.bars.length > kBarCount) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'descriptor must list at most 6 BARs', { deviceId: desc.id });
  }
}

/**
 * Opens every mapped BAR, the IRQ line and the config port from a descriptor.
 * BARs that are host addresses need `deps.viewFactory`, or use {@link loadFastPath}.
 * On failure, windows already opened are released.
 * Throws PT_ERR_INVALID_ARGUMENT (bad descriptor), PT_ERR_BAR_RELEASED (a BAR was revoked),
 * PT_ERR_NOT_ATTACHED (the device was detached).
 */
export function openFastPath(desc: DeviceHandleDescriptor, deps: OpenFastPathDeps = {}): FastPath {
  checkDescriptor(desc);
  checkDeps(deps);
  const clientOpts = {
    ...(deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs }),
    ...(deps.spinIterations === undefined ? {} : { spinIterations: deps.spinIterations }),
  };
  const slowPath = deps.slowPath ?? createMailboxSlowPath(desc.control, clientOpts);
  const bars: (BarWindow | undefined)[] = [];
  try {
    for (let i = 0; i < kBarCount; i++) {
      const d = desc.bars[i];
      if (d !== undefined && d.bar !== i) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `descriptor slot ${i} describes BAR${d.bar}`, {
          deviceId: desc.id,
          region: i,
        });
      }
      bars.push(
        d === undefined
          ? undefined
          : BarWindow.open({ ...d, control: desc.control }, {
              slowPath,
              ...(deps.viewFactory === undefined ? {} : { viewFactory: deps.viewFactory }),
            }),
      );
    }
  } catch (e) {
    for (const w of bars) w?.release();
    throw PassthroughError.is(e) ? e.prepend(`device ${desc.id}`, { deviceId: desc.id, bdf: desc.bdf }) : e;
  }
  const irq = new IrqLine(desc.control);
  const config = new ConfigPort(desc.control, clientOpts);
  return {
    id: desc.id,
    bdf: desc.bdf,
    bars,
    bar(i: number): BarWindow {
      const w = bars[i];
      if (w === undefined) {
        throw new PassthroughError('PT_ERR_NOT_FOUND', `device ${desc.id} has no window on BAR${i}`, {
          deviceId: desc.id,
          region: i,
        });
      }
      return w;
    },
    irq,
    config,
    close(): void {
      for (const w of bars) w?.release();
    },
  };
}
