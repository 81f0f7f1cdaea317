/**
 * The `apple-dma-pci` companion (hw/vfio/apple-dma.c, RFC 09/10; spec §6
 * and §7 rules 13–14): a paravirtual function whose guest driver batches
 * DMA map/unmap requests in guest memory and rings a doorbell; each entry
 * becomes RegisterDMARegion (key = GPA, clientVA = the HVA of the GPA) or
 * UnregisterDMARegion on the managed function's dext connection.
 *
 * The connection is the container's published one (table.acquire) when
 * there is one, else the companion connects and claims on its own (a
 * secondary client). Without a connection every map is an identity map.
 */
import { PassthroughError } from '../errors.js';
import { trace } from '../trace.js';
import { formatBdf, shortBdf, type Bdf, type Iova } from '../types.js';
import type { ConnectionHandle, ConnectionTable } from './connection-table.js';
import type { DextClient, DextDriver } from '../dext/contract.js';
import type { GuestMemory } from './guest-memory.js';

export type { GuestMemory } from './guest-memory.js';
export { SabGuestMemory } from './guest-memory.js';

/** Interface version in the VERSION register. */
export const DMA_COMPANION_VERSION = 2;
/** Size of BAR0 in bytes. */
export const DMA_COMPANION_BAR_BYTES = 4096;
/** Default MAX_ENTRIES. */
export const DMA_COMPANION_DEFAULT_MAX_ENTRIES = 4096;

/** BAR0 register offsets (4-byte little-endian accesses). */
export const DmaReg = {
  VERSION: 0x00,
  MANAGED_BDF: 0x04,
  MAX_ENTRIES: 0x08,
  STATUS: 0x0c,
  CMD_GPA_LO: 0x10,
  CMD_GPA_HI: 0x14,
  DOORBELL: 0x18,
} as const;

/** Command types. */
export const DmaCmd = { MAP: 1, UNMAP: 2 } as const;
/** Status codes (command page, STATUS register, response entries). */
export const DmaStatus = { OK: 0, IOERR: 1, INVAL: 3 } as const;

/** The 32-byte command page. */
export const DmaCmdPage = {
  TYPE: 0x00,
  COUNT: 0x04,
  STATUS: 0x08,
  REQ_GPA: 0x10,
  RESP_GPA: 0x18,
  sizeBytes: 32,
} as const;

/** Entry layouts (packed little endian). */
export const DmaEntry = {
  /** Map request: gpa u64 @0, len u32 @8, flags u32 @12. */
  MAP_REQ_BYTES: 16,
  /** Map response: id u64 @0 (= gpa), dma_addr u64 @8, dma_len u32 @16, status u32 @20. */
  MAP_RESP_BYTES: 24,
  MAP_RESP_STATUS: 20,
  /** Unmap request: id u64 @0, size u64 @8 (unused). */
  UNMAP_REQ_BYTES: 16,
  /** Unmap response: id u64 @0, status u32 @8, reserved u32 @12. */
  UNMAP_RESP_BYTES: 16,
  UNMAP_RESP_STATUS: 8,
} as const;

/** The companion's host-function properties (x-apple-host-*); undefined = the original's UINT32_MAX default. */
export interface DmaCompanionHost {
  /** PCI domain (the original has none; default 0). */
  domain?: number;
  bus?: number;
  device?: number;
  function?: number;
}

/** Options of {@link DmaCompanion.realize}. */
export interface DmaCompanionOptions {
  /** `managed-bdf`: (guest bus << 8) | devfn of the managed function. */
  managedBdf: number;
  /** x-apple-host-bus / -device / -function. */
  host: DmaCompanionHost;
  /** For the companion's own connection when nothing is published. */
  driver: DextDriver;
  /** Where the container publishes its connection. */
  table: ConnectionTable;
  /** Guest RAM. */
  guestMemory: GuestMemory;
  /** MAX_ENTRIES (default 4096). */
  maxEntries?: number;
}

/** How the companion reaches the dext. */
export type DmaCompanionConnection = 'shared' | 'own' | 'none';

function u32(v: number): number {
  return v >>> 0;
}

/** One apple-dma-pci function. */
export class DmaCompanion {
  /** `managed-bdf`. */
  readonly managedBdf: number;
  /** The host function it maps for. */
  readonly hostBdf: Bdf;
  /** MAX_ENTRIES. */
  readonly maxEntries: number;
  readonly #memory: GuestMemory;
  #handle: ConnectionHandle | undefined;
  #own: DextClient | undefined;
  #status: number = DmaStatus.OK;
  #cmdGpa = 0n;

  private constructor(opts: DmaCompanionOptions, hostBdf: Bdf) {
    this.managedBdf = opts.managedBdf & 0xffff;
    this.hostBdf = hostBdf;
    this.maxEntries = opts.maxEntries ?? DMA_COMPANION_DEFAULT_MAX_ENTRIES;
    this.#memory = opts.guestMemory;
  }

  /**
   * Realizes a companion: checks the host properties, then reuses the
   * published connection (a reference) or connects + claims on its own.
   * Throws PT_ERR_INVALID_ARGUMENT (missing host b/d/f), PT_ERR_CONNECT_FAILED,
   * PT_ERR_CLAIM_FAILED; a failure leaves no reference or claim.
   */
  static realize(opts: DmaCompanionOptions): DmaCompanion {
    const { bus, device, function: fn } = opts.host;
    const valid = (v: number | undefined, max: number) => v !== undefined && Number.isInteger(v) && v >= 0 && v <= max;
    if (!valid(bus, 0xff) || !valid(device, 0x1f) || !valid(fn, 7)) {
      throw new PassthroughError(
        'PT_ERR_INVALID_ARGUMENT',
        'apple-dma: requires x-apple-host-bus, x-apple-host-device, and x-apple-host-function',
        { managedBdf: opts.managedBdf, host: { ...opts.host } },
      );
    }
    const parts = { domain: opts.host.domain ?? 0, bus: bus!, device: device!, function: fn! };
    const hostBdf = formatBdf(parts);
    const companion = new DmaCompanion(opts, hostBdf);
    const handle = opts.table.acquire(hostBdf);
    if (handle !== undefined) {
      companion.#handle = handle;
      return companion;
    }
    const host = shortBdf(parts);
    let client: DextClient;
    try {
      client = opts.driver.connect(hostBdf);
    } catch (e) {
      throw new PassthroughError('PT_ERR_CONNECT_FAILED', `apple-dma: could not connect to dext for host PCI ${host}`, { bdf: hostBdf }, { cause: e });
    }
    try {
      client.claim();
    } catch (e) {
      client.close();
      const kr = ((PassthroughError.is(e) ? e.kernReturn : undefined) ?? 0) >>> 0;
      throw new PassthroughError(
        'PT_ERR_CLAIM_FAILED',
        `apple-dma: failed to claim dext-backed PCI device ${host} (kr=0x${kr.toString(16)})`,
        { bdf: hostBdf, kernReturn: kr },
        { cause: e },
      );
    }
    companion.#own = client;
    return companion;
  }

  /** 'shared' (the container's connection), 'own' (a secondary client) or 'none'. */
  get connection(): DmaCompanionConnection {
    if (this.#handle !== undefined) return 'shared';
    if (this.#own !== undefined) return 'own';
    return 'none';
  }

  /** The STATUS register. */
  get status(): number {
    return this.#status;
  }

  #client(): DextClient | undefined {
    const c = this.#handle?.client ?? this.#own;
    return c !== undefined && c.connected ? c : undefined;
  }

  /**
   * Reads a BAR0 register. Accesses are 4 bytes wide; other widths throw
   * PT_ERR_BAD_WIDTH. Unknown offsets read 0.
   */
  mmioRead(offsetBytes: number, width = 4): number {
    this.#checkAccess(offsetBytes, width);
    switch (offsetBytes) {
      case DmaReg.VERSION:
        return DMA_COMPANION_VERSION;
      case DmaReg.MANAGED_BDF:
        return this.managedBdf;
      case DmaReg.MAX_ENTRIES:
        return this.maxEntries;
      case DmaReg.STATUS:
        return this.#status;
      default:
        return 0;
    }
  }

  /** Writes a BAR0 register; any write to DOORBELL runs the command. Writes elsewhere are ignored. */
  mmioWrite(offsetBytes: number, width: number, value: number): void {
    this.#checkAccess(offsetBytes, width);
    switch (offsetBytes) {
      case DmaReg.CMD_GPA_LO:
        this.#cmdGpa = (this.#cmdGpa & 0xffffffff00000000n) | BigInt(u32(value));
        break;
      case DmaReg.CMD_GPA_HI:
        this.#cmdGpa = (this.#cmdGpa & 0xffffffffn) | (BigInt(u32(value)) << 32n);
        break;
      case DmaReg.DOORBELL:
        this.doorbell();
        break;
      default:
        break;
    }
  }

  #checkAccess(offsetBytes: number, width: number): void {
    if (width !== 4) {
      throw new PassthroughError('PT_ERR_BAD_WIDTH', `apple-dma: BAR0 access width ${width} is not 4`, { offsetBytes, width });
    }
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + 4 > DMA_COMPANION_BAR_BYTES) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `apple-dma: BAR0 access at 0x${offsetBytes.toString(16)} outside 4 KiB`, {
        offsetBytes,
        width,
      });
    }
  }

  /** Runs the command page at CMD_GPA (the doorbell). Returns the batch status, also left in STATUS. */
  doorbell(): number {
    const cmdGpa = this.#cmdGpa;
    const page = cmdGpa === 0n ? undefined : this.#memory.read(cmdGpa, DmaCmdPage.sizeBytes);
    if (page === undefined) {
      this.#status = DmaStatus.INVAL; // the page is not updated
      return this.#status;
    }
    const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
    const type = dv.getUint32(DmaCmdPage.TYPE, true);
    const count = dv.getUint32(DmaCmdPage.COUNT, true);
    const reqGpa = dv.getBigUint64(DmaCmdPage.REQ_GPA, true);
    const respGpa = dv.getBigUint64(DmaCmdPage.RESP_GPA, true);
    const status = this.#runBatch(type, count, reqGpa, respGpa);
    this.#status = status;
    const st = new Uint8Array(4);
    new DataView(st.buffer).setUint32(0, status, true);
    this.#memory.write(cmdGpa + BigInt(DmaCmdPage.STATUS), st);
    return status;
  }

  #runBatch(type: number, count: number, reqGpa: bigint, respGpa: bigint): number {
    const sizes =
      type === DmaCmd.MAP
        ? [DmaEntry.MAP_REQ_BYTES, DmaEntry.MAP_RESP_BYTES]
        : type === DmaCmd.UNMAP
          ? [DmaEntry.UNMAP_REQ_BYTES, DmaEntry.UNMAP_RESP_BYTES]
          : undefined;
    if (sizes === undefined || count === 0 || count > this.maxEntries || reqGpa === 0n || respGpa === 0n) return DmaStatus.INVAL;
    const [reqBytes, respBytes] = sizes as [number, number];
    // Both arrays must be host-contiguous (the original maps each with one
    // address_space_map and refuses a short mapping).
    if (this.#memory.hostVa(reqGpa, count * reqBytes) === undefined) return DmaStatus.INVAL;
    if (this.#memory.hostVa(respGpa, count * respBytes) === undefined) return DmaStatus.INVAL;
    const req = this.#memory.read(reqGpa, count * reqBytes);
    const resp = this.#memory.read(respGpa, count * respBytes);
    if (req === undefined || resp === undefined) return DmaStatus.INVAL;
    const rq = new DataView(req.buffer, req.byteOffset, req.byteLength);
    const rs = new DataView(resp.buffer, resp.byteOffset, resp.byteLength);
    const client = this.#client();
    let batch: number = DmaStatus.OK;
    for (let i = 0; i < count; i++) {
      const q = i * reqBytes;
      const r = i * respBytes;
      if (type === DmaCmd.MAP) {
        const gpa = rq.getBigUint64(q, true);
        const len = rq.getUint32(q + 8, true);
        const mapped = this.#mapOne(client, gpa, len);
        if (mapped === undefined) {
          rs.setUint32(r + DmaEntry.MAP_RESP_STATUS, DmaStatus.IOERR, true); // other fields untouched
          batch = DmaStatus.IOERR;
          continue;
        }
        rs.setBigUint64(r, gpa, true);
        rs.setBigUint64(r + 8, mapped.busAddr, true);
        rs.setUint32(r + 16, mapped.lenBytes, true);
        rs.setUint32(r + DmaEntry.MAP_RESP_STATUS, DmaStatus.OK, true);
      } else {
        const id = rq.getBigUint64(q, true);
        if (!this.#unmapOne(client, id)) {
          rs.setUint32(r + DmaEntry.UNMAP_RESP_STATUS, DmaStatus.IOERR, true);
          batch = DmaStatus.IOERR;
          continue;
        }
        rs.setBigUint64(r, id, true);
        rs.setUint32(r + DmaEntry.UNMAP_RESP_STATUS, DmaStatus.OK, true);
        rs.setUint32(r + 12, 0, true);
      }
    }
    this.#memory.write(respGpa, resp);
    return batch;
  }

  #mapOne(client: DextClient | undefined, gpa: bigint, len: number): { busAddr: bigint; lenBytes: number } | undefined {
    if (client === undefined) return { busAddr: gpa, lenBytes: len }; // no connection: identity map
    const hva = len === 0 ? undefined : this.#memory.hostVa(gpa, len);
    if (hva === undefined) return undefined;
    try {
      const info = client.registerDmaRegion(gpa, hva, BigInt(len));
      trace('pcipt:dma:map', { bdf: this.hostBdf, key: gpa, busAddr: info.busAddr, sizeBytes: len, kernReturn: 0 });
      return { busAddr: info.busAddr, lenBytes: Number(info.busLen > 0xffffffffn ? 0xffffffffn : info.busLen) };
    } catch (e) {
      trace('pcipt:dma:map', { bdf: this.hostBdf, key: gpa as Iova, sizeBytes: len, kernReturn: PassthroughError.is(e) ? e.kernReturn : undefined });
      return undefined;
    }
  }

  #unmapOne(client: DextClient | undefined, id: bigint): boolean {
    if (client === undefined) return true;
    try {
      client.unregisterDmaRegion(id);
      trace('pcipt:dma:unmap', { bdf: this.hostBdf, key: id, kernReturn: 0 });
      return true;
    } catch (e) {
      trace('pcipt:dma:unmap', { bdf: this.hostBdf, key: id, kernReturn: PassthroughError.is(e) ? e.kernReturn : undefined });
      return false;
    }
  }

  /**
   * Drops the connection (unrealize): the shared reference is released (the
   * last one closes), an own client is closed. Later batches identity-map.
   * Idempotent.
   */
  disconnect(): void {
    const handle = this.#handle;
    const own = this.#own;
    this.#handle = undefined;
    this.#own = undefined;
    handle?.release();
    own?.close();
  }
}

/** A registry entry: the companion and whether a parent created it. */
export interface DmaCompanionEntry {
  readonly companion: DmaCompanion;
  /** True when {@link DmaCompanionRegistry.ensure} created it for a parent (rule 14). */
  readonly autoCreated: boolean;
}

/**
 * The companions of one machine, keyed by managed function (what QEMU
 * finds by walking the root bus for apple-dma-pci with the same
 * managed-bdf and host b/d/f).
 */
export class DmaCompanionRegistry {
  readonly #entries: DmaCompanionEntry[] = [];

  /** The companion with this managed-bdf and host function, if any. */
  find(managedBdf: number, hostBdf: Bdf): DmaCompanionEntry | undefined {
    return this.#entries.find((e) => e.companion.managedBdf === (managedBdf & 0xffff) && e.companion.hostBdf === hostBdf);
  }

  /** Registers a companion the user created (never removed by a parent's exit). */
  add(companion: DmaCompanion): DmaCompanionEntry {
    const entry = { companion, autoCreated: false };
    this.#entries.push(entry);
    return entry;
  }

  /**
   * Rule 14: after the parent's realize, reuse a matching companion or
   * realize one and mark it auto-created. A realize failure propagates (the
   * parent then exits).
   */
  ensure(opts: DmaCompanionOptions): DmaCompanionEntry {
    const { bus, device, function: fn } = opts.host;
    if (bus !== undefined && device !== undefined && fn !== undefined) {
      const hostBdf = formatBdf({ domain: opts.host.domain ?? 0, bus, device, function: fn });
      const found = this.find(opts.managedBdf, hostBdf);
      if (found !== undefined) return found;
    }
    const entry = { companion: DmaCompanion.realize(opts), autoCreated: true };
    this.#entries.push(entry);
    return entry;
  }

  /** The parent's exit: removes (and disconnects) the companion only if it was auto-created. Returns true when removed. */
  release(entry: DmaCompanionEntry): boolean {
    if (!entry.autoCreated) return false;
    const i = this.#entries.indexOf(entry);
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    entry.companion.disconnect();
    return true;
  }

  /** Removes a user-created companion (its own unplug). */
  remove(companion: DmaCompanion): void {
    const i = this.#entries.findIndex((e) => e.companion === companion);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    companion.disconnect();
  }

  /** Number of companions. */
  get size(): number {
    return this.#entries.length;
  }
}
