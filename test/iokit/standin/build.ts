/**
 * Builds the IOKit C stand-in into test/iokit/build/libiokit-standin.so
 * (git-ignored) with `cc -shared -fPIC -O2 -pthread`, when the .so is
 * missing or older than the source. Safe when several test files build at
 * once: each compiles to a private temp file and renames it into place.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { IokitLibraryPaths } from '../../../src/iokit/bindings.js';

/** The stand-in source. */
export const STANDIN_SOURCE = fileURLToPath(new URL('./iokit-standin.c', import.meta.url));
/** Where the shared library goes. */
export const STANDIN_LIBRARY = fileURLToPath(new URL('../build/libiokit-standin.so', import.meta.url));

/** Compiles the stand-in if needed and returns the library path. Throws with cc's output on failure. */
export function buildStandin(): string {
  const fresh = existsSync(STANDIN_LIBRARY) && statSync(STANDIN_LIBRARY).mtimeMs >= statSync(STANDIN_SOURCE).mtimeMs;
  if (fresh) return STANDIN_LIBRARY;
  mkdirSync(fileURLToPath(new URL('../build', import.meta.url)), { recursive: true });
  const tmp = `${STANDIN_LIBRARY}.${process.pid}.tmp`;
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-pthread', '-Wall', '-o', tmp, STANDIN_SOURCE], { stdio: 'pipe' });
  renameSync(tmp, STANDIN_LIBRARY);
  return STANDIN_LIBRARY;
}

/** The stand-in as all three libraries (IOKit, CoreFoundation, libSystem). */
export function standinLibraries(): IokitLibraryPaths {
  const path = buildStandin();
  return { iokit: path, coreFoundation: path, system: path };
}
