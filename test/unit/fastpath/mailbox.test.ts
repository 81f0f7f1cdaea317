import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { ConfigPort, MailboxClient, MailboxOp, createDeviceControlBlock, markServerAlive, markServerGone } from '../../../src/fastpath/index.js';
import { kMboxLockIndex, kMboxReqWaitersIndex, kMboxRespWaitersIndex } from '../../../src/fastpath/layout.js';
import { thrown as caught } from '../../shared/thrown.js';
import { byteSpaceOps } from '../../shared/byte-ops.js';
import { createConfigServerHandler, kDefaultLingerMs, kDefaultMaxHoldMs, serveMailbox } from '../../../src/actors/worker/mailbox-server.js';

describe('mailbox client without a live server', () => {
  it('times out with PT_ERR_TIMEOUT when nobody serves', () => {
    const control = createDeviceControlBlock();
    const words = new Int32Array(control);
    const client = new MailboxClient(control, { timeoutMs: 40 });
    const t0 = performance.now();
    const e = caught(() => client.call(MailboxOp.CONFIG_READ, 0, 4, 0));
    expect(e.code).toBe('PT_ERR_TIMEOUT');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    // the lock was released: the next call times out too, not "busy" forever
    expect(caught(() => client.call(MailboxOp.CONFIG_READ, 0, 4, 0, 10)).code).toBe('PT_ERR_TIMEOUT');
    // and the client's waiter count is back to 0 (else the server would notify on every answer)
    expect(Atomics.load(words, kMboxRespWaitersIndex)).toBe(0);
    expect(Atomics.load(words, kMboxLockIndex)).toBe(0);
  });

  it('fails at once with PT_ERR_WORKER_EXITED once the server is marked gone', () => {
    const control = createDeviceControlBlock();
    markServerAlive(control);
    markServerGone(control);
    const t0 = performance.now();
    const e = caught(() => new ConfigPort(control, { timeoutMs: 5000 }).read32(0));
    expect(e.code).toBe('PT_ERR_WORKER_EXITED');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('fails with PT_ERR_CLOSED after the server stopped', async () => {
    const control = createDeviceControlBlock();
    const server = serveMailbox(control, { handle: () => 0 });
    await server.stop();
    await server.stop();
    expect(caught(() => new ConfigPort(control).read8(0)).code).toBe('PT_ERR_CLOSED');
    // it left its waitAsync, uncounted: clients no longer pay for a notify
    expect(Atomics.load(new Int32Array(control), kMboxReqWaitersIndex)).toBe(0);
  });

  it('refuses bad timeouts', () => {
    expect(caught(() => new MailboxClient(createDeviceControlBlock(), { timeoutMs: Infinity })).code).toBe(
      'PT_ERR_INVALID_ARGUMENT',
    );
  });
});

describe('mailbox server options', () => {
  it.each([{ lingerMs: -1 }, { lingerMs: Infinity }, { maxHoldMs: 0 }, { maxHoldMs: Infinity }, { blockingSliceMs: -1 }])(
    'refuses %o with PT_ERR_INVALID_ARGUMENT',
    (opts) => {
      expect(caught(() => serveMailbox(createDeviceControlBlock(), { handle: () => 0 }, opts)).code).toBe(
        'PT_ERR_INVALID_ARGUMENT',
      );
    },
  );

  it('lingers by default, within the documented defaults', () => {
    expect(kDefaultLingerMs).toBeGreaterThan(0);
    expect(kDefaultMaxHoldMs).toBeGreaterThanOrEqual(kDefaultLingerMs);
  });
});

describe('ConfigPort argument checks', () => {
  const port = new ConfigPort(createDeviceControlBlock(), { timeoutMs: 1 });
  it.each([
    [() => port.read32(4096), 'PT_ERR_OUT_OF_RANGE'],
    [() => port.read16(4095), 'PT_ERR_OUT_OF_RANGE'],
    [() => port.read8(-1), 'PT_ERR_OUT_OF_RANGE'],
    [() => port.read32(2), 'PT_ERR_ALIGNMENT'],
    [() => port.write16(1, 0), 'PT_ERR_ALIGNMENT'],
  ])('refuses bad accesses before calling (%#)', (f, expected) => {
    expect(caught(f).code).toBe(expected);
  });
});

describe('config server handler', () => {
  function fakeOps() {
    const config = new Uint8Array(4096);
    const bar = new Uint8Array(64);
    const log: string[] = [];
    const space = (i: number): Uint8Array => {
      if (i === 7) return config;
      if (i === 0) return bar;
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'no such region', { region: i });
    };
    const inner = byteSpaceOps(space);
    return {
      config,
      log,
      ops: {
        ...inner,
        configWrite(off: number, width: 1 | 2 | 4, value: number): void {
          log.push(`config:${off}:${width}:0x${value.toString(16)}`);
          inner.configWrite(off, width, value);
        },
        barWrite(bar: number, off: number, width: 1 | 2 | 4 | 8, value: bigint): void {
          log.push(`bar${bar}:${off}:${width}:0x${value.toString(16)}`);
          inner.barWrite(bar, off, width, value);
        },
      },
    };
  }

  it('carries config and region ops to the numeric accessors, values unchanged', () => {
    const { ops, config, log } = fakeOps();
    const h = createConfigServerHandler(ops);
    config.set([0x86, 0x80, 0x34, 0x12], 0);
    expect(h.handle(MailboxOp.CONFIG_READ, 0, 4, 0, 0)).toBe(0x12348086);
    expect(h.handle(MailboxOp.CONFIG_READ, 2, 2, 0, 0)).toBe(0x1234);
    expect(h.handle(MailboxOp.CONFIG_WRITE, 4, 2, 0x0406, 0)).toBe(2);
    expect(h.handle(MailboxOp.REGION_WRITE, 0 | (8 << 8), 8, 0x55667788, 0x11223344)).toBe(8);
    expect(h.handle(MailboxOp.REGION_READ, 0 | (8 << 8), 8, 0, 0)).toBe(0x1122334455667788n);
    expect(log).toEqual(['config:4:2:0x406', 'bar0:8:8:0x1122334455667788']);
    expect([...config.subarray(4, 6)]).toEqual([6, 4]);
  });

  it('answers unknown ops and backend errors with typed errors', () => {
    const { ops } = fakeOps();
    const h = createConfigServerHandler(ops);
    expect(caught(() => h.handle(99, 0, 0, 0, 0)).code).toBe('PT_ERR_NOT_SUPPORTED');
    expect(caught(() => h.handle(MailboxOp.REGION_READ, 3 | (4 << 8), 0, 0, 0)).code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(caught(() => h.handle(MailboxOp.REGION_READ, 0 | (4 << 8), 64, 0, 0)).context).toMatchObject({
      region: 0,
      offsetBytes: 64,
    });
  });
});
