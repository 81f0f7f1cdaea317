#!/usr/bin/env node
// The pcipt command. The CLI lives in dist/src/cli/main.js (run `npm run build` first).
let main;
try {
  ({ main } = await import('../dist/src/cli/main.js'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  process.stderr.write('pcipt: the compiled CLI is missing (dist/): run "npm run build" first\n');
  process.exit(1);
}

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
