/**
 * Shared setup of the IOKit stand-in tests: build + bind once per file,
 * reset the stand-in before each test, and fail any test that made a call
 * the stand-in found malformed (a wrong prototype, pointer or count).
 */
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import type { IokitLibraryPaths } from '../../src/iokit/bindings.js';
import { standinLibraries } from './standin/build.js';
import { standinControl, type StandinControl } from './standin/control.js';

/** Registers the hooks; the returned object is filled in beforeAll. */
export function useStandin(): { ctl: StandinControl; libraries: IokitLibraryPaths } {
  const ctx = {} as { ctl: StandinControl; libraries: IokitLibraryPaths };
  beforeAll(() => {
    ctx.libraries = standinLibraries();
    ctx.ctl = standinControl();
  });
  beforeEach(() => ctx.ctl.reset());
  afterEach(() => {
    expect(ctx.ctl.lastViolation()).toBe('');
    expect(ctx.ctl.violations()).toBe(0);
  });
  return ctx;
}

/** Expects `fn` to throw a PassthroughError with these fields. */
export function expectDextError(fn: () => unknown, fields: { code: string; kernReturn?: number; selectorName?: string }): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  const e = caught as { code: string; context: Record<string, unknown> };
  expect(e.code).toBe(fields.code);
  if (fields.kernReturn !== undefined) expect(e.context.kernReturn).toBe(fields.kernReturn);
  if (fields.selectorName !== undefined) expect(e.context.selectorName).toBe(fields.selectorName);
}
