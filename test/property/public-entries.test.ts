/**
 * A fuzz of every public entry with bad inputs (bigint, Symbol, null, NaN,
 * negatives, fractions, huge numbers, wrong types): whatever is refused is
 * refused with a PassthroughError carrying a known code, never a plain
 * TypeError/RangeError, and nothing crashes or hangs (waits run on blocks
 * whose liveness word already says the worker is gone, so a call that gets
 * past validation fails at once instead of blocking).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../src/actors/supervisor/supervisor.js';
import type { DeviceHandle } from '../../src/actors/supervisor/handle.js';
import { ERROR_CODES, PassthroughError } from '../../src/errors.js';
import {
  BarWindow,
  ConfigPort,
  DmaMap,
  IrqLine,
  Liveness,
  createDeviceControlBlock,
  loadFastPath,
  markLiveness,
  openFastPath,
  type DmaControl,
} from '../../src/fastpath/index.js';
import { byteRange, parseBdf, toBdf } from '../../src/types.js';

/** Values no public entry should take as they are (a few of them may be valid somewhere: 0 is a fine offset). */
const bad = fc.oneof(
  fc.constantFrom<unknown>(null, undefined, Number.NaN, -1, -0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, Infinity, -Infinity, 0, 7),
  fc.constantFrom<unknown>(0n, 1n, -1n, 2n ** 64n, Symbol('bad'), 'x', '0', '', true, {}, [], () => 1),
  fc.constantFrom<unknown>(new SharedArrayBuffer(8), new ArrayBuffer(8), new Uint8Array(4), { address: -1n, lengthBytes: 4 }, { iova: 2n ** 64n }),
  fc.anything(),
);
const args = fc.array(bad, { minLength: 0, maxLength: 4 });

const known = new Set<string>(ERROR_CODES);
/** Runs `f`; a throw or a rejection must be a PassthroughError with a known code. */
async function typedOrOk(name: string, f: () => unknown): Promise<void> {
  let outcome: unknown;
  try {
    outcome = f();
    if (outcome instanceof Promise) await outcome;
  } catch (e) {
    const ok = e instanceof PassthroughError && known.has(e.code);
    if (!ok) throw new Error(`${name} threw an untyped ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

type Entry = [name: string, call: (...a: unknown[]) => unknown];

function deadBlock(state: (typeof Liveness)[keyof typeof Liveness] = Liveness.WORKER_EXITED): SharedArrayBuffer {
  const control = createDeviceControlBlock();
  markLiveness(control, state);
  return control;
}

function fastPathEntries(): Entry[] {
  const control = deadBlock();
  const win = BarWindow.open(
    { bar: 0, sizeBytes: 4096, buffer: new SharedArrayBuffer(4096), trapRanges: [{ offsetBytes: 2048, lengthBytes: 64 }], control },
    { slowPath: { read: () => 0n, write: () => {} } },
  );
  const line = new IrqLine(control);
  const port = new ConfigPort(control, { timeoutMs: 60_000 });
  const dmaControl: DmaControl = {
    dmaMap: async (r) => ({ key: 0n as never, busAddr: 0n as never, sizeBytes: BigInt(r.lengthBytes) }),
    dmaUnmap: async () => {},
  };
  const dma = new DmaMap(dmaControl);
  const entries: Entry[] = [];
  for (const m of ['read8', 'read16', 'read32', 'read64'] as const) entries.push([`BarWindow.${m}`, (a) => win[m](a as number)]);
  for (const m of ['write8', 'write16', 'write32'] as const) entries.push([`BarWindow.${m}`, (a, b) => win[m](a as number, b as number)]);
  entries.push(['BarWindow.write64', (a, b) => win.write64(a as number, b as bigint)]);
  entries.push(['BarWindow.open', (a, b) => BarWindow.open(a as never, b as never)]);
  for (const m of ['read8', 'read16', 'read32'] as const) entries.push([`ConfigPort.${m}`, (a) => port[m](a as number)]);
  for (const m of ['write8', 'write16', 'write32'] as const) entries.push([`ConfigPort.${m}`, (a, b) => port[m](a as number, b as number)]);
  entries.push(['new ConfigPort', (a, b) => new ConfigPort(a as never, b as never)]);
  entries.push(['new ConfigPort(control, opts)', (a) => new ConfigPort(control, a as never)]);
  entries.push(['BarWindow.open(desc fields)', (a, b, c) => BarWindow.open({ bar: a as number, sizeBytes: b as number, buffer: new SharedArrayBuffer(64), trapRanges: c as never, control: deadBlock() })]);
  for (const m of ['raise', 'mask', 'unmask', 'isMasked', 'isPending'] as const) entries.push([`IrqLine.${m}`, (a) => line[m](a as number)]);
  entries.push(['IrqLine.raiseWords', (a) => line.raiseWords(a as never)]);
  entries.push(['IrqLine.drain', (a) => line.drain(a as never)]);
  entries.push(['IrqLine.drainInto', (a) => line.drainInto(a as never)]);
  entries.push(['IrqLine.waitSync', (a, b, c) => line.waitSync(a as number, b as number, c as never)]);
  entries.push(['IrqLine.waitAsync', (a, b) => line.waitAsync(a as number, b as number)]);
  entries.push(['new IrqLine', (a) => new IrqLine(a as never)]);
  entries.push(['DmaMap.map', (a, b) => dma.map(a as never, b as never)]);
  entries.push(['DmaMap.map(sab, opts)', (a) => dma.map(new SharedArrayBuffer(4096), a as never)]);
  entries.push(['DmaMap.map(sab, { iova })', (a) => dma.map(new SharedArrayBuffer(4096), { iova: a as bigint })]);
  entries.push(['DmaMap.map(sab, { offsetBytes, lengthBytes })', (a, b) => dma.map(new SharedArrayBuffer(4096), { offsetBytes: a as number, lengthBytes: b as number })]);
  entries.push(['DmaMap.unmap', (a) => dma.unmap(a as bigint)]);
  entries.push(['new DmaMap', (a) => new DmaMap(a as never)]);
  entries.push(['openFastPath', (a, b) => openFastPath(a as never, b as never)]);
  entries.push(['loadFastPath', (a, b) => loadFastPath(a as never, b as never)]);
  entries.push(['openFastPath(descriptor, deps)', (a) => openFastPath({ id: 'x', bdf: '0000:00:00.0', control: deadBlock(), bars: [] }, a as never)]);
  entries.push(['byteRange', (a, b) => byteRange(a as number, b as number)]);
  entries.push(['parseBdf', (a) => parseBdf(a as string)]);
  entries.push(['toBdf', (a) => toBdf(a as string)]);
  entries.push(['createDeviceControlBlock', (a) => createDeviceControlBlock(a as never)]);
  entries.push(['markLiveness', (a, b) => markLiveness(a as never, b as never)]);
  return entries;
}

describe('every public entry refuses bad input with a typed error', () => {
  it('fast path: BarWindow, ConfigPort, IrqLine, DmaMap, openFastPath/loadFastPath and the helpers', async () => {
    const entries = fastPathEntries();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...entries), args, async ([name, call], a) => {
        await typedOrOk(name, () => call(...a));
      }),
      { numRuns: 3000 },
    );
  });

  describe('supervisor and device handle', () => {
    let sup: Supervisor;
    let h: DeviceHandle;
    beforeAll(async () => {
      sup = await createSupervisor();
      h = await sup.attach('0000:00:10.0', { id: 'fuzz' });
    });
    afterAll(async () => {
      await sup.close();
    });

    it('createSupervisor, attach, detach and every handle method', async () => {
      const entries: Entry[] = [
        ['createSupervisor', async (a) => (await createSupervisor(a as never)).close()],
        ['createSupervisor({ callTimeoutMs })', async (a) => (await createSupervisor({ callTimeoutMs: a as number })).close()],
        ['createSupervisor({ restart })', async (a) => (await createSupervisor({ restart: a as never })).close()],
        ['createSupervisor({ backendOptions: { faults } })', async (a) => (await createSupervisor({ backendOptions: { faults: a } })).close()],
        ['createSupervisor({ warmWorkers })', async (a) => (await createSupervisor({ warmWorkers: a as number })).close()],
        ['createSupervisor({ presenceCheckMs })', async (a) => (await createSupervisor({ presenceCheckMs: a as number })).close()],
        ['Supervisor.attach', (a, b) => sup.attach(a as string, b as never)],
        ['Supervisor.detach', (a) => sup.detach(a as string)],
        ['handle.bar', (a) => h.bar(a as number)],
        ['handle.companion.read32', (a) => h.companion.read32(a as number)],
        ['handle.companion.write32', (a, b) => h.companion.write32(a as number, b as number)],
        ['handle.dext', (a) => h.dext(a as never)],
        ['handle.vfio.regionInfo', (a) => h.vfio.regionInfo(a as number)],
        ['handle.vfio.irqInfo', (a) => h.vfio.irqInfo(a as number)],
        ['handle.vfio.regionRead', (a, b, c) => h.vfio.regionRead(a as number, b as number, c as number)],
        ['handle.vfio.regionWrite', (a, b, c) => h.vfio.regionWrite(a as number, b as number, c as never)],
        ['handle.vfio.setIrqs', (a) => h.vfio.setIrqs(a as never)],
        ['handle.dma.map', (a, b) => h.dma.map(a as never, b as never)],
        ['handle.dma.unmap', (a) => h.dma.unmap(a as bigint)],
        ['handle.config.read32', (a) => h.config.read32(a as number)],
        ['handle.config.write16', (a, b) => h.config.write16(a as number, b as number)],
        ['handle.irq.raise', (a) => h.irq.raise(a as number)],
        ['handle.irq.waitSync', (a, b) => h.irq.waitSync(a as number, typeof b === 'number' ? Math.min(b, 5) : (b as number))],
      ];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...entries), args, async ([name, call], a) => {
          await typedOrOk(name, () => call(...a));
        }),
        { numRuns: Number(process.env.PCIPT_FUZZ_RUNS ?? 400) },
      );
      // The device survived all of it.
      expect(h.config.read16(0)).toBe(0x1234);
      expect(sup.list().map((d) => d.id)).toContain('fuzz');
    });
  });
});
