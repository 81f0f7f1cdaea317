// pcipt top: the sampler's rates, JSON lines on a pipe, and the live table in a pseudo-terminal
// (util-linux `script` gives the command a pty; no native addon), including quitting with q.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import type { DeviceStats, DeviceSummary } from '../../src/actors/supervisor/handle.js';
import { zeroDeviceCounters } from '../../src/actors/protocol.js';
import { TOP_LINE_SCHEMA } from '../../src/cli/schemas.js';
import { TOP_COLUMNS, TopSampler, formatRate } from '../../src/cli/top-sampler.js';
import { ROOT, runCli, validate } from './helpers.js';

const hasScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;
if (!hasScript) console.warn('[top] the pseudo-terminal tests are skipped: `script` (util-linux, Debian bsdutils) is not installed');
const BIN = `${ROOT}/bin/pcipt.js`;

/** Runs `node bin/pcipt.js args` in a pseudo-terminal; `onOutput` may answer with keys to type. */
function inPty(args: string, onOutput: (all: string) => string | undefined = () => undefined, timeoutMs = 90_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: '', FORCE_COLOR: '', CI: '', COLUMNS: '160', LINES: '40' };
    const child = spawn('script', ['-qfec', `stty cols 160 rows 40; exec ${JSON.stringify(process.execPath)} ${BIN} ${args}`, '/dev/null'], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pcipt ${args} did not end in the pty within ${timeoutMs} ms; output:\n${out.slice(-3000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      const keys = onOutput(out);
      if (keys !== undefined) child.stdin.write(keys);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function fakeSource(states: { counters: ReturnType<typeof zeroDeviceCounters>; restarts: number }[]) {
  let i = 0;
  const summary = (): DeviceSummary => ({ id: 'dev0', bdf: '0000:00:10.0', state: 'ready', restarts: states[i]!.restarts, cause: undefined });
  return {
    list: () => [summary()],
    stats: async () => ({ dev0: { id: 'dev0', bdf: '0000:00:10.0', state: 'ready', restarts: states[i]!.restarts, counters: states[i++]!.counters } as unknown as DeviceStats }),
  };
}

describe('top: the sampler', () => {
  it('rates come from two samples; a counter that went down after a restart counts from zero', async () => {
    const c0 = zeroDeviceCounters();
    const c1 = { ...zeroDeviceCounters(), irqsRaised: 500, irqsCoalesced: 3, irqsMasked: 2, configReads: 10, mmioReads: { w1: 0, w2: 0, w4: 100, w8: 0 }, mmioWrites: { w1: 0, w2: 0, w4: 100, w8: 0 } };
    const c2 = { ...zeroDeviceCounters(), irqsRaised: 600, mmioReads: { w1: 0, w2: 0, w4: 50, w8: 0 }, mmioWrites: { w1: 0, w2: 0, w4: 0, w8: 0 } };
    const source = fakeSource([{ counters: c0, restarts: 0 }, { counters: c1, restarts: 0 }, { counters: c2, restarts: 1 }]);
    let now = 0;
    const sampler = new TopSampler(0);
    const first = await sampler.sample([source], () => now);
    expect(first.devices[0]).toMatchObject({ irqsPerSec: null, mmioPerSec: null, configPerSec: null });
    now = 500;
    const second = await sampler.sample([source], () => now);
    expect(second.devices[0]).toMatchObject({ irqsPerSec: 1000, mmioPerSec: 400, configPerSec: 20, irqsCoalesced: 3, irqsMasked: 2, configCycles: 10 });
    now = 1500;
    const third = await sampler.sample([source], () => now);
    // IRQs: 500 → 600 in 1 s; MMIO went 200 → 50 (the worker restarted): 50 in 1 s.
    expect(third.devices[0]).toMatchObject({ irqsPerSec: 100, mmioPerSec: 50, restarts: 1 });
    expect(validate(TOP_LINE_SCHEMA, third)).toEqual([]);
    expect([formatRate(null), formatRate(0), formatRate(2.5), formatRate(1830), formatRate(19_400), formatRate(2.5e6)]).toEqual(['-', '0', '2.5', '1.8k', '19k', '2.5M']);
  });

  it('each row carries its function\'s connection refcount and holders from inspect(); a source without inspect() shows none', async () => {
    const sup = await createSupervisor({ callTimeoutMs: 5000 });
    try {
      const edu = await sup.attach('0000:00:10.0', { id: 'edu' });
      await sup.attach('0000:00:11.0', { id: 'edu2' });
      const tool = await edu.dext({ shared: true, holder: 'tool' });
      // Connection reports travel on the workers' event streams, beside the attach replies: poll.
      await expect.poll(() => sup.inspect().connections.map((c) => c.refs)).toEqual([2, 1]);
      const frame = await new TopSampler(0).sample([sup], () => 1);
      expect(frame.devices.map((d) => [d.id, d.connection])).toEqual([
        ['edu', { refs: 2, holders: ['device', 'tool'] }],
        ['edu2', { refs: 1, holders: ['device'] }],
      ]);
      expect(validate(TOP_LINE_SCHEMA, frame)).toEqual([]);
      const conn = TOP_COLUMNS.find((c) => c.header === 'CONN')!;
      expect(frame.devices.map((d) => conn.cell(d))).toEqual(['2 device,tool', '1 device']);
      await tool.close();
      await expect.poll(() => sup.inspect().connections[0]?.refs).toBe(1);
      expect((await new TopSampler(0).sample([sup], () => 1)).devices[0]!.connection).toEqual({ refs: 1, holders: ['device'] });
    } finally {
      await sup.close();
    }
    const bare = await new TopSampler(0).sample([fakeSource([{ counters: zeroDeviceCounters(), restarts: 0 }])], () => 1);
    expect(bare.devices[0]!.connection).toEqual({ refs: 0, holders: [] });
    expect(TOP_COLUMNS.find((c) => c.header === 'CONN')!.cell(bare.devices[0]!)).toBe('-');
  });

  it('a source whose stats() fails (a closing supervisor) contributes no rows', async () => {
    const broken = { list: () => [], stats: () => Promise.reject(new Error('closed')) };
    const frame = await new TopSampler(0).sample([broken], () => 1);
    expect(frame.devices).toEqual([]);
  });
});

describe('top: on a pipe', () => {
  it('--json --count 3: three JSON lines, each schema-valid, every attachable function ready', async () => {
    const run = await runCli(['top', '--json', '--count', '3', '--interval-ms', '200'], {}, 90_000);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const frames = lines.map((l) => JSON.parse(l) as { timeMs: number; devices: { bdf: string; state: string; irqsPerSec: number | null }[] });
    for (const f of frames) expect(validate(TOP_LINE_SCHEMA, f)).toEqual([]);
    expect(frames[2]!.devices.map((d) => d.state)).toEqual(['ready', 'ready', 'ready', 'ready', 'ready', 'ready']);
    expect(frames[0]!.devices[0]!.irqsPerSec).toBeNull();
    expect(frames[2]!.devices[0]!.irqsPerSec).toBe(0);
    expect(frames[1]!.timeMs).toBeGreaterThan(frames[0]!.timeMs);
    // Every attached function holds its one shared dext connection, taken by its device.
    expect(frames[2]!.devices.map((d) => (d as unknown as { connection: unknown }).connection)).toEqual(
      Array.from({ length: 6 }, () => ({ refs: 1, holders: ['device'] })),
    );
  });

  it('plain text on a pipe: the header once, then rows with the time; --device picks the function', async () => {
    const run = await runCli(['top', '--count', '2', '--interval-ms', '200', '--device', '00:10.0'], {}, 90_000);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^T\(s\)\s+DEVICE\s+BDF\s+STATE\s+IRQ\/s\s+IRQS\s+COALESCED\s+MASKED\s+MMIO\/s\s+CFG\/s\s+CONFIG\s+RESTARTS\s+ERRORS\s+CONN$/);
    expect(lines.filter((l) => l.includes('0000:00:10.0'))).toHaveLength(2);
    // The last refresh shows the function's connection: one reference, its device's.
    expect(lines.at(-1)).toMatch(/0000:00:10\.0\s.*\s1 device$/);
    expect(run.stdout).not.toContain('\x1b[');
  });

  it('--device with an unknown function fails with not found (3); --device with a workload is a usage error', async () => {
    expect((await runCli(['top', '--count', '1', '--device', '00:1f.0'])).code).toBe(3);
    expect((await runCli(['top', '--device', '00:10.0', '--', 'demo'])).code).toBe(2);
  });
});

describe.skipIf(!hasScript)('top: in a pseudo-terminal (util-linux script)', () => {
  it('watches a workload: redrawn in place on the alternate screen, then the last frame and the workload output stay', async () => {
    const { code, out } = await inPty('top --interval-ms 250 -- demo --iterations 20000');
    expect(code).toBe(0);
    expect(out.startsWith('\x1b[?1049h\x1b[?25l')).toBe(true);
    const redraws = out.split('\x1b[H').length - 1;
    expect(redraws).toBeGreaterThanOrEqual(2);
    const end = out.indexOf('\x1b[?25h\x1b[?1049l');
    expect(end).toBeGreaterThan(0);
    const after = out.slice(end).replace(/\x1b\[[0-9;]*m/g, '');
    expect(after).toMatch(/pcipt top · sim · 6 devices/);
    // The MSI-X function took the demo's doorbell interrupts (up to 2 × iterations/4 by the last
    // refresh before the demo closed its supervisor), none coalesced or masked.
    const msix = after.split('\n').find((l) => l.includes('0000:02:00.0'));
    // The last frame may be taken while the demo closes its supervisor: the state is ready or stopping.
    const [, irqs, coalesced, masked] = /0000:02:00\.0\s+(?:ready|stopping)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(msix ?? '') ?? [];
    expect(Number(irqs)).toBeGreaterThan(0);
    expect(Number(irqs)).toBeLessThanOrEqual(10_000);
    expect([coalesced, masked]).toEqual(['0', '0']);
    // The workload's own output follows, after the screen is restored.
    expect(after).toContain('latency: main thread');
  });

  it('q quits an interactive top and restores the terminal', async () => {
    let typed = false;
    const { code, out } = await inPty('top --interval-ms 200', (all) => {
      if (!typed && (all.match(/ready/g) ?? []).length >= 6) {
        typed = true;
        return 'q';
      }
      return undefined;
    });
    expect(typed).toBe(true);
    expect(code).toBe(0);
    expect(out).toContain('\x1b[?25h\x1b[?1049l');
    expect(out.slice(out.lastIndexOf('\x1b[?1049l'))).toContain('0000:04:00.0');
  });
});
