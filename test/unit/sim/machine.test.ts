import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SIM_MACHINE, NVME_SAMPLE_DUMP, loadSimMachine, parseSimMachine } from '../../../src/sim/index.js';

function rejects(json: unknown, message: string | RegExp) {
  let err: unknown;
  try {
    parseSimMachine(json);
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
  expect((err as Error).message).toMatch(message);
}

describe('sim machine JSON', () => {
  it('accepts the default machine and canonicalises BDFs', () => {
    expect(parseSimMachine(DEFAULT_SIM_MACHINE).functions).toHaveLength(6);
    expect(parseSimMachine({ functions: [{ bdf: '00:10.0', model: 'edu' }] }).functions[0]!.bdf).toBe('0000:00:10.0');
  });

  it.each([
    [null, /\$: must be an object/],
    [{}, /functions: must be a non-empty array/],
    [{ functions: [], extra: 1 }, /\$\.extra: unknown field/],
    [{ functions: [] }, /functions: must be a non-empty array/],
    [{ functions: [1] }, /functions\[0\]: must be an object/],
    [{ functions: [{ bdf: 'nope', model: 'edu' }] }, /functions\[0\]\.bdf: "nope" is not a PCI address/],
    [{ functions: [{ bdf: 5, model: 'edu' }] }, /functions\[0\]\.bdf: must be a string/],
    [{ functions: [{ bdf: '00:10.0', model: 'edu' }, { bdf: '0000:00:10.0', model: 'edu' }] }, /functions\[1\]\.bdf: duplicate function 0000:00:10.0/],
    [{ functions: [{ bdf: '00:10.0', model: 'gpu' }] }, /functions\[0\]\.model: must be one of edu, msix, dual, replay/],
    [{ functions: [{ bdf: '00:10.0', model: 'edu', options: [] }] }, /functions\[0\]\.options: must be an object/],
    [{ functions: [{ bdf: '00:10.0', model: 'edu', options: { dmaMaskBits: 65 } }] }, /functions\[0\]\.options\.dmaMaskBits: must be an integer from 1 to 64/],
    [{ functions: [{ bdf: '00:10.0', model: 'edu', options: { colour: 1 } }] }, /functions\[0\]\.options\.colour: unknown field/],
    [{ functions: [{ bdf: '00:10.0', model: 'msix', options: { vectors: 0 } }] }, /options\.vectors: must be an integer from 1 to 2048/],
    [{ functions: [{ bdf: '00:10.0', model: 'msix', options: { ramBarBytes: 20000 } }] }, /options\.ramBarBytes: must be a power of two/],
    [{ functions: [{ bdf: '00:10.0', model: 'dual', options: { vectors: 3 } }] }, /functions\[0\]\.options\.vectors: must be a power of two/],
    [{ functions: [{ bdf: '00:10.1', model: 'dual' }] }, /functions\[0\]\.bdf: function 1 of a slot needs function 0 \(0000:00:10\.0\)/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay' }] }, /functions\[0\]\.options: give exactly one of "dump" or "dumpFile"/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: 'x', dumpFile: 'y', barSizes: [] } }] }, /exactly one/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: 'hello', barSizes: [] } }] }, /options\.dump: no device header line/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: '00:01.0 \n00: zz\n', barSizes: [] } }] }, /options\.dump: lspci dump line 2: malformed byte "zz"/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP } }] }, /options\.barSizes: must be an array/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP, barSizes: [16384, 4096] } }] }, /options\.barSizes\[1\]: BAR0 is 64-bit, so BAR1 is its upper half/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP, barSizes: [1000] } }] }, /options\.barSizes\[0\]: must be 0 or a power of two/],
    [{ functions: [{ bdf: '04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP, dumpBdf: '02:00.0', barSizes: [] } }] }, /options\.dumpBdf: 0000:02:00\.0 is not in the dump/],
  ])('refuses %j', (json, message) => rejects(json, message));

  it('loadSimMachine reads a file, resolves dumpFile next to it and inlines the dump', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcipt-sim-'));
    writeFileSync(join(dir, 'nvme.txt'), NVME_SAMPLE_DUMP);
    writeFileSync(
      join(dir, 'machine.json'),
      JSON.stringify({ functions: [{ bdf: '04:00.0', model: 'replay', options: { dumpFile: 'nvme.txt', barSizes: [16384] } }] }),
    );
    const m = loadSimMachine(join(dir, 'machine.json'));
    expect(m.functions[0]).toMatchObject({ bdf: '0000:04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP, barSizes: [16384] } });
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(() => loadSimMachine(join(dir, 'bad.json'))).toThrowError(expect.objectContaining({ code: 'PT_ERR_INVALID_ARGUMENT' }));
    expect(() => loadSimMachine(join(dir, 'missing.json'))).toThrowError(expect.objectContaining({ code: 'PT_ERR_NOT_FOUND' }));
  });
});
