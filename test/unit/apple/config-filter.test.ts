import { describe, expect, it } from 'vitest';
import { configWriteIsSafe, planConfigWrite } from '../../../src/apple/config-filter.js';

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
