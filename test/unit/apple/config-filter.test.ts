import { describe, expect, it } from 'vitest';
import { configWriteGuards, configWriteIsGuarded, configWriteIsSafe, msiCapabilityBytes, planConfigWrite } from '../../../src/apple/config-filter.js';

describe('config-filter (rule 5)', () => {
  it('rule 5: a write inside COMMAND is forwarded byte by byte and returns', () => {
    expect(planConfigWrite(4, 2)).toMatchObject({ commandBytes: { start: 4, end: 6 }, insideCommand: true, dropped: false });
    expect(planConfigWrite(5, 1)).toMatchObject({ commandBytes: { start: 5, end: 6 }, insideCommand: true });
  });

  it('rule 5: a dword at 0x04 forwards the COMMAND bytes, then is dropped for STATUS', () => {
    expect(planConfigWrite(4, 4)).toMatchObject({ commandBytes: { start: 4, end: 6 }, insideCommand: false, dropped: true });
  });

  it('rule 5: STATUS and BAR0–5 are dropped; ROM BAR, capabilities and 0x28 are forwarded', () => {
    expect(planConfigWrite(6, 2).dropped).toBe(true);
    expect(planConfigWrite(0x10, 4).dropped).toBe(true);
    expect(planConfigWrite(0x24, 4).dropped).toBe(true);
    expect(planConfigWrite(0x0e, 4).dropped).toBe(true); // reaches 0x10
    expect(planConfigWrite(0x28, 4).dropped).toBe(false);
    expect(planConfigWrite(0x30, 4).dropped).toBe(false);
    expect(planConfigWrite(0x50, 2).dropped).toBe(false);
  });

  it('rule 5: eff is min(size, 4096 - off) and must be 1, 2 or 4', () => {
    expect(planConfigWrite(4094, 4)).toMatchObject({ effBytes: 2, effWidthValid: true });
    expect(planConfigWrite(0x40, 3)).toMatchObject({ effBytes: 3, effWidthValid: false });
    expect(planConfigWrite(0x40, 8)).toMatchObject({ effBytes: 8, effWidthValid: false });
  });

  it('rule 5: size 0 follows the original interval arithmetic (0x05 "inside" COMMAND, 0x11 "overlaps" BARs)', () => {
    expect(planConfigWrite(5, 0)).toMatchObject({ insideCommand: true });
    expect(configWriteIsSafe(0x11, 0)).toBe(false);
    expect(planConfigWrite(0x40, 0)).toMatchObject({ dropped: false, effWidthValid: false });
  });
});

describe('config-filter: the later original\'s safety rule (MSI capability, PCIe DevCtl, DevCtl2)', () => {
  // An MSI capability at 0x50 (64-bit, maskable: 0x18 bytes) and a PCIe capability at 0x70.
  const guards = configWriteGuards({ offset: 0x50, vectors: 1, is64: true, maskable: true }, 0x70);

  it('MSI capability bytes are sized as QEMU does: 0x0a, +4 for 64-bit, +0x0a for per-vector masking', () => {
    expect(msiCapabilityBytes({ is64: false, maskable: false })).toBe(0x0a);
    expect(msiCapabilityBytes({ is64: true, maskable: false })).toBe(0x0e);
    expect(msiCapabilityBytes({ is64: false, maskable: true })).toBe(0x14);
    expect(msiCapabilityBytes({ is64: true, maskable: true })).toBe(0x18);
    expect(guards).toEqual({ msi: { offset: 0x50, sizeBytes: 0x18 }, pcieCap: 0x70 });
  });

  it('refused range 1: every write touching the MSI capability is dropped, the bytes around it are forwarded', () => {
    for (let off = 0x50; off < 0x68; off++) {
      const plan = planConfigWrite(off, 1, guards);
      expect(plan, `0x${off.toString(16)}`).toMatchObject({ dropped: true, guarded: true });
    }
    expect(planConfigWrite(0x4c, 8, guards).dropped).toBe(true); // reaches 0x50
    expect(planConfigWrite(0x4c, 4, guards)).toMatchObject({ dropped: false, guarded: false });
    expect(planConfigWrite(0x68, 4, guards)).toMatchObject({ dropped: false, guarded: false });
  });

  it('refused range 2: PCIe Device Control (cap + 8, 2 bytes) is dropped; DevCap and DevSta are forwarded', () => {
    expect(planConfigWrite(0x78, 2, guards)).toMatchObject({ dropped: true, guarded: true });
    expect(planConfigWrite(0x79, 1, guards).dropped).toBe(true);
    expect(planConfigWrite(0x78, 4, guards).dropped).toBe(true); // DevCtl + DevSta in one dword
    expect(planConfigWrite(0x74, 4, guards)).toMatchObject({ dropped: false }); // DevCap
    expect(planConfigWrite(0x7a, 2, guards)).toMatchObject({ dropped: false }); // DevSta
  });

  it('refused range 3: PCIe Device Control 2 (cap + 0x28, 2 bytes) is dropped; DevCap2 and LnkCtl2 are forwarded', () => {
    expect(planConfigWrite(0x98, 2, guards)).toMatchObject({ dropped: true, guarded: true });
    expect(planConfigWrite(0x99, 1, guards).dropped).toBe(true);
    expect(planConfigWrite(0x94, 4, guards).dropped).toBe(false); // DevCap2
    expect(planConfigWrite(0x9a, 2, guards).dropped).toBe(false);
    expect(planConfigWrite(0xa0, 2, guards).dropped).toBe(false); // LnkCtl2
  });

  it('without guards (before the parse, or a function without those capabilities) nothing more is dropped', () => {
    expect(planConfigWrite(0x52, 2)).toMatchObject({ dropped: false, guarded: false });
    expect(planConfigWrite(0x78, 2, configWriteGuards(undefined, undefined))).toMatchObject({ dropped: false });
    expect(configWriteIsGuarded(0x78, 2, { pcieCap: 0x70 })).toBe(true);
    expect(configWriteIsGuarded(0x78, 2, { msi: { offset: 0x50, sizeBytes: 0x0a } })).toBe(false);
    // STATUS and BARs keep the RFC's reason (guarded: false).
    expect(planConfigWrite(0x10, 4, guards)).toMatchObject({ dropped: true, guarded: false });
  });
});
