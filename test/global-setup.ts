import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Fails fast with a clear message when the compiled worker entries are missing. */
export default function setup(): void {
  const marker = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
  if (!existsSync(marker)) {
    throw new Error(`compiled output missing (${marker}): run "npm run build" (npm test does it for you)`);
  }
}
