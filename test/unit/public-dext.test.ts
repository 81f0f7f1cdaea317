/**
 * The raw dext client is public (advanced): a tool like the original's CLI
 * connects, claims and calls selectors itself, here on the simulated dext.
 * Importing the public entry loads no koffi: the IOKit driver binds on use.
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { createSimDext, IOReturn, Selector } from '../../src/index.js';

it('connects, claims as the opener, reads identity and config through the selectors', () => {
  const dext = createSimDext();
  try {
    expect(dext.listServices().map((s) => s.bdf)).toContain('0000:00:10.0');
    const a = dext.connect('0000:00:10.0');
    const b = dext.connect('0000:00:10.0');
    expect(a.getIdentity()).toMatchObject({ vendorId: 0x1234, deviceId: 0x11e8 });
    // Gated selector before any claim: NotOpen.
    expect(() => a.setupInterrupts()).toThrow(expect.objectContaining({ kernReturn: IOReturn.NotOpen, context: expect.objectContaining({ selector: Selector.SetupInterrupts }) }));
    a.claim(); // the opener
    b.claim(); // a secondary
    expect(dext.model('0000:00:10.0')).toMatchObject({ providerClaimed: true, refs: 2 });
    expect(b.configRead(0, 4)).toBe(0x11e81234);
    a.close();
    b.close();
  } finally {
    dext.close();
  }
});

it('importing the public entry loads no koffi', () => {
  const url = pathToFileURL(new URL('../../dist/src/index.js', import.meta.url).pathname).href;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `import { createRequire } from 'node:module'; await import(${JSON.stringify(url)}); const r = createRequire(import.meta.url); console.log(Object.keys(r.cache).some((k) => k.includes('/node_modules/koffi/')));`],
    { encoding: 'utf8' },
  );
  expect(out.trim()).toBe('false');
});
