/**
 * Process-level guarantees: closing the supervisor always lets the process
 * exit (checked in a child process), and another thread can drive a device
 * from its descriptor.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/actors/supervisor/supervisor.js';
import { scaled } from '../../shared/deadline.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../dist/test/fixtures/${name}.js`, import.meta.url));

function runChild(args: string[], deadlineMs: number): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

describe('process-level behaviour', () => {
  it.each(['full', 'idle'])('after close() the process exits on its own (%s)', async (mode) => {
    const r = await runChild([fixture('actors-exit'), mode], 15_000);
    expect(r.stderr).toBe('');
    expect(r.killed).toBe(false);
    expect(r.stdout).toBe('closed\n');
    expect(r.code).toBe(0);
  });

  it('a supervisor left open is not silent: when the loop empties pcipt warns once (PT_WARN_UNCLOSED), keeps the devices usable, and close() then ends the process', async () => {
    const r = await runChild([fixture('actors-unclosed')], 30_000);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('attached\nwarned; device still answers 0x10000ed\nclosed devices=0 state=stopped\n');
    expect(r.stderr.match(/PT_WARN_UNCLOSED/g)).toHaveLength(1);
    expect(r.stderr).toContain('until `await supervisor.close()`');
  });

  it('work in flight holds the process though idle workers do not: a killed worker is restarted while nothing else holds the loop', async () => {
    const r = await runChild([fixture('actors-restart-holds')], 60_000);
    expect(r.killed).toBe(false);
    expect(r.stderr).not.toContain('PT_WARN_UNCLOSED');
    // The map either lands before the kill or fails with it, typed.
    expect(r.stdout).toMatch(/^dma (mapped|PT_ERR_WORKER_EXITED)\nrestarted ready\nclosed\n$/);
    expect(r.code).toBe(0);
  });

  it('another thread drives the device from descriptor(): slow path, shared RAM BAR, waitSync IRQ', async () => {
    sup = await createSupervisor();
    const h = await sup.attach('0000:02:00.0');
    h.bar(2)!.write32(0x40, 0xcafef00d);
    const w = new Worker(fixture('actors-embedder'), { workerData: { descriptor: h.descriptor(), vector: 42 } });
    const exited = new Promise((resolve) => w.once('exit', resolve));
    const msg = await new Promise<{ id: number; vectors: number[]; ramWord: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(msg).toEqual({ id: 0x5a010001, vectors: [42], ramWord: 0xcafef00d });
    await exited;
    await h.detach(); // the embedder released its windows, so teardown does not wait
    expect(sup.debug.resources().teardowns[h.id]).toMatchObject({ mappedBars: 0, error: undefined });
  }, scaled(120_000)); // a hang ceiling: a saturated machine took over 30 s once
});
