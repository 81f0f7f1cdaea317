/**
 * The descriptor carries everything the fast path needs in any thread: a
 * fresh worker opens a sim device from it alone and reaches its RAM BAR, its
 * trapped registers (through the mailbox) and its config space. (The iokit
 * stand-in and the Linux VM tier run the same reader over host-address BARs.)
 */
import { afterEach, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/index.js';
import { readInFreshWorker } from '../../shared/descriptor.js';

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

it('opens a sim device in a fresh worker from its descriptor alone', async () => {
  sup = await createSupervisor();
  const h = await sup.attach('0000:02:00.0');
  const desc = h.descriptor();
  expect(desc.viewFactoryModule).toBeUndefined(); // sim BARs are SharedArrayBuffers
  const out = await readInFreshWorker(desc, [
    { kind: 'bar-write32', bar: 2, offset: 0x80, value: 0xc0ffee11 },
    { kind: 'bar-read32', bar: 2, offset: 0x80 },
    { kind: 'bar-read32', bar: 0, offset: 0x00 }, // trapped register file: the mailbox slow path
    { kind: 'config-read16', offset: 2 },
  ]);
  expect(out).toEqual({ ok: true, results: [0xc0ffee11, 0x5a010001, 0x5a01] });
  expect(h.bar(2)!.read32(0x80)).toBe(0xc0ffee11);
});

it('a descriptor whose BARs are host addresses needs its view factory: openFastPath says how', async () => {
  sup = await createSupervisor();
  const h = await sup.attach('0000:02:00.0');
  const desc = h.descriptor();
  const bars = desc.bars.map((b) => (b === undefined ? undefined : { ...b, buffer: undefined, address: 0x1000n }));
  const out = await readInFreshWorker({ ...desc, bars, viewFactoryModule: undefined }, [{ kind: 'config-read16', offset: 0 }]);
  expect(out).toMatchObject({ ok: false, code: 'PT_ERR_INVALID_ARGUMENT' });
  expect((out as { message: string }).message).toMatch(/loadFastPath/);
});
