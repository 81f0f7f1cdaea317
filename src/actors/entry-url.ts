/**
 * Where a worker entry's compiled JavaScript is. Node 20 workers cannot load
 * `.ts`, so when this code itself runs from TypeScript sources (vitest), the
 * sibling `.js` does not exist and the one under `dist/` is used instead.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PassthroughError } from '../errors.js';

/**
 * The compiled entry `url` (a `.js` URL next to the calling module), or its
 * twin under `dist/` when the sources run uncompiled.
 * Throws PT_ERR_NOT_FOUND, naming the fix, when neither exists.
 */
export function compiledEntry(url: URL, what: string): URL {
  const path = fileURLToPath(url);
  if (existsSync(path)) return url;
  const distPath = path.replace(/([\\/])src([\\/])/, '$1dist$1src$2');
  if (distPath !== path && existsSync(distPath)) return pathToFileURL(distPath);
  throw new PassthroughError('PT_ERR_NOT_FOUND', `compiled ${what} not found (run "npm run build")`, { path: distPath });
}
