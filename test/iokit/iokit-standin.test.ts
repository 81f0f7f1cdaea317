/**
 * The stand-in itself catches malformed calls: a counted violation and
 * kIOReturnBadArgument by default, an abort under STANDIN_STRICT=1. This is
 * what makes a wrong prototype in src/iokit/bindings.ts fail a test.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { loadIokitBindings } from '../../src/iokit/bindings.js';
import { IOReturn } from '../../src/dext/contract.js';
import { createIokitDextDriver, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { toBdf } from '../../src/types.js';
import { useStandin } from './helpers.js';

const s = useStandin();

test('malformed calls are refused with BadArgument and recorded', () => {
  const b = loadIokitBindings(s.libraries);
  const c = createIokitDextDriver({ libraries: s.libraries }).connect(toBdf('03:00.0')) as IokitDextClient;
  const out = new BigUint64Array(8);
  // outputs without an outputCnt
  expect(b.IOConnectCallMethod(c.connection, 0, null, 0, null, 0, out, null, null, null)).toBe(IOReturn.BadArgument);
  expect(s.ctl.lastViolation()).toContain('outputCnt');
  // a wrong input count for the selector
  expect(b.IOConnectCallMethod(c.connection, 8, BigUint64Array.of(0n), 1, null, 0, out, Uint32Array.of(1), null, null)).toBe(IOReturn.BadArgument);
  expect(s.ctl.lastViolation()).toContain('inputCnt 1, expected 2');
  // a map into another task, and without kIOMapAnywhere
  const a = new BigUint64Array(1);
  const z = new BigUint64Array(1);
  expect(b.IOConnectMapMemory64(c.connection, 1, b.machTaskSelf() + 1, a, z, 1)).toBe(IOReturn.BadArgument);
  expect(b.IOConnectMapMemory64(c.connection, 1, b.machTaskSelf(), a, z, 0)).toBe(IOReturn.BadArgument);
  // a wake message whose size field disagrees with send_size
  const msg = new Uint8Array(24);
  expect(b.mach_msg(msg, 0x11, 24, 0, 0, 0, 0)).toBe(IOReturn.BadArgument);
  expect(s.ctl.violations()).toBe(5);
  s.ctl.reset(); // the expected violations are cleared for the afterEach check
});

test('STANDIN_STRICT=1 aborts the process on the first violation', () => {
  const bindingsUrl = pathToFileURL(fileURLToPath(new URL('../../dist/src/iokit/bindings.js', import.meta.url))).href;
  const script = `
    const { bindLibraryFunctions } = await import(${JSON.stringify(bindingsUrl)});
    const f = bindLibraryFunctions(${JSON.stringify(s.libraries.iokit)}, { open: 'int IOServiceOpen(uint32_t s, uint32_t t, uint32_t type, uint32_t *c)' });
    f.open(0x2001, 0x103, 0, null);
    console.log('survived');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, STANDIN_STRICT: '1' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(r.signal).toBe('SIGABRT');
  expect(r.stdout).not.toContain('survived');
  expect(r.stderr).toContain('strict mode violation: IOServiceOpen: NULL connect out');
});
