/**
 * Where a worker entry is. Node 20 workers cannot load `.ts`, and each ES
 * module a worker loads costs its isolate ~25 KiB, so worker entries run
 * from their bundles under dist/workers/ (scripts/bundle-workers.mjs, run by
 * `npm run build` after `tsc`), whether this code runs from dist/src or from
 * the TypeScript sources (vitest).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PassthroughError } from '../errors.js';

/**
 * The bundled worker entry `name` under dist/workers/.
 * Throws PT_ERR_NOT_FOUND, naming the fix, when the bundle is missing.
 */
export function bundledEntry(name: string, what: string): URL {
  const inDist = new URL(`../../workers/${name}`, import.meta.url);
  if (existsSync(fileURLToPath(inDist))) return inDist;
  const fromSources = new URL(`../../dist/workers/${name}`, import.meta.url);
  if (existsSync(fileURLToPath(fromSources))) return fromSources;
  throw new PassthroughError('PT_ERR_NOT_FOUND', `bundled ${what} not found (run "npm run build")`, { path: fileURLToPath(fromSources) });
}
