import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { byteRange, formatBdf, parseBdf, rangesOverlap, toBdf } from '../../src/types.js';
import { PassthroughError } from '../../src/errors.js';

describe('Bdf', () => {
  it('normalises the accepted spellings', () => {
    expect(toBdf('00:10.0')).toBe('0000:00:10.0');
    expect(toBdf('0001:0A:1f.7')).toBe('0001:0a:1f.7');
  });

  it.each(['', '00:10', '00:20.0', '0:0:0.8', 'zz:00.0', '00000:00:00.0'])('refuses "%s" with PT_ERR_INVALID_BDF', (s) => {
    expect(() => parseBdf(s)).toThrowError(expect.objectContaining({ code: 'PT_ERR_INVALID_BDF' }));
  });

  it('format(parse(x)) round-trips every valid address', () => {
    fc.assert(
      fc.property(
        fc.record({
          domain: fc.integer({ min: 0, max: 0xffff }),
          bus: fc.integer({ min: 0, max: 0xff }),
          device: fc.integer({ min: 0, max: 0x1f }),
          function: fc.integer({ min: 0, max: 7 }),
        }),
        (p) => {
          expect(parseBdf(formatBdf(p))).toEqual(p);
        },
      ),
    );
  });
});

describe('byteRange', () => {
  it('refuses zero length, negative offsets and overflow', () => {
    for (const [o, l] of [[0, 0], [-1, 4], [0, -4], [Number.MAX_SAFE_INTEGER, 2], [0.5, 1]] as const) {
      expect(() => byteRange(o, l)).toThrow(PassthroughError);
    }
  });

  it('overlap is symmetric and matches a byte-set model', () => {
    fc.assert(
      fc.property(fc.nat(64), fc.integer({ min: 1, max: 16 }), fc.nat(64), fc.integer({ min: 1, max: 16 }), (ao, al, bo, bl) => {
        const a = byteRange(ao, al);
        const b = byteRange(bo, bl);
        let shared = false;
        for (let i = ao; i < ao + al; i++) if (i >= bo && i < bo + bl) shared = true;
        expect(rangesOverlap(a, b)).toBe(shared);
        expect(rangesOverlap(b, a)).toBe(shared);
      }),
    );
  });
});
