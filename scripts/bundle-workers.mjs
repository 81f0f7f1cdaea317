#!/usr/bin/env node
/**
 * Bundles the worker entries (after `tsc`): dist/src/actors/worker/device.worker.js,
 * irq-pump.worker.js and everything they import become a few files under
 * dist/workers/ (chunks shared by both).
 *
 * Why: one device is one worker thread, so what a worker costs to load is paid
 * once per device. Node's ES module loader keeps ~25 KiB per module in each
 * isolate (its module job, wrap, resolution and URL records), and the device
 * worker's graph is ~60 modules: unbundled, modules cost more than the bare
 * isolate's heap. Measured on the dev VM (32 workers, RSS growth per worker,
 * runtime + control plane + sim backend loaded): bare 8.46 MiB, unbundled
 * 13.7 MiB, bundled 11.1 MiB, bundled and minified 10.0 MiB.
 *
 * `import.meta.url` keeps meaning the module's own location in dist/src (a
 * backend names its view-factory module and the IRQ pump worker relative to
 * itself): each use is rewritten relative to the bundle's directory.
 * Names are kept (errors and actors report them), only whitespace, comments
 * and local names go. Non-ASCII characters are escaped: one `–` in an error
 * text makes V8 keep the whole chunk's source as a two-byte string. Source
 * maps are written beside the chunks (node --enable-source-maps maps a
 * worker's stack back to the TypeScript).
 */
import { rm } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(root, 'dist/workers');
const entries = {
  'device.worker': resolve(root, 'dist/src/actors/worker/device.worker.js'),
  // linux/iokit: each device's native IRQ pump thread is a second worker.
  'irq-pump.worker': resolve(root, 'dist/src/actors/worker/irq-pump.worker.js'),
};

/** Rewrites `import.meta.url` to the module's own dist/src URL, as seen from the bundle. */
const keepModuleUrls = {
  name: 'pcipt-keep-module-urls',
  transform(code, id) {
    if (!code.includes('import.meta.url')) return null;
    const rel = relative(outDir, id).split('\\').join('/');
    return { code: code.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), map: null };
  },
};

await rm(outDir, { recursive: true, force: true });
const bundle = await rolldown({
  input: entries,
  platform: 'node',
  // ES module builds first (comlink's main is its UMD build).
  resolve: { mainFields: ['module', 'main'] },
  // node: builtins stay imports; koffi is a native addon loaded through createRequire.
  external: [/^node:/, 'koffi'],
  plugins: [keepModuleUrls],
  logLevel: 'warn',
  onLog(level, log, handler) {
    // backends/index.js imports a backend lazily that the warm-up also imports: expected.
    if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
    handler(level, log);
  },
});
try {
  await bundle.write({ dir: outDir, format: 'esm', minify: true, keepNames: true, charset: 'ascii', sourcemap: true, chunkFileNames: '[name]-[hash].js' });
} finally {
  await bundle.close();
}
