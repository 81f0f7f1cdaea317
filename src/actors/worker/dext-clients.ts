/**
 * The function's dext connections as the device worker holds them, for the
 * backends that speak the dext protocol (sim, iokit):
 * - the **shared connection**: the one the container published at attach
 *   (the opener's claim). Other holders take a reference on it (the DMA
 *   companion, `DeviceHandle.dext({ shared: true })`); the last release
 *   closes it. Every change is reported with its refcount and holders, so the
 *   supervisor's `inspect()` shows one connection per function and who holds it.
 * - **own user clients**: further `IOServiceOpen`s on the same function
 *   (`DeviceHandle.dext()`), whose claims are secondary, as in the original
 *   when a second client connects; closing the opener no longer strands them
 *   (the sim's fix, documented in src/sim/DEVIATIONS.md).
 * - the **DMA companion** (apple-dma-pci), realized over the shared
 *   connection with the embedder's guest RAM; the vCPU thread reaches its
 *   BAR0 through the mailbox as pseudo-BAR COMPANION_BAR (protocol.ts).
 */
import type { DextWorkerBackend } from '../../apple/backend.js';
import type { ConnectionHandle } from '../../apple/connection-table.js';
import type { DmaCompanion } from '../../apple/dma-companion.js';
import type { DextClient } from '../../dext/contract.js';
import { PassthroughError } from '../../errors.js';
import { parseBdf, type Bdf, type HostVa } from '../../types.js';
import { COMPANION_BAR, type DextMethod, type DmaCompanionRequest } from '../protocol.js';


/** Holder name of the container's own reference. */
const DEVICE_HOLDER = 'device';

type Arg = number | bigint;

/** Calls `method` on `client` with `args`, checking the arity and argument kinds first. */
function callMethod(client: DextClient, method: DextMethod, args: Arg[]): unknown {
  const want = (kinds: ('number' | 'bigint')[]): void => {
    if (args.length !== kinds.length || kinds.some((k, i) => typeof args[i] !== k)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${method} takes (${kinds.join(', ')})`, { method, args: args.map(String) });
    }
  };
  switch (method) {
    case 'identity':
      want([]);
      return client.getIdentity();
    case 'claim':
      want([]);
      return client.claim();
    case 'configRead':
      want(['number', 'number']);
      return client.configRead(args[0] as number, args[1] as number);
    case 'configWrite':
      want(['number', 'number', 'number']);
      return client.configWrite(args[0] as number, args[1] as number, args[2] as number);
    case 'getBarInfo':
      want(['number']);
      return client.getBarInfo(args[0] as number);
    case 'mmioRead':
      want(['number', 'bigint', 'number']);
      return client.mmioRead(args[0] as number, args[1] as bigint, args[2] as number);
    case 'mmioWrite':
      want(['number', 'bigint', 'number', 'bigint']);
      return client.mmioWrite(args[0] as number, args[1] as bigint, args[2] as number, args[3] as bigint);
    case 'registerDmaRegion':
      want(['bigint', 'bigint', 'bigint']);
      return client.registerDmaRegion(args[0] as bigint, args[1] as bigint, args[2] as bigint);
    case 'unregisterDmaRegion':
      want(['bigint']);
      return client.unregisterDmaRegion(args[0] as bigint);
    case 'probeDmaRegion':
      want(['bigint', 'bigint']);
      return client.probeDmaRegion(args[0] as bigint, args[1] as bigint);
    case 'resetDevice':
      want([]);
      return client.resetDevice();
    default:
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `unknown dext method "${String(method)}"`, { method });
  }
}

type Entry = { kind: 'shared'; handle: ConnectionHandle; holder: string } | { kind: 'own'; client: DextClient; holder: string };

/** The dext connections of one attached function. */
export class DextClients {
  readonly #backend: DextWorkerBackend;
  readonly #bdf: Bdf;
  readonly #report: (refs: number, holders: string[]) => void;
  readonly #entries = new Map<number, Entry>();
  #nextId = 1;
  #companion: { companion: DmaCompanion; exposures: HostVa[] } | undefined;

  constructor(backend: DextWorkerBackend, bdf: Bdf, report: (refs: number, holders: string[]) => void) {
    this.#backend = backend;
    this.#bdf = bdf;
    this.#report = report;
  }

  /** References on the shared connection (0 once it is closed). */
  get refs(): number {
    return this.#backend.table.refs(this.#bdf);
  }

  /** Who holds the shared connection, the container first. */
  holders(): string[] {
    if (this.refs === 0) return [];
    const out = [DEVICE_HOLDER];
    if (this.#companion?.companion.connection === 'shared') out.push('companion');
    for (const e of this.#entries.values()) if (e.kind === 'shared') out.push(e.holder);
    return out;
  }

  /** Posts the current refcount and holders. */
  report(): void {
    this.#report(this.refs, this.holders());
  }

  /**
   * Opens a client: `shared` takes a reference on the published connection
   * (PT_ERR_NOT_FOUND when none is published), otherwise a new user client
   * connects (not claimed: call `claim` through it). Returns its id.
   */
  open(shared: boolean, holder: string): number {
    let entry: Entry;
    if (shared) {
      const handle = this.#backend.table.acquire(this.#bdf);
      if (handle === undefined) {
        throw new PassthroughError('PT_ERR_NOT_FOUND', `no published dext connection for ${this.#bdf}`, { bdf: this.#bdf });
      }
      entry = { kind: 'shared', handle, holder };
    } else {
      entry = { kind: 'own', client: this.#backend.driver.connect(this.#bdf), holder };
    }
    const id = this.#nextId++;
    this.#entries.set(id, entry);
    if (shared) this.report();
    return id;
  }

  /** One selector on client `id`. Throws PT_ERR_NOT_FOUND for an unknown or closed id. */
  call(id: number, method: DextMethod, args: Arg[]): unknown {
    const e = this.#entries.get(id);
    if (e === undefined) throw new PassthroughError('PT_ERR_NOT_FOUND', `no open dext client ${id}`, { client: id, bdf: this.#bdf });
    const client = e.kind === 'shared' ? e.handle.client : e.client;
    if (!client.connected) throw new PassthroughError('PT_ERR_NO_CONNECTION', `dext client ${id} of ${this.#bdf} is closed`, { client: id, bdf: this.#bdf });
    return callMethod(client, method, args);
  }

  /** Releases (shared) or closes (own) client `id`. Unknown ids are ignored (idempotent). */
  close(id: number): void {
    const e = this.#entries.get(id);
    if (e === undefined) return;
    this.#entries.delete(id);
    if (e.kind === 'shared') {
      e.handle.release();
      this.report();
    } else e.client.close();
  }

  /**
   * Realizes the function's DMA companion over the shared connection and
   * `req`'s guest RAM (each slot exposed to the backend). Throws
   * PT_ERR_INVALID_STATE when one exists, the companion's errors otherwise.
   */
  async realizeCompanion(req: DmaCompanionRequest): Promise<DmaCompanion> {
    if (this.#companion !== undefined) throw new PassthroughError('PT_ERR_INVALID_STATE', 'the DMA companion is already realized', { bdf: this.#bdf });
    // Loaded on first use: most devices never get a companion, and their workers never load it.
    const { DmaCompanion, SabGuestMemory } = await import('../../apple/dma-companion.js');
    const exposures: HostVa[] = [];
    try {
      const memory = new SabGuestMemory();
      for (const slot of req.guestRam) {
        const hostVa = this.#backend.exposeHostMemory(slot.buffer, slot.offsetBytes, slot.lengthBytes);
        exposures.push(hostVa);
        memory.addSlot({ ...slot, hostVa });
      }
      const p = parseBdf(this.#bdf);
      const companion = DmaCompanion.realize({
        managedBdf: req.managedBdf ?? ((p.bus << 8) | (p.device << 3) | p.function),
        host: { domain: p.domain, bus: p.bus, device: p.device, function: p.function },
        driver: this.#backend.driver,
        table: this.#backend.table,
        guestMemory: memory,
        ...(req.maxEntries === undefined ? {} : { maxEntries: req.maxEntries }),
      });
      this.#companion = { companion, exposures };
      this.report();
      return companion;
    } catch (e) {
      for (const va of exposures) this.#backend.unexposeHostMemory(va);
      throw e;
    }
  }

  /** The companion's BAR0 (PT_ERR_NOT_FOUND without one). */
  companion(): DmaCompanion {
    const c = this.#companion?.companion;
    if (c === undefined) throw new PassthroughError('PT_ERR_NOT_FOUND', `${this.#bdf} has no DMA companion`, { bdf: this.#bdf, region: COMPANION_BAR });
    return c;
  }

  /**
   * Teardown, before the container detaches: the companion drops its
   * reference (its mappings go with the connection), every shared handle is
   * released and every own client closed. Errors go to `onError`; the rest still runs.
   */
  closeAll(onError: (e: unknown) => void): void {
    const c = this.#companion;
    this.#companion = undefined;
    if (c !== undefined) {
      try {
        c.companion.disconnect();
      } catch (e) {
        onError(e);
      }
      for (const va of c.exposures) {
        try {
          this.#backend.unexposeHostMemory(va);
        } catch (e) {
          onError(e);
        }
      }
    }
    for (const id of [...this.#entries.keys()]) {
      try {
        this.close(id);
      } catch (e) {
        onError(e);
      }
    }
  }
}
