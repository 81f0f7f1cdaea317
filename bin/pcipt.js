#!/usr/bin/env node
// The pcipt command. The CLI lives in dist/src/cli/main.js (run `npm run build` first).
import { main } from '../dist/src/cli/main.js';

// A closed stdout (`pcipt trace | head`) ends the command quietly, as other CLIs do.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const code = await main(process.argv.slice(2));
process.exitCode = code;
// After a failure (e.g. a benchmark suite that timed out), a wedged worker must
// not keep the process alive; a clean run exits on its own.
if (code !== 0) setTimeout(() => process.exit(code), 3000).unref();
