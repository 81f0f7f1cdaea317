import { expect } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { ioReturnName } from '../../../src/dext/contract.js';

/** Asserts `fn` throws the dext error for `kr` (and returns it). */
export function expectKr(fn: () => unknown, kr: number): PassthroughError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${ioReturnName(kr)}`).toBeInstanceOf(PassthroughError);
  const err = caught as PassthroughError;
  expect(ioReturnName(err.kernReturn ?? 0)).toBe(ioReturnName(kr));
  return err;
}

export const EDU0 = '0000:00:10.0';
export const EDU1 = '0000:00:11.0';
export const MSIX = '0000:02:00.0';
export const DUAL0 = '0000:03:00.0';
export const DUAL1 = '0000:03:00.1';
export const NVME = '0000:04:00.0';
