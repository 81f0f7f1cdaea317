/**
 * Who owns which function, and the supervisor-wide table of dext
 * connections.
 *
 * - Ownership: one owner (device id) per host function. Attaching a function
 *   that is owned is refused with PT_ERR_DUPLICATE_OWNER and the original's
 *   text before any worker is spawned. Functions of one slot are separate
 *   owners and separate workers; the slot is what {@link slotSiblings} finds.
 * - Connections: one dext connection per function across the supervisor.
 *   It lives in the function's worker (the container published it at attach,
 *   spec §7 rule 13); every holder takes a reference through that worker, and
 *   the worker reports each change here, so `inspect()` shows one row per
 *   function with its refcount and holders.
 */
import { PassthroughError } from '../../errors.js';
import { parseBdf, shortBdf, type Bdf } from '../../types.js';

/** One row of the connection table. */
export interface ConnectionInfo {
  /** The function. */
  bdf: string;
  /** The device whose worker hosts the connection. */
  deviceId: string;
  /** References held (the container's publish is the first). */
  refs: number;
  /** Who holds them: `device`, `companion`, and each shared-client holder name. */
  holders: string[];
}

function slotKey(bdf: string): string {
  const p = parseBdf(bdf);
  return `${p.domain}:${p.bus}:${p.device}`;
}

/** The ownership and connection tables of one supervisor. */
export class Ownership {
  readonly #owners = new Map<Bdf, string>();
  readonly #connections = new Map<string, ConnectionInfo>();

  /** The device that owns `bdf`, if any. */
  ownerOf(bdf: Bdf): string | undefined {
    return this.#owners.get(bdf);
  }

  /** Owned functions. */
  owned(): Bdf[] {
    return [...this.#owners.keys()];
  }

  /**
   * Makes `deviceId` the owner of `bdf`. Throws PT_ERR_DUPLICATE_OWNER with the
   * original's text when another device owns it.
   */
  take(bdf: Bdf, deviceId: string): void {
    const owner = this.#owners.get(bdf);
    if (owner !== undefined && owner !== deviceId) {
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `vfio-apple: duplicate dext owner for host PCI ${shortBdf(parseBdf(bdf))}`, {
        bdf,
        deviceId,
        owner,
      });
    }
    this.#owners.set(bdf, deviceId);
  }

  /** Drops `deviceId`'s ownership of `bdf` (and its connection row). No-op when another device owns it. */
  drop(bdf: Bdf, deviceId: string): void {
    if (this.#owners.get(bdf) !== deviceId) return;
    this.#owners.delete(bdf);
    if (this.#connections.get(bdf)?.deviceId === deviceId) this.#connections.delete(bdf);
  }

  /** The owned functions of `bdf`'s slot other than `bdf`, with their owners. */
  slotSiblings(bdf: Bdf): { bdf: Bdf; deviceId: string }[] {
    const key = slotKey(bdf);
    return [...this.#owners].filter(([b]) => b !== bdf && slotKey(b) === key).map(([b, deviceId]) => ({ bdf: b, deviceId }));
  }

  /** A worker's report of its connection (refs 0 removes the row). */
  updateConnection(row: ConnectionInfo): void {
    if (row.refs <= 0) {
      if (this.#connections.get(row.bdf)?.deviceId === row.deviceId) this.#connections.delete(row.bdf);
      return;
    }
    this.#connections.set(row.bdf, { ...row, holders: [...row.holders] });
  }

  /** The connection of `bdf`, if one is open. */
  connection(bdf: string): ConnectionInfo | undefined {
    const c = this.#connections.get(bdf);
    return c === undefined ? undefined : { ...c, holders: [...c.holders] };
  }

  /** Every open connection, by function. */
  connections(): ConnectionInfo[] {
    return [...this.#connections.values()].map((c) => ({ ...c, holders: [...c.holders] })).sort((a, b) => (a.bdf < b.bdf ? -1 : 1));
  }
}
