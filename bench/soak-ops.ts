/**
 * The fault campaign's operations over the public API (and the supervisor's
 * test hooks for the faults: `debug.killWorker`, `debug.injectFault`), each
 * run against whatever the scenario has attached at that moment. Every
 * rejection is checked to be a PassthroughError with a known code; the
 * interrupt storm checks that no unmasked vector is lost and no masked one
 * delivered.
 */
import { ERROR_CODES, IOReturn, PassthroughError, Selector, type DeviceHandle, type Supervisor } from '../src/index.js';
import { rng, SOAK_FUNCTIONS, type SoakOp, type SoakOpKind } from './soak-plan.js';
import type { VcpuPool } from './soak-vcpu-pool.js';

/** A broken invariant. */
export interface SoakViolation {
  scenario: number;
  /** Round index, or -1 for the scenario's closing checks. */
  round: number;
  kind: 'untyped-error' | 'internal-error' | 'lost-interrupt' | 'masked-delivered' | 'unsettled' | 'leak' | 'wrong-value' | 'supervisor-closed';
  detail: string;
}

/** Outcome counts of one operation kind. */
export interface SoakOutcome {
  ok: number;
  /** Nothing to act on (no device attached in that slot). */
  skipped: number;
  /** Typed failures by code. */
  codes: Record<string, number>;
  /** Wall time spent in this kind of operation, ms. */
  ms: number;
}

/** What the operations of one scenario share. */
export interface ScenarioContext {
  readonly sup: Supervisor;
  scenario: number;
  round: number;
  /** Live handles per function slot (the last one is current; a faulted one stays until detached). Carried across scenarios. */
  readonly handles: Map<number, DeviceHandle[]>;
  /** Devices detached since the last check (leases and teardown reports are checked, then the list is emptied). */
  readonly detached: { id: string; control: SharedArrayBuffer }[];
  /** Bumped on every sign of life (trace records, vCPU calls, settled operations). */
  readonly progress: { n: number };
  readonly vcpu: VcpuPool;
  readonly silenceMs: number;
  readonly syncTimeoutMs: number;
  readonly outcomes: Record<string, SoakOutcome>;
  violations: SoakViolation[];
  /** Functions whose storm must not be judged this round (another operation touched them). */
  disturbed: Set<number>;
  nextId(): string;
}

const KNOWN = new Set<string>(ERROR_CODES);

function outcome(ctx: ScenarioContext, kind: SoakOpKind): SoakOutcome {
  return (ctx.outcomes[kind] ??= { ok: 0, skipped: 0, codes: {}, ms: 0 });
}

/** Files a violation. */
export function violate(ctx: ScenarioContext, kind: SoakViolation['kind'], detail: string, round = ctx.round): void {
  ctx.violations.push({ scenario: ctx.scenario, round, kind, detail });
}

/** Counts a failure of `op`, or files it as a violation when it is not a typed, known, non-internal error. */
export function typedFailure(ctx: ScenarioContext, op: string, e: unknown): void {
  if (!PassthroughError.is(e)) {
    violate(ctx, 'untyped-error', `${op}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return;
  }
  if (!KNOWN.has(e.code)) violate(ctx, 'untyped-error', `${op}: unknown code ${String(e.code)}: ${e.message}`);
  else if (e.code === 'PT_ERR_INTERNAL') violate(ctx, 'internal-error', `${op}: ${e.message}`);
  // The campaign never closes its supervisor while it runs: a closed one means something else did
  // (e.g. the process-lifetime hook, if the event loop drained mid-operation).
  else if (e.code === 'PT_ERR_CLOSED' && op === 'attach') violate(ctx, 'supervisor-closed', `${op}: ${e.message}`);
  const o = outcome(ctx, op as SoakOpKind);
  o.codes[e.code] = (o.codes[e.code] ?? 0) + 1;
}

/** Resolves when `done()` holds; rejects (a violation) after `silenceMs` without any progress. */
export async function settle(ctx: ScenarioContext, done: () => boolean, what: string): Promise<void> {
  let seen = ctx.progress.n;
  let quietSince = performance.now();
  while (!done()) {
    await new Promise((r) => setTimeout(r, 5));
    if (ctx.progress.n !== seen) {
      seen = ctx.progress.n;
      quietSince = performance.now();
    } else if (performance.now() - quietSince > ctx.silenceMs) {
      throw new Unsettled(`${what}: no progress for ${ctx.silenceMs} ms`);
    }
  }
}

/** Thrown when something never settles: the scenario is abandoned. */
export class Unsettled extends Error {}

const SETTLED_STATES = new Set(['ready', 'faulted', 'stopped']);

const current = (ctx: ScenarioContext, fn: number): DeviceHandle | undefined => ctx.handles.get(fn)?.at(-1);

/** How many times the supervisor has restarted `h`'s worker (undefined once it is gone from the list). */
const restartsOf = (ctx: ScenarioContext, h: DeviceHandle): number | undefined => ctx.sup.list().find((d) => d.id === h.id)?.restarts;

/** Runs one planned operation. Never rejects except with {@link Unsettled}. */
export async function runOp(ctx: ScenarioContext, op: SoakOp): Promise<void> {
  const bdf = SOAK_FUNCTIONS[op.fn]!;
  const h = current(ctx, op.fn);
  const o = outcome(ctx, op.kind);
  const t0 = performance.now();
  try {
    switch (op.kind) {
      case 'attach': {
        const handle = await ctx.sup.attach(bdf, { id: ctx.nextId() });
        ctx.handles.set(op.fn, [...(ctx.handles.get(op.fn) ?? []), handle]);
        break;
      }
      case 'detach':
        if (h === undefined) await ctx.sup.detach(bdf); // nothing attached: resolves (idempotent)
        else await detachHandle(ctx, op.fn, h);
        break;
      case 'reset':
        if (h === undefined) await ctx.sup.reset(bdf); // PT_ERR_NOT_FOUND
        else await h.reset();
        break;
      case 'storm':
        if (h === undefined) return void o.skipped++;
        await storm(ctx, op, h);
        break;
      case 'vcpu': {
        if (h === undefined) return void o.skipped++;
        const r = await ctx.vcpu.run(ctx, h, 20 + (op.arg % 120));
        for (const u of r.untyped) violate(ctx, 'untyped-error', `vcpu ${h.id}: ${u}`);
        for (const w of r.wrongValues) violate(ctx, 'wrong-value', `vcpu ${h.id}: ${w}`);
        for (const [code, n] of Object.entries(r.codes)) {
          if (code === 'PT_ERR_INTERNAL') violate(ctx, 'internal-error', `vcpu ${h.id}: ${n} × PT_ERR_INTERNAL`);
          o.codes[code] = (o.codes[code] ?? 0) + n;
        }
        o.ok += r.ok;
        return;
      }
      case 'dext-error':
        if (h === undefined) return void o.skipped++;
        await dextError(ctx, op, h);
        break;
      case 'dma': {
        if (h === undefined) return void o.skipped++;
        const m = await h.dma.map(new SharedArrayBuffer(16384));
        if ((op.arg & 1) === 1) await h.dma.unmap(m.key);
        break;
      }
      case 'kill':
        if (h === undefined) return void o.skipped++;
        await ctx.sup.debug.killWorker(h.id);
        await settle(ctx, () => SETTLED_STATES.has(h.state), `restart of ${h.id} after a kill`);
        break;
      case 'gone': {
        if (h === undefined) return void o.skipped++;
        const restarts = restartsOf(ctx, h);
        await ctx.sup.debug.injectFault(h.id, { kind: 'fall-off-bus' });
        // Noticed: faulted (or stopped). A kill in the same round may get there first: the sim
        // simulates a function inside its worker, so the restarted worker has it back on the bus
        // (sim DEVIATIONS, surprise removal) and the device settles ready instead.
        const replaced = (): boolean => restartsOf(ctx, h) !== restarts && SETTLED_STATES.has(h.state);
        await settle(ctx, () => h.state === 'faulted' || h.state === 'stopped' || replaced(), `${h.id} noticing it fell off the bus`);
        break;
      }
    }
    o.ok++;
  } catch (e) {
    if (e instanceof Unsettled) throw e;
    typedFailure(ctx, op.kind, e);
  } finally {
    ctx.progress.n++;
    o.ms += performance.now() - t0;
  }
}

/** Detaches `h` and forgets it. */
export async function detachHandle(ctx: ScenarioContext, fn: number, h: DeviceHandle): Promise<void> {
  try {
    await h.detach();
  } finally {
    ctx.handles.set(fn, (ctx.handles.get(fn) ?? []).filter((x) => x !== h));
    ctx.detached.push({ id: h.id, control: h.descriptor().control });
  }
}

const DOORBELL = 0x08;

/**
 * Rings a burst of vectors (some masked on the line first), then waits for
 * the unmasked ones. The wait follows progress: each delivered vector
 * restarts it; silence for `silenceMs` with vectors missing is a lost
 * interrupt, unless another operation of the round touched the function
 * (a reset or a restart may legitimately drop a raise in flight).
 */
async function storm(ctx: ScenarioContext, op: SoakOp, h: DeviceHandle): Promise<void> {
  if (h.state !== 'ready') {
    await h.reset(); // a faulted or stopped device refuses: the typed error is the outcome
    return;
  }
  const info = h.info;
  const bar0 = h.bar(0);
  if (bar0 === undefined || info.irqMode === 'none' || info.irqVectors === 0) return;
  const edu = info.vendorId === 0x1234 && info.deviceId === 0x11e8;
  const r = rng(op.arg);
  const draw = (n: number) => Math.floor(r() * n);
  h.irq.drain(); // nothing stale
  const expected = new Set<number>();
  const masked = new Set<number>();
  if (edu) {
    bar0.write32(0x60, 1); // edu's raise register; ack below
    expected.add(0);
  } else {
    const vectors = Math.min(info.irqVectors, 256);
    const burst = 1 + draw(48);
    // The pump delivers after the doorbell write returns, and the line's mask is
    // checked at delivery: masks stay until a last unmasked "fence" vector (rung
    // after every masked one) has arrived, so every masked raise met its mask.
    const fence = draw(vectors);
    if (vectors > 1) for (let i = 0, m = draw(4); i < m; i++) masked.add(draw(vectors));
    masked.delete(fence);
    for (const v of masked) h.irq.mask(v);
    try {
      for (let i = 0; i < burst; i++) {
        const v = draw(vectors);
        bar0.write32(DOORBELL, v);
        if (!masked.has(v)) expected.add(v);
      }
      bar0.write32(DOORBELL, fence);
      expected.add(fence);
    } catch (e) {
      for (const v of masked) h.irq.unmask(v);
      throw e;
    }
  }
  const seen = new Set<number>();
  try {
    await awaitDelivery(ctx, op, h, expected, seen);
  } finally {
    for (const v of masked) h.irq.unmask(v);
  }
  if (edu) bar0.write32(0x64, 1);
  const wrong = [...seen].filter((v) => masked.has(v) && !expected.has(v));
  if (wrong.length > 0 && !ctx.disturbed.has(op.fn)) violate(ctx, 'masked-delivered', `${h.id}: masked vectors ${wrong.join(',')} were delivered`);
}

/** Drains `h`'s line into `seen` until every `expected` vector came, or files a lost interrupt after silence. */
async function awaitDelivery(ctx: ScenarioContext, op: SoakOp, h: DeviceHandle, expected: Set<number>, seen: Set<number>): Promise<void> {
  let seq = h.irq.seq;
  const restarts = ctx.sup.list().find((d) => d.id === h.id)?.restarts;
  for (;;) {
    for (const v of h.irq.drain()) seen.add(v);
    if ([...expected].every((v) => seen.has(v))) return;
    // A disturbed storm is not judged: waiting long for it would only cost time.
    const next = await h.irq.waitAsync(seq, ctx.disturbed.has(op.fn) ? Math.min(ctx.silenceMs, 250) : ctx.silenceMs);
    if (next !== seq) {
      seq = next;
      ctx.progress.n++;
      continue;
    }
    for (const v of h.irq.drain()) seen.add(v);
    const missing = [...expected].filter((v) => !seen.has(v));
    if (missing.length === 0) return;
    const now = ctx.sup.list().find((d) => d.id === h.id);
    if (ctx.disturbed.has(op.fn) || now?.state !== 'ready' || now.restarts !== restarts) return;
    violate(ctx, 'lost-interrupt', `${h.id} (${h.info.irqMode}): vectors ${missing.join(',')} raised, never delivered within ${ctx.silenceMs} ms of silence`);
    return;
  }
}

const FAULT_SELECTORS = [Selector.ConfigRead, Selector.ConfigWrite, Selector.MMIORead, Selector.ResetDevice] as const;
const FAULT_RETURNS = [IOReturn.Error, IOReturn.NoDevice, IOReturn.NotPermitted] as const;

/** A dext selector fails (1–2 calls), then something that calls it runs. */
async function dextError(ctx: ScenarioContext, op: SoakOp, h: DeviceHandle): Promise<void> {
  const selector = FAULT_SELECTORS[op.arg % FAULT_SELECTORS.length]!;
  const kernReturn = FAULT_RETURNS[(op.arg >>> 4) % FAULT_RETURNS.length]!;
  await ctx.sup.debug.injectFault(h.id, { kind: 'fail-selector', selector, kernReturn, count: 1 + ((op.arg >>> 8) & 1) });
  switch (selector) {
    case Selector.ConfigRead:
      h.config.read16(0);
      break;
    case Selector.ConfigWrite:
      h.config.write16(4, h.config.read16(4)); // COMMAND rewritten unchanged
      break;
    case Selector.MMIORead:
      h.bar(0)?.read32(0);
      break;
    default:
      await h.reset();
  }
}
