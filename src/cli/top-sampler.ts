/**
 * The numbers behind `pcipt top`: per-device rows built from
 * `Supervisor.list()`, `Supervisor.stats()` and the connection refcounts of
 * `Supervisor.inspect()`, with rates computed from the
 * difference between two samples (the counters are totals since attach;
 * IRQ counters span worker restarts, the others restart with the worker, so
 * a rate that would go negative after a restart counts from zero instead).
 */
import type { DeviceStats, DeviceSummary } from '../actors/supervisor/handle.js';
import type { ConnectionInfo } from '../actors/supervisor/ownership.js';
import type { DeviceCounters } from '../actors/protocol.js';

/** What top samples: a supervisor, or anything shaped like one. */
export interface StatsSource {
  list(): DeviceSummary[];
  stats(): Promise<Record<string, DeviceStats>>;
  /** The shared dext connections with their refcounts (absent: no connection is shown). */
  inspect?(): { connections: ConnectionInfo[] };
}

/** A device's shared dext connection in a row: refcount and holders (0 and none without one). */
interface TopConnection {
  refs: number;
  /** `device`, `companion`, and each shared client's holder name. */
  holders: string[];
}

/** One device in one refresh (a `top --json` line carries an array of these). */
export interface TopRow {
  /** Which watched supervisor (0 for the first). */
  supervisor: number;
  id: string;
  bdf: string;
  state: string;
  restarts: number;
  /** Vectors raised into the shared bitmap per second (null on the first refresh). */
  irqsPerSec: number | null;
  /** Totals since attach. */
  irqsRaised: number;
  irqsDelivered: number;
  /** Raises that found the vector already pending. */
  irqsCoalesced: number;
  /** Raises dropped because the vector was masked. */
  irqsMasked: number;
  /** Trapped (slow-path) BAR accesses per second. */
  mmioPerSec: number | null;
  /** Trapped BAR accesses since the worker started. */
  mmioTrapped: number;
  /** Config reads and writes per second. */
  configPerSec: number | null;
  configCycles: number;
  errors: number;
  /** The function's shared dext connection (supervisor.inspect()). */
  connection: TopConnection;
}

/** One refresh. */
export interface TopFrame {
  /** Milliseconds since top started. */
  timeMs: number;
  devices: TopRow[];
}

function trapped(c: DeviceCounters): number {
  const r = c.mmioReads;
  const w = c.mmioWrites;
  return r.w1 + r.w2 + r.w4 + r.w8 + w.w1 + w.w2 + w.w4 + w.w8;
}

/** A rate from two totals `dtMs` apart; a total that went down (a restart) counts from zero. */
function rate(now: number, before: number | undefined, dtMs: number): number | null {
  if (before === undefined || dtMs <= 0) return null;
  const delta = now >= before ? now - before : now;
  return (delta * 1000) / dtMs;
}

/** The connection of a device's function (one per function), or none. */
function connectionOf(connections: readonly ConnectionInfo[], d: DeviceSummary): TopConnection {
  const c = connections.find((x) => x.bdf === d.bdf && x.deviceId === d.id);
  return c === undefined ? { refs: 0, holders: [] } : { refs: c.refs, holders: [...c.holders] };
}

/** Builds rows from samples of the watched sources, remembering the previous one for rates. */
export class TopSampler {
  readonly #startMs: number;
  #previous = new Map<string, { atMs: number; irqs: number; mmio: number; config: number }>();

  constructor(startMs: number) {
    this.#startMs = startMs;
  }

  /**
   * Samples every source (a source whose stats() fails, e.g. a supervisor
   * that is closing, contributes no rows) and returns the frame.
   */
  async sample(sources: readonly StatsSource[], nowMs: () => number): Promise<TopFrame> {
    const rows: TopRow[] = [];
    const seen = new Map<string, { atMs: number; irqs: number; mmio: number; config: number }>();
    for (const [index, source] of sources.entries()) {
      let stats: Record<string, DeviceStats>;
      let list: DeviceSummary[];
      let connections: ConnectionInfo[];
      try {
        list = source.list();
        stats = await source.stats();
        connections = source.inspect?.().connections ?? [];
      } catch {
        continue;
      }
      const atMs = nowMs();
      for (const summary of list) {
        const st = stats[summary.id];
        if (st === undefined) continue;
        const key = `${index}/${summary.id}`;
        const c = st.counters;
        const totals = { atMs, irqs: c.irqsRaised, mmio: trapped(c), config: c.configReads + c.configWrites };
        const before = this.#previous.get(key);
        const dt = before === undefined ? 0 : atMs - before.atMs;
        seen.set(key, totals);
        rows.push({
          supervisor: index,
          id: summary.id,
          bdf: summary.bdf,
          state: summary.state,
          restarts: summary.restarts,
          irqsPerSec: rate(totals.irqs, before?.irqs, dt),
          irqsRaised: c.irqsRaised,
          irqsDelivered: c.irqsDelivered,
          irqsCoalesced: c.irqsCoalesced,
          irqsMasked: c.irqsMasked,
          mmioPerSec: rate(totals.mmio, before?.mmio, dt),
          mmioTrapped: totals.mmio,
          configPerSec: rate(totals.config, before?.config, dt),
          configCycles: totals.config,
          errors: c.errors,
          connection: connectionOf(connections, summary),
        });
      }
    }
    this.#previous = seen;
    return { timeMs: Math.max(0, nowMs() - this.#startMs), devices: rows };
  }
}

/** A rate for a table cell: `-` before the second refresh, else k/M suffixed. */
export function formatRate(value: number | null): string {
  if (value === null) return '-';
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1);
}

/** The table columns of `top` (header, cell). */
export const TOP_COLUMNS: readonly { header: string; right: boolean; cell: (r: TopRow) => string }[] = [
  { header: 'DEVICE', right: false, cell: (r) => (r.supervisor === 0 ? r.id : `${r.supervisor}/${r.id}`) },
  { header: 'BDF', right: false, cell: (r) => r.bdf },
  { header: 'STATE', right: false, cell: (r) => r.state },
  { header: 'IRQ/s', right: true, cell: (r) => formatRate(r.irqsPerSec) },
  { header: 'IRQS', right: true, cell: (r) => String(r.irqsRaised) },
  { header: 'COALESCED', right: true, cell: (r) => String(r.irqsCoalesced) },
  { header: 'MASKED', right: true, cell: (r) => String(r.irqsMasked) },
  { header: 'MMIO/s', right: true, cell: (r) => formatRate(r.mmioPerSec) },
  { header: 'CFG/s', right: true, cell: (r) => formatRate(r.configPerSec) },
  { header: 'CONFIG', right: true, cell: (r) => String(r.configCycles) },
  { header: 'RESTARTS', right: true, cell: (r) => String(r.restarts) },
  { header: 'ERRORS', right: true, cell: (r) => String(r.errors) },
  { header: 'CONN', right: false, cell: (r) => (r.connection.refs === 0 ? '-' : `${r.connection.refs} ${r.connection.holders.join(',')}`) },
];
