/**
 * The fault campaign's plans: what each scenario does, drawn from a seeded
 * generator and nothing else, so `--seed S --only I` rebuilds scenario I
 * exactly (the plan; thread timing is the machine's).
 *
 * A scenario is a few rounds; the operations of one round run concurrently
 * (their interleaving is the point) and the invariants are checked when the
 * round has settled. Operations name a function of the default sim machine
 * by slot, not a handle: an operation on a function that is not attached at
 * that moment still runs and must fail with a typed error.
 *
 * Attaching costs a worker boot (a few hundred ms of CPU), so scenarios do
 * not start from nothing: each names the functions attached when it starts,
 * and the campaign reuses a ready device of the previous scenario where it
 * can (the start state is the same either way: those functions attached and
 * ready, nothing else).
 */

/** The functions a campaign drives (the default sim machine): two edu, the MSI-X function, a two-function slot. */
export const SOAK_FUNCTIONS = ['0000:00:10.0', '0000:00:11.0', '0000:02:00.0', '0000:03:00.0', '0000:03:00.1'] as const;

/** Operation kinds. */
export type SoakOpKind = 'attach' | 'detach' | 'reset' | 'storm' | 'vcpu' | 'dext-error' | 'dma' | 'kill' | 'gone';

/** One planned operation. */
export interface SoakOp {
  kind: SoakOpKind;
  /** Index into {@link SOAK_FUNCTIONS}. */
  fn: number;
  /** Operation-specific random draws (vector choices, counts, selectors), fixed by the plan. */
  arg: number;
}

/** One scenario: the functions attached when it starts, then rounds of concurrent operations. */
export interface SoakScenario {
  index: number;
  /** Indexes into {@link SOAK_FUNCTIONS} attached (and ready) before the first round. */
  start: number[];
  rounds: SoakOp[][];
}

/**
 * Relative weights. Kills and surprise removals stay a minority: each costs a
 * worker (a cold restart), and a sync call racing a kill may wait out its
 * whole timeout.
 */
const WEIGHTS: readonly [SoakOpKind, number][] = [
  ['attach', 12],
  ['detach', 6],
  ['reset', 12],
  ['storm', 22],
  ['vcpu', 18],
  ['dext-error', 10],
  ['dma', 12],
  ['kill', 4],
  ['gone', 3],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((s, [, w]) => s + w, 0);

/** mulberry32: a small, well-mixed 32-bit generator. Returns numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of scenario `index` of campaign `seed` (independent of every other scenario). */
function scenarioSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Builds scenario `index` of campaign `seed`: a start set, then `rounds` rounds (default 2–4) of 1–3 operations. */
export function planScenario(seed: number, index: number, rounds?: number): SoakScenario {
  const r = rng(scenarioSeed(seed, index));
  const int = (n: number) => Math.floor(r() * n);
  const pick = (): SoakOpKind => {
    let x = r() * TOTAL_WEIGHT;
    for (const [k, w] of WEIGHTS) if ((x -= w) < 0) return k;
    return 'attach';
  };
  const n = rounds ?? 2 + int(3);
  const start = SOAK_FUNCTIONS.map((_, i) => i).filter(() => r() < 0.9);
  if (start.length === 0) start.push(int(SOAK_FUNCTIONS.length));
  const out: SoakOp[][] = [];
  for (let i = 0; i < n; i++) {
    const ops: SoakOp[] = [];
    const width = 1 + int(3);
    for (let j = 0; j < width; j++) {
      const op: SoakOp = { kind: pick(), fn: int(SOAK_FUNCTIONS.length), arg: int(2 ** 31) };
      // Two storms on one function would drain each other's vectors: the second becomes vCPU calls.
      if (op.kind === 'storm' && ops.some((x) => x.kind === 'storm' && x.fn === op.fn)) op.kind = 'vcpu';
      ops.push(op);
    }
    out.push(ops);
  }
  return { index, start, rounds: out };
}

/** `attach 02:00.0 | storm 00:10.0` style text of a round, for replay logs. */
export function describeRound(ops: readonly SoakOp[]): string {
  return ops.map((o) => `${o.kind} ${SOAK_FUNCTIONS[o.fn]!.slice(5)}`).join(' | ');
}
