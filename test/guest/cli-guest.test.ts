/**
 * `pcipt guest`: the built CLI boots the tier's Debian i386 kernel and
 * busybox initramfs in v86 (any bzImage and initramfs work the same way),
 * streams the console, and exits 0 on --until / 1 on timeout / 2 on usage
 * errors. The --json document and passing a function through are checked
 * in process with the edu fixture standing in for a device.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { guestCommand, type GuestReport } from '../../src/cli/commands/guest.js';
import { createCommandContext } from '../../src/cli/context.js';
import { createOutput, type CliStreams } from '../../src/cli/io.js';
import { runCli } from '../cli/helpers.js';
import { guestAssets } from './harness/session.js';
import { readmeBlocks } from '../shared/readme-blocks.js';

const run = promisify(execFile);
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

const prepared = guestAssets();

function buffers(): CliStreams & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    out: () => out,
    err: () => err,
  };
}

describe('pcipt guest: usage errors (exit 2)', () => {
  it('needs --kernel, a valid --until and a valid --device', async () => {
    expect((await runCli(['guest'])).code).toBe(2);
    const badRe = await runCli(['guest', '--kernel', '/nonexistent', '--until', '(']);
    expect(badRe.code).toBe(2);
    expect(badRe.stderr).toMatch(/--until is not a valid regular expression/);
    const badBdf = await runCli(['guest', '--kernel', '/nonexistent', '--device', 'zz:1']);
    expect(badBdf.code).toBe(2);
    expect(badBdf.stderr).toMatch(/PT_ERR_INVALID_BDF/);
  });

  it('a kernel that cannot be read is refused naming the file (exit 3, not found: PT_ERR_NOT_FOUND)', async () => {
    const r = await runCli(['guest', '--kernel', '/nonexistent/bzImage', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'PT_ERR_NOT_FOUND', context: { path: '/nonexistent/bzImage' } } });
  });
});

if (!('assets' in prepared)) {
  console.warn(`[pcipt guest] boot tests SKIPPED: missing ${prepared.missing}`);
  describe.skip(`pcipt guest: boots (needs ${prepared.missing})`, () => it('needs the guest', () => undefined));
} else {
  const { kernel, initrd } = prepared.assets;

  describe('pcipt guest: boots a kernel and initramfs', () => {
    it('streams the serial console to stdout and exits 0 when --until matches; progress on stderr', async () => {
      // An early kernel line (the host bridge's enumeration) keeps this a short boot.
      const until = String.raw`pci 0000:00:00\.0: \[8086:1237\]`;
      const r = await runCli(['guest', '--kernel', kernel, '--initrd', initrd, '--memory', '96', '--append', 'loglevel=8', '--until', until, '--timeout', '900'], {}, 960_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Linux version 6\.\d+\.\d+-\d+-686/);
      expect(r.stdout).toMatch(/Kernel command line: console=ttyS0 tsc=reliable mitigations=off random\.trust_cpu=on loglevel=8/);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(new RegExp(until));
      expect(r.stderr).toMatch(/\[pcipt guest\] v86 0\.5\.462/);
      expect(r.stderr).toMatch(/matched after [\d.]+ s/);
    }, 1_000_000);

    it('exits 1 with a clear message when --timeout passes before --until matches', async () => {
      const r = await runCli(['guest', '--kernel', kernel, '--initrd', initrd, '--until', 'this line never appears', '--timeout', '2'], {}, 120_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no console line matched \/this line never appears\/ within 2 s \[PT_ERR_TIMEOUT\]/);
    }, 150_000);

    it('--json with --device: the supervisor attaches the sim edu, the kernel enumerates it, the console moves to stderr and stdout holds one report', async () => {
      const streams = buffers();
      const ctx = createCommandContext({ backend: 'sim', machine: undefined, json: true, color: false }, createOutput(streams, { json: true, colorFlag: false }));
      const code = await guestCommand(
        ctx,
        { kernel, initrd, memory: 96, device: ['00:10.0'], until: String.raw`pci 0000:00:10\.0: BAR 0 \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]`, timeout: 900 },
      );
      expect(code, streams.err()).toBe(0);
      const report = JSON.parse(streams.out()) as GuestReport;
      expect(report).toMatchObject({ outcome: 'matched', memoryMiB: 96, v86: expect.stringMatching(/^0\.5\.462/) });
      expect(report.match).toContain(`BAR 0 [mem 0x${report.devices[0]!.bars[0]!.address.slice(2)}-`);
      expect(report.devices).toEqual([
        { hostBdf: '0000:00:10.0', guestBdf: '0000:00:10.0', bars: [expect.objectContaining({ bar: 0 })] },
      ]);
      expect(report.console.some((l) => l.includes('pci 0000:00:10.0: [1234:11e8] type 00 class 0x00ff00'))).toBe(true);
      expect(report.counters?.configReads).toBeGreaterThan(0);
      expect(streams.err()).toMatch(/Linux version/); // the console went to stderr
      expect(streams.err()).toMatch(/attached 0000:00:10\.0 \(sim\)/);
    }, 1_000_000);

    it("the README's pcipt guest line boots with a supervised sim function passed in and reaches the initramfs", async () => {
      const block = readmeBlocks(readFileSync(README, 'utf8')).find((b) => b.kind === 'guest');
      expect(block, 'a README block marked readme-test: guest').toBeDefined();
      const command = block!.code.replace(/\\\n\s*/g, ' ').split('\n').find((l) => /\bpcipt guest\b/.test(l));
      expect(command).toBeDefined();
      const words = [...command!.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      const args = words.slice(words.indexOf('guest')).map((w) => w.replace('/tmp/pcipt-guest/vmlinuz', kernel).replace('/tmp/pcipt-guest/initrd.cpio.gz', initrd));
      const r = await runCli([...args, '--timeout', '900'], {}, 960_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/attached 0000:00:10\.0 \(sim\)/);
      expect(r.stderr).toMatch(/pcipt 0000:00:10\.0 is guest 0000:00:10\.0/);
      expect(r.stdout).toMatch(/pci 0000:00:10\.0: \[1234:11e8\]/);
    }, 1_000_000);

    it('examples/v86.ts (the README\'s v86 program) boots Linux, which enumerates the function, and exits by itself', async () => {
      const script = fileURLToPath(new URL('../../dist/examples/v86.js', import.meta.url));
      const { stdout } = await run(process.execPath, [script, kernel, initrd], { timeout: 900_000 });
      expect(stdout.trim()).toMatch(/^\[\s*[\d.]+\] pci 0000:00:10\.0: \[1234:11e8\] type 00 class 0x00ff00$/);
    }, 1_000_000);
  });
}
