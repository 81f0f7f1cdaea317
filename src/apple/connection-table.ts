/**
 * The shared dext connection table (spec §7 rule 13): one published,
 * refcounted DextClient per host function, so the DMA companion reuses the
 * container's connection instead of opening a second user client.
 *
 * The original keeps a process-global GHashTable and its lookup takes a
 * reference as a side effect. Here the table is an object (one per
 * supervisor / test), {@link ConnectionTable.peek} has no side effect and
 * {@link ConnectionTable.acquire} is the explicit refcount++ returning a
 * handle whose release is idempotent. The last release closes the client
 * (IOServiceClose) and removes the entry.
 */
import { PassthroughError } from '../errors.js';
import type { Bdf } from '../types.js';
import type { DextClient } from '../dext/contract.js';

/** One reference to a published connection. */
export interface ConnectionHandle {
  /** The function. */
  readonly bdf: Bdf;
  /** The shared connection. */
  readonly client: DextClient;
  /** True until {@link release}. */
  readonly held: boolean;
  /** Drops this reference; the last one closes the client. Idempotent. */
  release(): void;
}

interface Entry {
  client: DextClient;
  refs: number;
}

/** Refcounted shared dext connections keyed by function (domain included). */
export class ConnectionTable {
  readonly #entries = new Map<Bdf, Entry>();

  /**
   * Publishes `client` as the owner connection of `bdf` with one reference
   * (the publisher's). Throws PT_ERR_DUPLICATE_OWNER when one is published.
   */
  publish(bdf: Bdf, client: DextClient): ConnectionHandle {
    if (this.#entries.has(bdf)) {
      throw new PassthroughError('PT_ERR_DUPLICATE_OWNER', `a dext connection is already published for ${bdf}`, {
        bdf,
      });
    }
    const entry: Entry = { client, refs: 1 };
    this.#entries.set(bdf, entry);
    return this.#handle(bdf, entry);
  }

  /** Takes a reference on the published connection of `bdf`, or undefined when none is published. */
  acquire(bdf: Bdf): ConnectionHandle | undefined {
    const entry = this.#entries.get(bdf);
    if (entry === undefined) return undefined;
    entry.refs++;
    return this.#handle(bdf, entry);
  }

  /** The published connection of `bdf`, without taking a reference. */
  peek(bdf: Bdf): DextClient | undefined {
    return this.#entries.get(bdf)?.client;
  }

  /** References held on `bdf` (0 when nothing is published). For tests and stats. */
  refs(bdf: Bdf): number {
    return this.#entries.get(bdf)?.refs ?? 0;
  }

  /** Number of published connections. */
  get size(): number {
    return this.#entries.size;
  }

  #handle(bdf: Bdf, entry: Entry): ConnectionHandle {
    let held = true;
    const table = this.#entries;
    return {
      bdf,
      client: entry.client,
      get held() {
        return held;
      },
      release(): void {
        if (!held) return;
        held = false;
        // A handle of an entry that was replaced (released to 0, then a new
        // connection published for the same bdf) is foreign: ignore it, as the
        // original's release ignores a connection that does not match.
        if (table.get(bdf) !== entry) return;
        entry.refs--;
        if (entry.refs <= 0) {
          table.delete(bdf);
          entry.client.close();
        }
      },
    };
  }
}
