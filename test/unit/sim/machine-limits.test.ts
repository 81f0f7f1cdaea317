/**
 * Machine and dump files are untrusted input: the function count and BAR sizes
 * are bounded before anything is built, and files must be regular files of
 * bounded size (a FIFO is refused, not waited on), read with a deadline.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NVME_SAMPLE_DUMP, loadSimMachine, parseSimMachine } from '../../../src/sim/index.js';
import { SIM_MAX_BAR_BYTES, SIM_MAX_FUNCTIONS, SIM_MAX_TOTAL_BAR_BYTES } from '../../../src/sim/machine.js';
import { allocateBarStore } from '../../../src/sim/bar-store.js';
import { readBoundedTextFile } from '../../../src/sim/bounded-file.js';
import { thrown } from '../../shared/thrown.js';

const dir = mkdtempSync(join(tmpdir(), 'pcipt-limits-'));
const replay = (options: Record<string, unknown>) => ({ functions: [{ bdf: '04:00.0', model: 'replay', options }] });
const edu = (i: number) => ({ bdf: `0000:${(i >> 5).toString(16)}:${(i & 31).toString(16)}.0`, model: 'edu' });

describe('sim machine limits', () => {
  it('refuses more than SIM_MAX_FUNCTIONS functions from the array length, before looking at any element', () => {
    let touched = 0;
    const huge = new Proxy(new Array(1_000_000).fill(edu(0)), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) touched++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const e = thrown(() => parseSimMachine({ functions: huge }));
    expect(e).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { path: 'functions', count: 1_000_000, max: SIM_MAX_FUNCTIONS } });
    expect(touched).toBe(0);
  });

  it('accepts SIM_MAX_FUNCTIONS functions (4 × 256 SR-IOV functions fit) and refuses one more', () => {
    const fns = Array.from({ length: SIM_MAX_FUNCTIONS }, (_, i) => edu(i));
    expect(parseSimMachine({ functions: fns }).functions).toHaveLength(SIM_MAX_FUNCTIONS);
    expect(thrown(() => parseSimMachine({ functions: [...fns, edu(SIM_MAX_FUNCTIONS)] }))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT' });
  });

  it('refuses a BAR larger than 4 GiB with the field and the limit, never a RangeError', () => {
    const big = thrown(() => parseSimMachine({ functions: [{ bdf: '00:10.0', model: 'msix', options: { ramBarBytes: 2 ** 40 } }] }));
    expect(big).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', message: expect.stringMatching(/options\.ramBarBytes: must be an integer from 16384 to 4294967296/) });
    const e = thrown(() => parseSimMachine(replay({ dump: NVME_SAMPLE_DUMP, barSizes: [2 ** 40] })));
    expect(e).toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
      context: { path: 'functions[0].options.barSizes[0]', sizeBytes: 2 ** 40, maxBytes: SIM_MAX_BAR_BYTES },
    });
    expect(parseSimMachine(replay({ dump: NVME_SAMPLE_DUMP, barSizes: [SIM_MAX_BAR_BYTES] })).functions).toHaveLength(1);
  });

  it('refuses a machine whose BARs add up to more than the total cap, naming the function that crossed it', () => {
    const perFunction = SIM_MAX_BAR_BYTES;
    const fits = Math.floor(SIM_MAX_TOTAL_BAR_BYTES / (perFunction + 0x20000));
    const fns = Array.from({ length: fits + 1 }, (_, i) => ({ bdf: `00:${i.toString(16)}.0`, model: 'msix', options: { ramBarBytes: perFunction } }));
    expect(parseSimMachine({ functions: fns.slice(0, fits) }).functions).toHaveLength(fits);
    expect(thrown(() => parseSimMachine({ functions: fns }))).toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
      context: { path: `functions[${fits}]`, maxBytes: SIM_MAX_TOTAL_BAR_BYTES },
    });
  });

  it('a BAR store the host cannot hold is PT_ERR_NO_MEMORY with the BAR in the context', () => {
    expect(thrown(() => allocateBarStore('0000:00:10.0', 2, 2 ** 33))).toMatchObject({
      code: 'PT_ERR_NO_MEMORY',
      context: { bdf: '0000:00:10.0', region: 2, sizeBytes: 2 ** 33 },
    });
  });

  it('refuses an inline dump longer than the dump limit', () => {
    const e = thrown(() => parseSimMachine(replay({ dump: NVME_SAMPLE_DUMP + ' '.repeat(4 * 2 ** 20), barSizes: [16384] })));
    expect(e).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { path: 'functions[0].options.dump', maxBytes: 4 * 2 ** 20 } });
  });
});

describe('machine and dump files', () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);

  it('a FIFO as replay dump is refused at once (opened non-blocking, fstat before any read)', () => {
    const e = thrown(() => parseSimMachine(replay({ dumpFile: fifo, barSizes: [16384] })));
    expect(e).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { fileType: 'a FIFO', file: fifo } });
    expect((e as Error).message).toMatch(/options\.dumpFile: replay dump .* is a FIFO: give a regular file/);
  });

  it('a FIFO as machine file is refused the same way', () => {
    expect(thrown(() => loadSimMachine(fifo))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { path: fifo, fileType: 'a FIFO' } });
  });

  it('refuses a character device and a directory', () => {
    expect(thrown(() => parseSimMachine(replay({ dumpFile: '/dev/zero', barSizes: [16384] })))).toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
      context: { fileType: 'a character device' },
    });
    expect(thrown(() => loadSimMachine(dir))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { fileType: 'a directory' } });
  });

  it('a missing dump file is PT_ERR_NOT_FOUND naming the field', () => {
    const e = thrown(() => parseSimMachine(replay({ dumpFile: '/nonexistent/x.txt', barSizes: [] })));
    expect(e).toMatchObject({ code: 'PT_ERR_NOT_FOUND' });
    expect((e as Error).message).toMatch(/options\.dumpFile: cannot read replay dump \/nonexistent\/x\.txt/);
  });

  it('refuses files over the size limit from their size, without reading them', () => {
    const bigDump = join(dir, 'big-dump.txt');
    writeFileSync(bigDump, '');
    truncateSync(bigDump, 4 * 2 ** 20 + 1); // sparse: nothing is written
    expect(thrown(() => parseSimMachine(replay({ dumpFile: bigDump, barSizes: [16384] })))).toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
      context: { sizeBytes: 4 * 2 ** 20 + 1, maxBytes: 4 * 2 ** 20 },
    });
    const bigMachine = join(dir, 'big-machine.json');
    writeFileSync(bigMachine, '');
    truncateSync(bigMachine, 64 * 2 ** 20);
    expect(thrown(() => loadSimMachine(bigMachine))).toMatchObject({ code: 'PT_ERR_INVALID_ARGUMENT', context: { sizeBytes: 64 * 2 ** 20 } });
  });

  it('gives up with PT_ERR_TIMEOUT when the read outlives its deadline, and reads a regular file whole otherwise', () => {
    const f = join(dir, 'chunks.txt');
    writeFileSync(f, 'x'.repeat(200_000));
    expect(thrown(() => readBoundedTextFile(f, { what: 'test file', maxBytes: 1 << 20, timeoutMs: 0 }))).toMatchObject({
      code: 'PT_ERR_TIMEOUT',
      context: { path: f, timeoutMs: 0 },
    });
    expect(readBoundedTextFile(f, { what: 'test file', maxBytes: 1 << 20, timeoutMs: 60_000 })).toHaveLength(200_000);
    expect(thrown(() => readBoundedTextFile(f, { what: 'test file', maxBytes: 100_000, timeoutMs: 60_000 }))).toMatchObject({
      code: 'PT_ERR_INVALID_ARGUMENT',
      context: { maxBytes: 100_000 },
    });
  });
});
