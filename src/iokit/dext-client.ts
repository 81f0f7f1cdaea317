/**
 * The dext backend over IOKit through koffi (spec §2 "Client", §3, §4
 * "Client"): {@link createIokitDextDriver} enumerates the VFIOUserPCIDriver
 * instances and opens a user client on one; {@link IokitDextClient}
 * (dext-user-client.ts) turns every selector into one IOConnectCallMethod
 * (scalars only) and every memory type into one IOConnectMapMemory64.
 *
 * Connect follows the later original ([G] apple_dext_connect_with_root):
 * every instance is identified, because Apple Silicon repeats a BDF under
 * several host roots; a BDF found under more than one root needs
 * `hostRoot` (the registry name of the topmost IOPCIDevice above the
 * instance), and is refused with the original's text without it.
 *
 * Interrupts: the one-shot WaitInterrupt is armed with
 * IOConnectCallAsyncMethod on the connection's own IONotificationPort and
 * its completion is received with mach_msg, never through a JS callback or
 * koffi `.async` (eco §2.3):
 * - {@link IokitDextClient.waitInterruptBlocking} blocks the calling thread
 *   (a dedicated IRQ pump worker) up to a finite timeout;
 * - {@link wakeInterruptWaiter} (any thread; the supervisor or the main
 *   thread) wakes it by sending a message to its {@link IokitDextClient.wakePort};
 * - the contract's promise-based `waitInterrupt()` polls the port (timeout 0)
 *   on a short timer, for callers that cannot block.
 * The dext keeps one completion per connection: use one waiter per connection.
 *
 * Nothing is loaded at import time: koffi and the libraries are loaded by
 * {@link createIokitDextDriver} (or {@link attachIokitConnection} /
 * {@link wakeInterruptWaiter}).
 */
import { PassthroughError } from '../errors.js';
import { parseBdf, formatBdf, shortBdf, type Bdf } from '../types.js';
import { MACOS_LIBRARY_PATHS, kIOMainPortDefault, loadIokitBindings, type IokitBindings, type IokitLibraryPaths } from './bindings.js';
import {
  IOReturn,
  ioReturnName,
  type DextClient,
  type DextConnectOptions,
  type DextDriver,
  type DextIdentity,
  type DextService,
} from '../dext/contract.js';
import { IokitDextClient } from './dext-user-client.js';
import { sendWake } from './notify-port.js';
import { forEachObject, hostRootName, stringProperty } from './registry.js';

/** Options of {@link createIokitDextDriver}. */
export interface IokitDextDriverOptions {
  /** TEST-ONLY: load these libraries (the C stand-in) instead of the macOS frameworks. */
  libraries?: IokitLibraryPaths;
  /** Poll period of the promise-based waitInterrupt, in ms (default 1). */
  pollIntervalMs?: number;
}

/** The `IOUserClass` of the dext instances. */
export const DEXT_USER_CLASS = 'VFIOUserPCIDriver';
export { IokitDextClient } from './dext-user-client.js';

function bindingsFor(libraries: IokitLibraryPaths | undefined): IokitBindings {
  if (libraries === undefined && process.platform !== 'darwin') {
    throw new PassthroughError('PT_ERR_PLATFORM', `the dext backend is macOS-only (this is ${process.platform})`, {
      platform: process.platform,
    });
  }
  return loadIokitBindings(libraries ?? MACOS_LIBRARY_PATHS);
}


/**
 * The IOKit dext driver. On macOS loads IOKit, CoreFoundation and libSystem
 * by framework path; `opts.libraries` (TEST-ONLY) loads the C stand-in on
 * any platform. Throws PT_ERR_PLATFORM off macOS without `libraries`,
 * PT_ERR_NOT_SUPPORTED when koffi or a library cannot load.
 */
export function createIokitDextDriver(opts: IokitDextDriverOptions = {}): DextDriver {
  const b = bindingsFor(opts.libraries);
  const pollMs = opts.pollIntervalMs ?? 1;

  /** Visits every IOUserService whose IOUserClass is the dext's. */
  const forEachDext = (visit: (service: number) => boolean | void): void => {
    const matching = b.IOServiceMatching('IOUserService');
    if (matching === 0n) throw new PassthroughError('PT_ERR_CONNECT_FAILED', 'IOServiceMatching failed');
    const it = new Uint32Array(1);
    // IOServiceGetMatchingServices consumes the matching dictionary, even on failure.
    const kr = b.IOServiceGetMatchingServices(kIOMainPortDefault, matching, it);
    if (kr !== IOReturn.Success) {
      throw new PassthroughError('PT_ERR_CONNECT_FAILED', `IOServiceGetMatchingServices failed: ${ioReturnName(kr)}`, {
        kernReturn: kr >>> 0,
      });
    }
    forEachObject(b, it[0]!, (svc) => (stringProperty(b, svc, 'IOUserClass') === DEXT_USER_CLASS ? visit(svc) : false));
  };

  /** IOServiceOpen type 0; returns the connection or the failure. */
  const open = (svc: number): { conn: number } | { kr: number } => {
    const out = new Uint32Array(1);
    const kr = b.IOServiceOpen(svc, b.machTaskSelf(), 0, out);
    return kr === IOReturn.Success ? { conn: out[0]! } : { kr };
  };

  /** Opens `svc` and reads its identity; the connection stays open (undefined when it cannot answer). */
  const probe = (svc: number): { client: IokitDextClient; identity: DextIdentity } | { kr: number } | undefined => {
    const r = open(svc);
    if (!('conn' in r)) return r;
    const client = new IokitDextClient(b, r.conn, '0000:00:00.0' as Bdf, true, pollMs);
    try {
      return { client, identity: client.getIdentity() };
    } catch {
      client.close(); // an instance that cannot answer GetIdentity is not a candidate
      return undefined;
    }
  };

  return {
    listServices(): DextService[] {
      const services: DextService[] = [];
      forEachDext((svc) => {
        const p = probe(svc);
        if (p === undefined || !('client' in p)) return;
        p.client.close();
        const hostRoot = hostRootName(b, svc);
        services.push({
          bdf: formatBdf({ domain: 0, ...bdfOf(p.identity) }),
          identity: p.identity,
          ...(hostRoot === undefined ? {} : { hostRoot }),
        });
      });
      return services;
    },

    connect(bdf: Bdf, options: DextConnectOptions = {}): DextClient {
      const want = parseBdf(bdf);
      const full = formatBdf(want);
      const short = shortBdf(want);
      // Every instance of the BDF is a candidate ([G] apple_dext_connect_with_root): a BDF may
      // repeat under several host roots, and only the caller's host root can tell them apart.
      const candidates: { client: IokitDextClient; root: string }[] = [];
      let openFailure: number | undefined;
      forEachDext((svc) => {
        const p = probe(svc);
        if (p === undefined) return;
        if (!('client' in p)) {
          openFailure ??= p.kr >>> 0;
          return;
        }
        const id = p.identity;
        // The dext identity has no domain: only domain 0 can match (spec §9: BDFs repeat across roots).
        if (want.domain === 0 && id.bus === want.bus && id.device === want.device && id.function === want.function) {
          candidates.push({ client: p.client, root: hostRootName(b, svc) ?? '?' });
        } else {
          p.client.close(); // IOServiceClose on every non-matching instance
        }
      });
      const roots = candidates.map((c) => c.root);
      let chosen: IokitDextClient | undefined;
      let refusal: PassthroughError | undefined;
      if (candidates.length > 0 && options.hostRoot === undefined) {
        if (candidates.length === 1) chosen = candidates[0]!.client;
        else {
          refusal = new PassthroughError(
            'PT_ERR_CONNECT_FAILED',
            `${short} is claimed by ${candidates.length} VFIOUserPCIDriver instances (${roots.join(', ')}); add host-root=<name> to disambiguate`,
            { bdf: full, hostRoots: roots },
          );
        }
      } else if (candidates.length > 0) {
        chosen = candidates.find((c) => c.root === options.hostRoot)?.client;
        if (chosen === undefined) {
          refusal = new PassthroughError(
            'PT_ERR_CONNECT_FAILED',
            `no VFIOUserPCIDriver instance for ${short} under root '${options.hostRoot}' (found under: ${roots.join(', ')})`,
            { bdf: full, hostRoot: options.hostRoot, hostRoots: roots },
          );
        }
      }
      for (const c of candidates) if (c.client !== chosen) c.client.close();
      if (refusal !== undefined) throw refusal;
      if (chosen !== undefined) return chosen.rebind(full);
      throw new PassthroughError(
        'PT_ERR_CONNECT_FAILED',
        `vfio-apple: could not connect to dext for host PCI ${full}`,
        { bdf: full, kernReturn: IOReturn.NotFound, ...(openFailure !== undefined ? { openKernReturn: openFailure } : {}) },
      );
    },
  } satisfies DextDriver;
}

function bdfOf(id: DextIdentity): { bus: number; device: number; function: number } {
  return { bus: id.bus, device: id.device & 0x1f, function: id.function & 0x7 };
}

/**
 * Wraps an io_connect_t opened elsewhere in this process (port names are
 * per task, so a number posted from another thread works) without owning
 * it: close() drops only this thread's notification port and views. Lets an
 * IRQ pump worker wait on the supervisor's connection.
 */
export function attachIokitConnection(
  connection: number,
  bdf: Bdf,
  opts: IokitDextDriverOptions = {},
): IokitDextClient {
  return new IokitDextClient(bindingsFor(opts.libraries), connection, bdf, false, opts.pollIntervalMs ?? 1);
}

/**
 * Wakes a thread blocked in {@link IokitDextClient.waitInterruptBlocking}
 * on port `portName` (its `wakePort`) from any thread of the process: sends
 * one message, never blocks. The woken wait returns `IOReturn.Aborted`; a
 * wake sent while nobody waits ends the next wait at once. Returns false
 * when the port no longer exists.
 */
export function wakeInterruptWaiter(portName: number, opts: Pick<IokitDextDriverOptions, 'libraries'> = {}): boolean {
  return sendWake(bindingsFor(opts.libraries), portName);
}
