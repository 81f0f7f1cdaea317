/**
 * The campaign's invariants, checked when a round has settled and after a
 * scenario's teardown:
 * - no unsettled call (pendingCalls 0; every device in a settled state);
 * - no leaked connection: every ready device owns its function, every owner
 *   and connection belongs to an attached device, and none is left at the end;
 * - no leaked worker: one per ready device (a faulted one may keep its own
 *   until detached), none at the end;
 * - no leaked lease: an attached device's BARs have at most the supervisor's
 *   own window as holder, and every control block none after detach;
 * - no leaked mapping: each clean teardown reports zero connection references,
 *   mapped BARs, DMA mappings and host-memory exposures;
 * - interrupt counters add up: raised = delivered + coalesced + pending.
 */
import { barHolders } from '../src/fastpath/index.js';
import { settle, violate, type ScenarioContext } from './soak-ops.js';

const SETTLED = new Set(['ready', 'faulted']);

function pendingVectors(h: { irq: { isPending(v: number): boolean } }): number {
  let n = 0;
  for (let v = 0; v < 256; v++) if (h.irq.isPending(v)) n++;
  return n;
}

/**
 * Checks a settled round. Cleanup after a fault runs on after the state
 * changes (a faulted device's worker is still being torn down), so the
 * checks are retried until they hold; what still fails after `silenceMs`
 * without progress is reported.
 */
export async function checkRound(ctx: ScenarioContext): Promise<void> {
  let problems: string[] = [];
  try {
    await settle(ctx, () => (problems = roundProblems(ctx)).length === 0, 'devices settling after the round');
  } catch {
    for (const p of problems) violate(ctx, p.startsWith('lost-interrupt') ? 'lost-interrupt' : 'leak', p);
  }
  ctx.detached.length = 0;
}

function roundProblems(ctx: ScenarioContext): string[] {
  const out: string[] = [];
  const i = ctx.sup.inspect();
  const unsettled = i.devices.filter((d) => !SETTLED.has(d.state));
  if (unsettled.length > 0) out.push(`devices not settled: ${unsettled.map((d) => `${d.id}:${d.state}`).join(', ')}`);
  if (i.pendingCalls > 0) out.push(`${i.pendingCalls} control calls pending at rest`);
  // A faulted device keeps its function, connection and worker until it is detached
  // (a device that fell off the bus stays the embedder's to unplug); one faulted by the
  // restart limit has no worker left. Both are checked to hold nothing after detach.
  out.push(...detachedProblems(ctx));
  const ready = i.devices.filter((d) => d.state === 'ready');
  const holding = i.devices.filter((d) => d.state === 'ready' || d.state === 'faulted');
  const leak = (detail: string) => out.push(detail);
  const owners = new Set(i.owners);
  for (const d of ready) if (!owners.has(d.bdf)) leak(`ready device ${d.id} does not own ${d.bdf}`);
  for (const bdf of owners) if (!holding.some((d) => d.bdf === bdf)) leak(`${bdf} is owned by no attached device`);
  for (const c of i.connections) {
    if (!holding.some((x) => x.bdf === c.bdf && x.id === c.deviceId)) leak(`connection of ${c.bdf} (${c.deviceId}, ${c.refs} refs) without its device`);
  }
  if (i.workers < ready.length || i.workers > holding.length) leak(`${i.workers} workers for ${ready.length} ready and ${holding.length - ready.length} faulted devices`);
  for (const list of ctx.handles.values()) {
    for (const h of list) {
      const state = h.state;
      for (let bar = 0; bar < 6; bar++) {
        const n = barHolders(h.descriptor().control, bar);
        const max = state === 'ready' || state === 'faulted' ? 1 : 0;
        if (n > max) leak(`${h.id} (${state}) BAR${bar} has ${n} lease holders at rest`);
      }
      const c = h.irq.counters();
      const pending = pendingVectors(h);
      if (c.raised !== c.delivered + c.coalesced + pending) {
        out.push(`lost-interrupt: ${h.id}: raised ${c.raised} ≠ delivered ${c.delivered} + coalesced ${c.coalesced} + pending ${pending}`);
      }
    }
  }
  return out;
}

/** Devices detached since the last check: no lease holder left on their control block, a clean teardown report. */
function detachedProblems(ctx: ScenarioContext): string[] {
  const out: string[] = [];
  const reports = ctx.sup.debug.resources().teardowns;
  for (const { id, control } of ctx.detached) {
    for (let bar = 0; bar < 6; bar++) {
      const n = barHolders(control, bar);
      if (n !== 0) out.push(`${id} BAR${bar}: ${n} lease holders after detach`);
    }
    const r = reports[id];
    if (r === undefined) continue; // its worker was dead at teardown: nothing to report
    if (r.connectionRefs !== 0 || r.mappedBars !== 0 || r.dmaMappings !== 0 || r.exposures !== 0) {
      out.push(`${id} teardown left refs ${r.connectionRefs}, BARs ${r.mappedBars}, DMA ${r.dmaMappings}, exposures ${r.exposures}`);
    }
  }
  return out;
}

/** Checks the state after everything was detached: nothing may be left. */
export function checkEmpty(ctx: ScenarioContext): void {
  const i = ctx.sup.inspect();
  const leak = (detail: string) => violate(ctx, 'leak', detail, -1);
  if (i.devices.length > 0) leak(`devices left: ${i.devices.map((d) => `${d.id}:${d.state}`).join(', ')}`);
  if (i.owners.length > 0) leak(`owners left: ${i.owners.join(', ')}`);
  if (i.connections.length > 0) leak(`connections left: ${i.connections.map((c) => `${c.bdf}×${c.refs}`).join(', ')}`);
  if (i.workers > 0) leak(`${i.workers} workers left`);
  if (i.pendingCalls > 0) violate(ctx, 'unsettled', `${i.pendingCalls} control calls pending after teardown`, -1);
  for (const p of detachedProblems(ctx)) leak(p);
  ctx.detached.length = 0;
}
