/**
 * Every trace point of pcipt, declared once (QEMU's trace-events; undici's
 * diagnostics.js). Channels are `pcipt:<area>:<event>` on
 * node:diagnostics_channel; publishing costs one boolean check when nobody
 * subscribes. Payloads are plain, structured-cloneable records so a worker
 * can forward them to the supervisor.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** The declared trace points: channel name → what the payload carries. */
export const TRACE_POINTS = {
  'pcipt:config:read': 'bdf offsetBytes width value (vfio_pci_read_config)',
  'pcipt:config:write': 'bdf offsetBytes width value forwarded (vfio_pci_write_config)',
  'pcipt:region:read': 'bdf region offsetBytes width value (vfio_region_read / apple_vfio_bar_read, slow path only)',
  'pcipt:region:write': 'bdf region offsetBytes width value (vfio_region_write / apple_vfio_bar_write, slow path only)',
  'pcipt:region:map': 'bdf region sizeBytes windows (vfio_region_mmap)',
  'pcipt:region:unmap': 'bdf region (vfio_region_unmap)',
  'pcipt:irq:raise': 'bdf vector (apple_dext_interrupt)',
  'pcipt:irq:deliver': 'bdf vector mode (vfio_msi_interrupt / vfio_intx_interrupt)',
  'pcipt:irq:mask': 'bdf words (apple_vfio_update_irq_mask)',
  'pcipt:irq:rearm': 'bdf (interrupt_notify_rearm)',
  'pcipt:dma:map': 'bdf key busAddr sizeBytes kernReturn (apple_dext_register_dma)',
  'pcipt:dma:unmap': 'bdf key kernReturn (apple_dext_unregister_dma)',
  'pcipt:device:reset': 'bdf ok (vfio_pci_reset)',
  'pcipt:dext:call': 'bdf selector selectorName kernReturn (one dext selector)',
  'pcipt:actor:transition': 'deviceId actor from to event (xstate inspection, flattened)',
  'pcipt:actor:error': 'deviceId code message context',
  'pcipt:supervisor:restart': 'deviceId attempt cause',
  'pcipt:supervisor:give-up': 'deviceId bdf restarts cause (restart limit reached; device faulted)',
  'pcipt:supervisor:worker-exit': 'deviceId bdf exitCode error (a device worker died)',
} as const;

/** A declared channel name. */
export type TracePoint = keyof typeof TRACE_POINTS;

/** Every declared trace point name. */
export const TRACE_POINT_NAMES = Object.keys(TRACE_POINTS) as TracePoint[];

const channels = new Map<TracePoint, diagnosticsChannel.Channel>(
  TRACE_POINT_NAMES.map((name) => [name, diagnosticsChannel.channel(name)]),
);

/** The channel object for a trace point (subscribe with `.subscribe(fn)`). */
export function traceChannel(name: TracePoint): diagnosticsChannel.Channel {
  return channels.get(name)!;
}

/** True when someone listens on `name`: check before building a payload on a hot path. */
export function traceEnabled(name: TracePoint): boolean {
  return channels.get(name)!.hasSubscribers;
}

/** Publishes `payload` on `name` if anyone subscribes. */
export function trace(name: TracePoint, payload: Record<string, unknown>): void {
  const ch = channels.get(name)!;
  if (ch.hasSubscribers) ch.publish(payload);
}

// ---------------------------------------------------------------------------
// Sinks, filters and stats helpers (QEMU's `-trace PATTERN` + simpletrace;
// cloud-hypervisor's `--event-monitor` JSON lines; `vm.counters`).
// ---------------------------------------------------------------------------

/**
 * Compiles shell-style globs into a predicate over channel names: `*` matches
 * any run of characters (colons included), `?` one character, `{a,b}` either
 * alternative. A pattern starting with `-` excludes (QEMU's `-trace -name`);
 * patterns apply in order, the last match wins. An empty list, or a list made
 * only of exclusions, starts from "everything". A comma outside braces separates
 * patterns (`pcipt:irq:*,pcipt:dma:*`).
 */
export function compileTraceFilter(patterns: readonly string[]): (name: string) => boolean {
  const rules = patterns
    .flatMap(splitOutsideBraces)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => (p.startsWith('-') ? { include: false, re: globToRegExp(p.slice(1)) } : { include: true, re: globToRegExp(p) }));
  const startIncluded = rules.every((r) => !r.include);
  return (name: string) => {
    let on = startIncluded;
    for (const r of rules) if (r.re.test(name)) on = r.include;
    return on;
  };
}

/** Splits `a,b{c,d}` at top-level commas only (QEMU's `-trace a,b` list form). */
function splitOutsideBraces(pattern: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of pattern) {
    if (ch === '{') depth++;
    else if (ch === '}') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** The declared trace points a filter selects (see {@link compileTraceFilter}). */
export function selectTracePoints(patterns: readonly string[]): TracePoint[] {
  const match = compileTraceFilter(patterns);
  return TRACE_POINT_NAMES.filter(match);
}

/** Converts one glob to an anchored RegExp (see {@link compileTraceFilter}). */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  let inBraces = false;
  for (const ch of glob) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else if (ch === '{' && !inBraces) {
      inBraces = true;
      out += '(?:';
    } else if (ch === '}' && inBraces) {
      inBraces = false;
      out += ')';
    } else if (ch === ',' && inBraces) out += '|';
    else out += ch.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  if (inBraces) out += ')';
  return new RegExp(`^${out}$`);
}

/** One trace event as a sink sees it. */
export interface TraceEvent {
  /** Milliseconds since the sink started (performance.now() based, fractional). */
  timeMs: number;
  /** The channel name. */
  channel: TracePoint;
  /** The payload as published (bigints become `0x…` strings when serialised). */
  payload: Record<string, unknown>;
}

/** A subscription to a set of trace points. */
export interface TraceSink {
  /** The channels subscribed to. */
  readonly channels: readonly TracePoint[];
  /** Events seen per channel so far. */
  counts(): Record<string, number>;
  /** Unsubscribes from every channel. Idempotent. */
  close(): void;
}

/** Options of {@link createTraceSink}. */
export interface TraceSinkOptions {
  /** Globs over channel names (see {@link compileTraceFilter}); default every channel. */
  filter?: readonly string[];
  /** Called synchronously for every event (in the publishing thread). */
  onEvent(event: TraceEvent): void;
}

/**
 * Subscribes to every declared trace point the filter selects and hands each
 * event to `onEvent`. Publishing costs nothing on channels nobody selected.
 */
export function createTraceSink(options: TraceSinkOptions): TraceSink {
  const selected = selectTracePoints(options.filter ?? []);
  const start = performance.now();
  const counts: Record<string, number> = {};
  const handlers = new Map<TracePoint, (message: unknown, name: string | symbol) => void>();
  for (const channel of selected) {
    counts[channel] = 0;
    const handler = (message: unknown) => {
      counts[channel]!++;
      const payload = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : { value: message };
      options.onEvent({ timeMs: performance.now() - start, channel, payload });
    };
    handlers.set(channel, handler);
    diagnosticsChannel.subscribe(channel, handler);
  }
  let closed = false;
  return {
    channels: selected,
    counts: () => ({ ...counts }),
    close() {
      if (closed) return;
      closed = true;
      for (const [channel, handler] of handlers) diagnosticsChannel.unsubscribe(channel, handler);
    },
  };
}

/** JSON.stringify replacer for trace payloads: bigint → `0x…`, Error → {name, message, code}. */
export function traceJsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** Serialises one event as a single JSON line (no trailing newline): `{"timeMs":…,"channel":…,"payload":{…}}`. */
export function formatTraceLine(event: TraceEvent): string {
  return JSON.stringify({ timeMs: Math.round(event.timeMs * 1000) / 1000, channel: event.channel, payload: event.payload }, traceJsonReplacer);
}

/**
 * Formats one event as a human line in the style of QEMU's trace printer:
 * `   300.643 pcipt:irq:raise bdf=0000:02:00.0 vector=3` (time in ms; values
 * as in JSON, strings unquoted, bigints in hex).
 */
export function formatTraceText(event: TraceEvent): string {
  const args = Object.entries(event.payload)
    .map(([k, v]) => {
      const json = JSON.stringify(v, traceJsonReplacer);
      return `${k}=${typeof v === 'string' || typeof v === 'bigint' ? String(typeof v === 'bigint' ? `0x${v.toString(16)}` : v) : json}`;
    })
    .join(' ');
  return `${event.timeMs.toFixed(3).padStart(10)} ${event.channel}${args.length > 0 ? ` ${args}` : ''}`;
}

/** Anything with a `write(string)` (process.stdout, a file stream). */
export interface LineWritable {
  /** Writes one chunk of text (a whole line, newline included). */
  write(chunk: string): unknown;
}

/**
 * A JSON-lines trace writer: subscribes like {@link createTraceSink} and
 * writes one line per event to `out` (cloud-hypervisor `--event-monitor`).
 */
export function createJsonLinesTraceWriter(out: LineWritable, filter: readonly string[] = []): TraceSink {
  return createTraceSink({ filter, onEvent: (event) => void out.write(`${formatTraceLine(event)}\n`) });
}

/** Like {@link createJsonLinesTraceWriter}, one {@link formatTraceText} line per event. */
export function createTextTraceWriter(out: LineWritable, filter: readonly string[] = []): TraceSink {
  return createTraceSink({ filter, onEvent: (event) => void out.write(`${formatTraceText(event)}\n`) });
}

/** Latency summary of a histogram, in nanoseconds (perf_hooks histograms record integers). */
export interface HistogramSummary {
  count: number;
  minNs: number;
  maxNs: number;
  meanNs: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
}

/** A new HDR histogram for latencies in nanoseconds (1 ns … 60 s, 3 significant digits). */
export function createLatencyHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 });
}

/** Records `latencyNs` (rounded, clamped to ≥ 1 as perf_hooks requires). */
export function recordLatency(h: RecordableHistogram, latencyNs: number): void {
  h.record(Math.max(1, Math.round(latencyNs)));
}

/**
 * Merges histograms (e.g. one per device worker; they survive postMessage)
 * into a new one. Inputs are left unchanged.
 */
export function mergeHistograms(histograms: Iterable<RecordableHistogram>): RecordableHistogram {
  const out = createLatencyHistogram();
  for (const h of histograms) out.add(h);
  return out;
}

/** Summarises a histogram; an empty one gives all zeros. */
export function summarizeHistogram(h: RecordableHistogram): HistogramSummary {
  if (h.count === 0) return { count: 0, minNs: 0, maxNs: 0, meanNs: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0, p999Ns: 0 };
  return {
    count: h.count,
    minNs: h.min,
    maxNs: h.max,
    meanNs: h.mean,
    p50Ns: h.percentile(50),
    p90Ns: h.percentile(90),
    p99Ns: h.percentile(99),
    p999Ns: h.percentile(99.9),
  };
}

/** A nested record of numeric counters (per device: mmio.reads.w4, irq.raised, …). */
export interface CounterTree {
  [key: string]: number | CounterTree;
}

/**
 * Sums counter trees key by key (per-device counters → totals). Numbers add;
 * nested records merge recursively; a key that is a number in one tree and a
 * record in another keeps the record and drops the number. Inputs unchanged.
 */
export function mergeCounters(trees: Iterable<CounterTree>): CounterTree {
  const out: CounterTree = {};
  for (const tree of trees) addCounters(out, tree);
  return out;
}

function addCounters(into: CounterTree, from: CounterTree): void {
  for (const [key, value] of Object.entries(from)) {
    const cur = into[key];
    if (typeof value === 'number') {
      if (cur === undefined) into[key] = value;
      else if (typeof cur === 'number') into[key] = cur + value;
    } else if (value !== null && typeof value === 'object') {
      const sub: CounterTree = typeof cur === 'object' ? cur : {};
      addCounters(sub, value);
      into[key] = sub;
    }
  }
}
