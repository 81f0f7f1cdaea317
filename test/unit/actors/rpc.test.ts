import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient, serveRpc } from '../../../src/actors/rpc.js';
import { PassthroughError } from '../../../src/errors.js';
import type { Command } from '../../../src/actors/protocol.js';

const open: RpcClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

function pair(handler: (cmd: Command) => unknown, timeoutMs = 1000) {
  const { port1, port2 } = new MessageChannel();
  serveRpc(port2, handler);
  const client = new RpcClient(port1, { timeoutMs, context: { deviceId: 'd0' } });
  open.push(client);
  return { client, port2 };
}

describe('rpc (comlink behind deadlines and typed errors)', () => {
  it('returns values and keeps code and context of a PassthroughError across the port', async () => {
    const { client } = pair((cmd) => {
      if (cmd.type === 'device.stats') return { vendorId: 0x1234, deviceId: 0x11e8 };
      throw new PassthroughError('PT_ERR_IO', 'reset failed', { bdf: '0000:00:10.0', kernReturn: 0xe00002bc, iova: 0x1000n });
    });
    await expect(client.call({ type: 'device.stats' })).resolves.toEqual({ vendorId: 0x1234, deviceId: 0x11e8 });
    const err = await client.call({ type: 'device.reset' }).catch((e: unknown) => e);
    expect(PassthroughError.is(err, 'PT_ERR_IO')).toBe(true);
    expect((err as PassthroughError).context).toMatchObject({ bdf: '0000:00:10.0', kernReturn: 0xe00002bc, iova: 0x1000n });
    expect(client.pendingCount).toBe(0);
  });

  it('turns a non-PassthroughError throw into PT_ERR_INTERNAL with the command named', async () => {
    const { client } = pair(() => {
      throw new TypeError('oops');
    });
    await expect(client.call({ type: 'device.stats' })).rejects.toMatchObject({
      code: 'PT_ERR_INTERNAL',
      message: 'oops',
      context: { command: 'device.stats' },
    });
  });

  it('puts a deadline on every call (PT_ERR_DEADLINE) and forgets the late reply', async () => {
    let release!: () => void;
    const { client } = pair(() => new Promise<void>((resolve) => (release = resolve)), 30);
    const err = await client.call({ type: 'device.reset' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PT_ERR_DEADLINE', context: { deviceId: 'd0', command: 'device.reset', timeoutMs: 30 } });
    expect(client.pendingCount).toBe(0);
    release();
  });

  it('failAll rejects what is pending and everything after; close rejects with PT_ERR_CLOSED', async () => {
    const { client } = pair(() => new Promise(() => {}), 10_000);
    const a = client.call({ type: 'device.reset' });
    const b = client.call({ type: 'device.stats' });
    expect(client.pendingCount).toBe(2);
    const gone = new PassthroughError('PT_ERR_WORKER_EXITED', 'worker exited', { exitCode: 1 });
    client.failAll(gone);
    await expect(a).rejects.toBe(gone);
    await expect(b).rejects.toBe(gone);
    await expect(client.call({ type: 'device.stats' })).rejects.toBe(gone);
    expect(client.pendingCount).toBe(0);

    const { client: c2 } = pair(() => new Promise(() => {}), 10_000);
    const p = c2.call({ type: 'device.reset' });
    c2.close();
    c2.close(); // idempotent
    await expect(p).rejects.toMatchObject({ code: 'PT_ERR_CLOSED' });
  });
});
