/**
 * xstate inspection events flattened into plain records (eco §2.4): the raw
 * events hold actor refs and functions and cannot cross a thread
 * (DataCloneError), so each is reduced to strings and numbers before it is
 * published on `pcipt:actor:transition` / `pcipt:actor:error`. A device
 * worker forwards the records to the supervisor, which re-publishes them on
 * its own thread (see supervisor.ts).
 */
import type { InspectionEvent } from 'xstate';

/** A state change of one actor, as published on `pcipt:actor:transition`. */
export interface TransitionRecord {
  deviceId: string;
  /** The actor's id (`device`, `supervision`, or an invoked child's id). */
  actor: string;
  /** Previous state value, flattened (`ready`, `stopping`); undefined for the first snapshot. */
  from: string | undefined;
  to: string;
  /** The event that caused it (`device.reset`, `xstate.done.actor.claim`…). */
  event: string;
  /** Wall-clock time in ms. */
  t: number;
}

/** An actor that ended in error, as published on `pcipt:actor:error`. */
export interface ActorErrorRecord {
  deviceId: string;
  actor: string;
  code: string;
  message: string;
  context: Record<string, unknown>;
}

/** Sink for flattened records. */
export interface InspectSink {
  transition(record: TransitionRecord): void;
  error(record: ActorErrorRecord): void;
}

/** Flattens a state value: `'ready'` stays, `{ running: 'idle' }` becomes `running.idle`. */
export function flattenStateValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}.${flattenStateValue(v)}`)
      .join(',');
  }
  return String(value);
}

function plainContext(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object') return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else if (typeof v === 'bigint') out[k] = `0x${v.toString(16)}`;
  }
  return out;
}

/**
 * Builds an `inspect` callback for `createActor(logic, { inspect })` that
 * reports every state-value change and every actor error of the system as
 * plain records.
 */
export function createInspector(deviceId: string, sink: InspectSink, now: () => number = Date.now): (ev: InspectionEvent) => void {
  const last = new Map<string, string>();
  return (ev) => {
    if (ev.type !== '@xstate.snapshot') return;
    const ref = ev.actorRef as { id?: string; sessionId?: string };
    const actor = ref.id ?? 'unknown';
    const key = ref.sessionId ?? actor;
    const snapshot = ev.snapshot as { status?: string; value?: unknown; error?: unknown };
    if (snapshot.status === 'error') {
      const err = snapshot.error as { code?: unknown; message?: unknown; context?: unknown } | undefined;
      sink.error({
        deviceId,
        actor,
        code: typeof err?.code === 'string' ? err.code : 'PT_ERR_INTERNAL',
        message: typeof err?.message === 'string' ? err.message : String(err),
        context: plainContext(err?.context),
      });
      return;
    }
    if (snapshot.value === undefined) return; // promise/callback actors have no state value
    const to = flattenStateValue(snapshot.value);
    const from = last.get(key);
    if (from === to) return;
    last.set(key, to);
    sink.transition({ deviceId, actor, from, to, event: String(ev.event.type), t: now() });
  };
}
