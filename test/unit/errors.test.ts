import { describe, expect, it } from 'vitest';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { ERROR_CODES, PassthroughError, toPassthroughError } from '../../src/errors.js';
import { codeForKernReturn, dextError, KERN_RETURN_CODES } from '../../src/dext/kern-return.js';
import { IOReturn, Selector } from '../../src/dext/contract.js';

describe('error codes', () => {
  it('are sorted alphabetically and unique (our #[sorted])', () => {
    const sorted = [...ERROR_CODES].sort();
    expect([...ERROR_CODES]).toEqual(sorted);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('all start with PT_ERR_', () => {
    for (const c of ERROR_CODES) expect(c).toMatch(/^PT_ERR_[A-Z0-9_]+$/);
  });

  it('the IOReturn table only names existing codes', () => {
    for (const code of KERN_RETURN_CODES.values()) expect(ERROR_CODES).toContain(code);
  });
});

describe('PassthroughError', () => {
  it('keeps code, context and cause through a real structured clone', () => {
    const inner = new PassthroughError('PT_ERR_NOT_FOUND', 'inner', { kernReturn: IOReturn.NotFound });
    const e = new PassthroughError('PT_ERR_IO', 'outer', { bdf: '0000:00:10.0', iova: 0x1000n, region: 2 }, { cause: inner });
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(e.toJSON());
    const got = receiveMessageOnPort(port2)!.message;
    port1.close();
    const back = PassthroughError.fromJSON(got);
    expect(back).toBeInstanceOf(PassthroughError);
    expect(back.code).toBe('PT_ERR_IO');
    expect(back.context.bdf).toBe('0000:00:10.0');
    expect(back.context.iova).toBe(0x1000n);
    expect(back.context.region).toBe(2);
    expect(PassthroughError.is(back.cause, 'PT_ERR_NOT_FOUND')).toBe(true);
    expect((back.cause as PassthroughError).kernReturn).toBe(IOReturn.NotFound);
  });

  it('instanceof works through the Symbol.for brand, not identity', () => {
    const fake = Object.create(PassthroughError.prototype);
    expect(fake instanceof PassthroughError).toBe(true);
    expect(new Error('x') instanceof PassthroughError).toBe(false);
    expect({} instanceof PassthroughError).toBe(false);
  });

  it('prepend adds context without losing the code', () => {
    const e = new PassthroughError('PT_ERR_NOT_OPEN', 'ConfigRead failed', { selector: 8 });
    const p = e.prepend('attach 0000:00:10.0', { deviceId: 'd1' });
    expect(p.code).toBe('PT_ERR_NOT_OPEN');
    expect(p.message).toBe('attach 0000:00:10.0: ConfigRead failed');
    expect(p.context).toMatchObject({ selector: 8, deviceId: 'd1' });
  });

  it('toPassthroughError wraps foreign errors as PT_ERR_INTERNAL and passes ours through', () => {
    const ours = new PassthroughError('PT_ERR_TIMEOUT', 't');
    expect(toPassthroughError(ours)).toBe(ours);
    const wrapped = toPassthroughError(new RangeError('boom'), { bdf: 'x' });
    expect(wrapped.code).toBe('PT_ERR_INTERNAL');
    expect(wrapped.message).toBe('boom');
    expect(wrapped.cause).toBeInstanceOf(RangeError);
  });
});

describe('dextError', () => {
  it('maps each documented IOReturn to its code with selector context', () => {
    const e = dextError(IOReturn.StillOpen, Selector.RegisterDMARegion, { bdf: '0000:01:00.0' });
    expect(e.code).toBe('PT_ERR_STILL_OPEN');
    expect(e.context).toMatchObject({ selector: 5, selectorName: 'RegisterDMARegion', kernReturn: 0xe00002d2 });
    expect(e.message).toBe('RegisterDMARegion failed: StillOpen (0xe00002d2)');
  });

  it('an unknown IOReturn is PT_ERR_KERN_RETURN and keeps the raw value', () => {
    expect(codeForKernReturn(0xe0001234)).toBe('PT_ERR_KERN_RETURN');
    expect(dextError(-536870212, 0).context.kernReturn).toBe(0xe00002bc);
  });
});
