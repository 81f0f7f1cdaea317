/**
 * Fault injection for the simulated dext: make the next N calls of a selector
 * or map type fail with a chosen IOReturn, make FLR or hot reset fail, or
 * pull a function off the bus (surprise removal).
 */
import { toBdf } from '../types.js';

/** Fault injection API of a simulated dext. */
export interface SimFaults {
  /**
   * The next `count` calls (default: until {@link clear}) of `selector` on
   * `bdf` (or any function with '*') fail with `kernReturn`. Checked after the
   * connection checks and before any selector logic.
   */
  failSelector(bdf: string | '*', selector: number, kernReturn: number, opts?: { count?: number }): void;
  /** Same for `mapMemory(memoryType)`. */
  failMap(bdf: string | '*', memoryType: number, kernReturn: number, opts?: { count?: number }): void;
  /**
   * Makes `Reset(FunctionReset)` ('flr') or `Reset(HotReset)` ('hot') fail on
   * `bdf`. A failed FLR falls back to hot reset; a failed hot reset makes
   * ResetDevice answer `kernReturn` (default IOReturn.Error).
   */
  failReset(bdf: string | '*', kind: 'flr' | 'hot', kernReturn?: number, opts?: { count?: number }): void;
  /**
   * Surprise removal of `bdf`: config reads all ones, MMIO reads all ones and
   * writes dropped (the BAR stores are filled with 0xff), DMA and interrupts
   * stop, and device-touching selectors (Claim, AllocateDMABuffer,
   * RegisterDMARegion, ConfigWrite, MMIORead, MMIOWrite, SetupInterrupts,
   * ResetDevice, BAR maps) fail with IOReturn.NoDevice. Not undone by clear().
   */
  fallOffBus(bdf: string): void;
  /** Drops every injected failure rule (not fallOffBus). */
  clear(): void;
}

interface Rule {
  kind: 'selector' | 'map' | 'reset';
  bdf: string;
  key: number | string;
  kr: number;
  left: number;
}

/** @internal Implementation; the dext asks {@link take} at each call. */
export class SimFaultsImpl implements SimFaults {
  #rules: Rule[] = [];
  readonly #fallOff: (bdf: string) => void;

  constructor(fallOff: (bdf: string) => void) {
    this.#fallOff = fallOff;
  }

  failSelector(bdf: string, selector: number, kernReturn: number, opts: { count?: number } = {}): void {
    this.#add('selector', bdf, selector, kernReturn, opts.count);
  }

  failMap(bdf: string, memoryType: number, kernReturn: number, opts: { count?: number } = {}): void {
    this.#add('map', bdf, memoryType, kernReturn, opts.count);
  }

  failReset(bdf: string, kind: 'flr' | 'hot', kernReturn = 0xe00002bc, opts: { count?: number } = {}): void {
    this.#add('reset', bdf, kind, kernReturn, opts.count);
  }

  fallOffBus(bdf: string): void {
    this.#fallOff(toBdf(bdf));
  }

  clear(): void {
    this.#rules = [];
  }

  /** The injected IOReturn for this call, consuming one count, or undefined. */
  take(kind: Rule['kind'], bdf: string, key: number | string): number | undefined {
    for (const r of this.#rules) {
      if (r.kind !== kind || r.key !== key || (r.bdf !== '*' && r.bdf !== bdf)) continue;
      r.left--;
      if (r.left <= 0) this.#rules = this.#rules.filter((x) => x !== r);
      return r.kr;
    }
    return undefined;
  }

  #add(kind: Rule['kind'], bdf: string, key: number | string, kr: number, count = Infinity): void {
    this.#rules.push({ kind, bdf: bdf === '*' ? '*' : toBdf(bdf), key, kr: kr >>> 0, left: count });
  }
}
