/**
 * rule 5 (config write filter) and the later original's safety rule (MSI
 * capability, PCIe DevCtl / DevCtl2): the pure plan and the apple ops' dext
 * call sequence against an independent byte-set reference model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAppleDeviceIoOps } from '../../src/apple/device-io-ops.js';
import { createAppleDeviceState } from '../../src/apple/device-state.js';
import { PassthroughError } from '../../src/errors.js';
import { configWriteIsSafe, planConfigWrite, type ConfigWriteGuards } from '../../src/apple/config-filter.js';
import { RegionIndex } from '../../src/vfio/device-io-ops.js';
import { toBdf } from '../../src/types.js';
import { createFakeClient } from '../unit/apple/fake-dext.js';

const bytesOf = (off: number, size: number) => Array.from({ length: size }, (_, i) => off + i);
const isCommandByte = (b: number) => b === 4 || b === 5;
const isBlockedByte = (b: number) => b === 6 || b === 7 || (b >= 0x10 && b < 0x28);

/** The guarded bytes restated as a set: the MSI capability, DevCtl and DevCtl2. */
function guardedBytes(g: ConfigWriteGuards): Set<number> {
  const set = new Set<number>();
  if (g.msi !== undefined) for (let i = 0; i < g.msi.sizeBytes; i++) set.add(g.msi.offset + i);
  if (g.pcieCap !== undefined) for (const r of [8, 9, 0x28, 0x29]) set.add(g.pcieCap + r);
  return set;
}

type Outcome = { calls: [number, number, number][]; result: number | 'EINVAL' };

/** The reference: rule 5 and the safety rule restated byte by byte. */
function reference(off: number, data: Uint8Array, guards: ConfigWriteGuards = {}): Outcome {
  const bytes = bytesOf(off, data.length);
  const calls: [number, number, number][] = [];
  const guarded = guardedBytes(guards);
  for (const b of bytes) if (isCommandByte(b)) calls.push([b, 1, data[b - off]!]);
  if (bytes.length > 0 && bytes.every(isCommandByte)) return { calls, result: data.length };
  if (bytes.some(isBlockedByte) || bytes.some((b) => guarded.has(b))) return { calls, result: data.length };
  const eff = Math.min(data.length, 4096 - off);
  if (eff !== 1 && eff !== 2 && eff !== 4) return { calls, result: 'EINVAL' };
  let v = 0;
  for (let i = eff - 1; i >= 0; i--) v = v * 256 + data[i]!;
  calls.push([off, eff, v]);
  return { calls, result: data.length };
}

/** Capabilities where real ones sit: MSI 0x40–0xf0 (any of its four sizes), PCIe 0x40–0xc0; either may be absent. */
const guardsArb: fc.Arbitrary<ConfigWriteGuards> = fc.record(
  {
    msi: fc.record({ offset: fc.integer({ min: 0x10, max: 0x3c }).map((d) => d * 4), sizeBytes: fc.constantFrom(0x0a, 0x0e, 0x14, 0x18) }),
    pcieCap: fc.integer({ min: 0x10, max: 0x30 }).map((d) => d * 4),
  },
  { requiredKeys: [] },
);

const offsetArb = fc.oneof(fc.integer({ min: 0, max: 0x48 }), fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 4088, max: 4095 }));
// Size 0 follows the original's interval arithmetic, not byte sets: covered in test/unit/apple/config-filter.test.ts.
const dataArb = fc.uint8Array({ minLength: 1, maxLength: 8 });

describe('property: rule 5 config write filter', () => {
  it('rule 5: configWriteIsSafe equals "no byte in STATUS or BAR0–5"', () => {
    fc.assert(
      fc.property(offsetArb, fc.integer({ min: 1, max: 8 }), (off, size) => {
        expect(configWriteIsSafe(off, size)).toBe(!bytesOf(off, size).some(isBlockedByte));
      }),
      { numRuns: 2000 },
    );
  });

  it('rule 5: planConfigWrite matches the byte-set reference', () => {
    fc.assert(
      fc.property(offsetArb, fc.integer({ min: 1, max: 8 }), (off, size) => {
        const plan = planConfigWrite(off, size);
        const cmd = bytesOf(off, size).filter(isCommandByte);
        expect(plan.commandBytes === undefined ? [] : bytesOf(plan.commandBytes.start, plan.commandBytes.end - plan.commandBytes.start)).toEqual(cmd);
        expect(plan.insideCommand).toBe(size > 0 && bytesOf(off, size).every(isCommandByte));
        expect(plan.effBytes).toBe(Math.min(size, 4096 - off));
      }),
      { numRuns: 2000 },
    );
  });

  it('safety rule: planConfigWrite drops exactly the writes touching a guarded byte (and not COMMAND-only ones)', () => {
    fc.assert(
      fc.property(guardsArb, fc.integer({ min: 0, max: 0x100 }), fc.integer({ min: 1, max: 8 }), (guards, off, size) => {
        const bytes = bytesOf(off, size);
        const guarded = guardedBytes(guards);
        const plan = planConfigWrite(off, size, guards);
        const rfcDrop = !bytes.every(isCommandByte) && bytes.some(isBlockedByte);
        expect(plan.guarded).toBe(!rfcDrop && !bytes.every(isCommandByte) && bytes.some((b) => guarded.has(b)));
        expect(plan.dropped).toBe(rfcDrop || plan.guarded);
      }),
      { numRuns: 3000 },
    );
  });

  it('rule 5 + safety rule: the ops send exactly the reference ConfigWrite sequence and return size or EINVAL', () => {
    fc.assert(
      fc.property(offsetArb, dataArb, fc.option(guardsArb, { nil: undefined }), (off, data, guards) => {
        const client = createFakeClient();
        const state = createAppleDeviceState(toBdf('0000:00:10.0'), client);
        if (guards !== undefined) state.writeGuards = guards;
        const ops = createAppleDeviceIoOps(state);
        const ref = reference(off, data, guards);
        let result: number | 'EINVAL';
        try {
          result = ops.regionWrite(RegionIndex.CONFIG, off, data);
        } catch (e) {
          expect(PassthroughError.is(e, 'PT_ERR_INVALID_ARGUMENT')).toBe(true);
          expect((e as PassthroughError).errno).toBe('EINVAL');
          result = 'EINVAL';
        }
        const sent = client.calls.filter((c) => c.method === 'configWrite').map((c) => c.args as [number, number, number]);
        expect(sent).toEqual(ref.calls);
        expect(result).toBe(ref.result);
      }),
      { numRuns: 3000 },
    );
  });
});
