import { describe, expect, it } from 'vitest';
import { ConnectionTable } from '../../../src/apple/connection-table.js';
import { PassthroughError } from '../../../src/errors.js';
import { toBdf } from '../../../src/types.js';
import { createFakeClient } from './fake-dext.js';

const A = toBdf('0000:00:10.0');
const B = toBdf('0001:00:10.0'); // same b/d/f, other domain: a different key

describe('ConnectionTable (rule 13)', () => {
  it('rule 13: publish sets refs 1; a second publish is PT_ERR_DUPLICATE_OWNER', () => {
    const t = new ConnectionTable();
    const c = createFakeClient(A);
    t.publish(A, c);
    expect(t.refs(A)).toBe(1);
    expect(t.size).toBe(1);
    const err = (() => {
      try {
        t.publish(A, createFakeClient(A));
      } catch (e) {
        return e;
      }
    })();
    expect(PassthroughError.is(err, 'PT_ERR_DUPLICATE_OWNER')).toBe(true);
    expect(t.refs(A)).toBe(1);
  });

  it('rule 13: acquire takes a reference explicitly; peek takes none (DEVIATION from lookup)', () => {
    const t = new ConnectionTable();
    const c = createFakeClient(A);
    t.publish(A, c);
    expect(t.peek(A)).toBe(c);
    expect(t.refs(A)).toBe(1);
    const h = t.acquire(A)!;
    expect(h.client).toBe(c);
    expect(t.refs(A)).toBe(2);
    expect(t.acquire(B)).toBeUndefined();
    expect(t.peek(B)).toBeUndefined();
  });

  it('rule 13: release is idempotent; the last release closes the client and removes the entry', () => {
    const t = new ConnectionTable();
    const c = createFakeClient(A);
    const owner = t.publish(A, c);
    const h = t.acquire(A)!;
    h.release();
    h.release();
    expect(t.refs(A)).toBe(1);
    expect(c.closed).toBe(0);
    owner.release();
    expect(c.closed).toBe(1);
    expect(t.size).toBe(0);
    expect(t.refs(A)).toBe(0);
    owner.release();
    expect(c.closed).toBe(1);
  });

  it('rule 13: a handle of a replaced entry is foreign and its release is ignored', () => {
    const t = new ConnectionTable();
    const first = t.publish(A, createFakeClient(A));
    const stale = t.acquire(A)!;
    first.release();
    stale.release(); // closes the first client (refs 0)
    const c2 = createFakeClient(A);
    const second = t.publish(A, c2);
    stale.release();
    expect(t.refs(A)).toBe(1);
    expect(c2.closed).toBe(0);
    second.release();
    expect(c2.closed).toBe(1);
  });

  it('tables are independent instances (no module global) and keys include the domain', () => {
    const t1 = new ConnectionTable();
    const t2 = new ConnectionTable();
    t1.publish(A, createFakeClient(A));
    expect(t2.peek(A)).toBeUndefined();
    t1.publish(B, createFakeClient(B));
    expect(t1.size).toBe(2);
  });
});
