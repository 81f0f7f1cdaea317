/**
 * Importing the IOKit backend loads neither koffi nor any library: they load
 * when createIokitDextDriver is called. Checked in a fresh Node process on
 * the compiled output, so no other test's imports interfere.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { buildStandin } from './standin/build.js';

const DIST = fileURLToPath(new URL('../../dist/src/iokit', import.meta.url)) + '/';

test('importing dext-client, driver-status and native-view loads no koffi until a driver is created', () => {
  const lib = buildStandin();
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(pathToFileURL(DIST).href)});
    const koffiLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/koffi/'));
    const client = await import(${JSON.stringify(pathToFileURL(DIST + 'dext-client.js').href)});
    await import(${JSON.stringify(pathToFileURL(DIST + 'driver-status.js').href)});
    await import(${JSON.stringify(pathToFileURL(DIST + 'native-view.js').href)});
    const bindings = await import(${JSON.stringify(pathToFileURL(DIST + 'bindings.js').href)});
    const out = { afterImport: koffiLoaded(), boundAfterImport: bindings.iokitBindingsLoaded() };
    if (process.platform !== 'darwin') {
      try { client.createIokitDextDriver(); } catch (e) { out.platformError = e.code; }
      out.afterPlatformError = koffiLoaded();
    }
    client.createIokitDextDriver({ libraries: { iokit: ${JSON.stringify(lib)}, coreFoundation: ${JSON.stringify(lib)}, system: ${JSON.stringify(lib)} } });
    out.afterCreate = koffiLoaded();
    out.boundAfterCreate = bindings.iokitBindingsLoaded();
    console.log(JSON.stringify(out));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 }));
  expect(out.afterImport).toBe(false);
  expect(out.boundAfterImport).toBe(false);
  if (process.platform !== 'darwin') {
    expect(out.platformError).toBe('PT_ERR_PLATFORM');
    expect(out.afterPlatformError).toBe(false);
  }
  expect(out.afterCreate).toBe(true);
  expect(out.boundAfterCreate).toBe(true);
});
