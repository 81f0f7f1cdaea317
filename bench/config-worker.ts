/**
 * Config bench worker: the device-worker side. Serves the control block's
 * mailbox (default mode: waitAsync when idle, lingering during bursts), exposes the same read via
 * comlink, and on request runs the raw Atomics ping-pong loop (sync waits)
 * until told to stop.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { MailboxOp } from '../src/fastpath/index.js';
import { kPingIndex, kPingLoopIndex, kPingStopIndex, kPongIndex } from './config-shared.js';
import { createConfigServerHandler, serveMailbox, type MailboxServer, type MailboxServerOptions } from '../src/actors/worker/mailbox-server.js';

const { control, shared, port, server } = workerData as {
  control: SharedArrayBuffer;
  shared: SharedArrayBuffer;
  port: MessagePort;
  server: MailboxServerOptions;
};
const config = new Uint8Array(4096);
config.set([0x86, 0x80, 0x34, 0x12], 0);
const bytes = (off: number, width: number): number => {
  let v = 0;
  for (let i = width - 1; i >= 0; i--) v = v * 256 + config[off + i]!;
  return v;
};
const handler = createConfigServerHandler({
  configRead: (off, width) => bytes(off, width),
  configWrite: (off, width, value) => {
    for (let i = 0; i < width; i++) config[off + i] = (value >>> (8 * i)) & 0xff;
  },
  barRead: (_bar, off, width) => BigInt(bytes(off, Math.min(width, 4))),
  barWrite: () => {},
});
// The server under test; the parent switches it between the default
// (waitAsync + linger) and blocking-slice modes between turns.
let running: MailboxServer = serveMailbox(control, handler, server);
const blocking: MailboxServerOptions = { ...server, blockingSliceMs: server.blockingSliceMs || 5 };

const api = {
  configRead32(offsetBytes: number): number {
    return handler.handle(MailboxOp.CONFIG_READ, offsetBytes, 4, 0, 0) as number;
  },
};
export type ConfigBenchApi = typeof api;
Comlink.expose(api, nodeEndpoint(port as unknown as Parameters<typeof nodeEndpoint>[0]));

const w = new Int32Array(shared);
parentPort!.on('message', (msg: string) => {
  if (msg === 'serve:async' || msg === 'serve:blocking') {
    void running.stop().then(() => {
      running = serveMailbox(control, handler, msg === 'serve:async' ? server : blocking);
      parentPort!.postMessage('serving');
    });
    return;
  }
  if (msg !== 'pingpong') return;
  // Raw baseline: blocks this thread (and the mailbox server) until stopped.
  // Read the counter BEFORE announcing the loop: the parent pings as soon as it sees the flag.
  let last = Atomics.load(w, kPingIndex);
  Atomics.store(w, kPingStopIndex, 0);
  Atomics.store(w, kPingLoopIndex, 1);
  Atomics.notify(w, kPingLoopIndex);
  while (Atomics.load(w, kPingStopIndex) === 0) {
    Atomics.wait(w, kPingIndex, last, 100);
    const now = Atomics.load(w, kPingIndex);
    if (now === last) continue;
    last = now;
    Atomics.store(w, kPongIndex, now);
    Atomics.notify(w, kPongIndex);
  }
  Atomics.store(w, kPingLoopIndex, 0);
  parentPort!.postMessage('pingpong-done');
});
parentPort!.postMessage('ready');
