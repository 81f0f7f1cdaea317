// The tiny validator must reject what it should, or every schema test below it proves nothing.
import { describe, expect, it } from 'vitest';
import { DRIVER_STATUS_SCHEMA, ERROR_SCHEMA, TRACE_LINE_SCHEMA } from '../../src/cli/schemas.js';
import { validate } from './helpers.js';

describe('schema validator', () => {
  it('accepts a valid document', () => {
    expect(validate(DRIVER_STATUS_SCHEMA, { backend: 'sim', ready: true, state: 'active', details: ['x'] })).toEqual([]);
  });
  it('reports missing, extra, mistyped and out-of-enum fields', () => {
    const errors = validate(DRIVER_STATUS_SCHEMA, { backend: 'vmware', ready: 'yes', details: [1], extra: 0 });
    expect(errors).toEqual(
      expect.arrayContaining([
        '$: missing "state"',
        '$: unexpected "extra"',
        '$.backend: "vmware" not in enum',
        '$.ready: expected boolean, got string',
        '$.details[0]: expected string, got integer',
      ]),
    );
  });
  it('checks error codes and trace channels against the declared lists', () => {
    expect(validate(ERROR_SCHEMA, { error: { code: 'PT_ERR_NOPE', message: 'm', context: {} } })).toHaveLength(1);
    expect(validate(TRACE_LINE_SCHEMA, { timeMs: -1, channel: 'pcipt:irq:raise', payload: {} })).toEqual(['$.timeMs: -1 < minimum 0']);
    expect(validate(TRACE_LINE_SCHEMA, { timeMs: 1, channel: 'pcipt:nope', payload: {} })).toHaveLength(1);
  });
});
