/**
 * Internal failure signal of the simulated dext: a module deep inside a
 * selector throws {@link SimFail} with the IOReturn it would answer, and the
 * user client turns it into the typed error with `dextError` (bdf, selector,
 * selectorName, kernReturn). Never escapes the sim.
 */

/** @internal An IOReturn raised inside the sim, converted by the client. */
export class SimFail extends Error {
  /** The IOReturn the dext answers, unsigned. */
  readonly kr: number;
  constructor(kr: number, why = '') {
    super(why);
    this.kr = kr >>> 0;
  }
}

/** @internal Throws a {@link SimFail}. */
export function fail(kr: number, why = ''): never {
  throw new SimFail(kr, why);
}
