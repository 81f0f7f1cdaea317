/**
 * `npm run bench:vm`: the MSI round-trip benchmark on QEMU's edu inside a TCG
 * guest (test/vm/harness), pcipt's linux backend beside the same round trip in
 * C (test/vm/edu-msi-bench.c), on the same guest boot. Prints a table and the
 * ratio of p50s (target ≤ 1.3×). Needs qemu-system-x86 linux-image-amd64
 * busybox-static cpio and gcc; run `npm run build` first.
 *
 *   node dist/bench/vm-msi.js [N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One implementation's figures. */
export interface MsiBenchRow {
  impl: string;
  n: number;
  p50Ns: number;
  p99Ns: number;
  meanNs: number;
  lost: number;
}

/** Project root (dist/bench/ → ../..). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Boots the guest once and runs both benchmarks; returns their rows. */
export function runVmMsiBench(n = 2000): MsiBenchRow[] {
  const cache = process.env.PCIPT_VM_CACHE ?? join(process.env.TMPDIR ?? tmpdir(), 'pcipt-vm', 'cache');
  mkdirSync(cache, { recursive: true });
  const cbin = join(cache, 'edu-msi-bench');
  execFileSync('gcc', ['-O2', '-Wall', '-o', cbin, join(ROOT, 'test/vm/edu-msi-bench.c')], { stdio: 'inherit' });
  // A throw-away warm-up (the guest is still settling right after boot), then C before and after
  // each pcipt run, so each pcipt row is compared with the C runs right next to it.
  const script = [
    `${cbin} ${Math.min(n, 500)} >/dev/null`,
    `${cbin} ${n}`,
    `node dist/test/fixtures/vm-msi-bench.js ${n}`,
    `${cbin} ${n}`,
    `PCIPT_LINUX_IRQ_WAIT=io_uring node dist/test/fixtures/vm-msi-bench.js ${n}`,
    `${cbin} ${n}`,
  ].join(' && ');
  // One vCPU: with two, the MSI may land on the other vCPU than the waiter's, and under TCG that
  // cross-CPU hop (not the code being measured) decides the latency, for C and pcipt alike.
  const r = spawnSync(join(ROOT, 'test/vm/harness/run-in-guest.sh'), ['--edu', '1', '--smp', '1', '--timeout', '300', '--', 'bash', '-c', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`guest run failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as MsiBenchRow);
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  if (!existsSync('/usr/bin/qemu-system-x86_64') && spawnSync('which', ['qemu-system-x86_64']).status !== 0) {
    process.stderr.write('qemu-system-x86_64 missing: apt-get install qemu-system-x86 linux-image-amd64 busybox-static cpio\n');
    process.exit(2);
  }
  const rows = runVmMsiBench(Number(process.argv[2] ?? 2000));
  const us = (ns: number) => (ns / 1000).toFixed(1);
  console.table(rows.map((r) => ({ impl: r.impl, n: r.n, 'p50 µs': us(r.p50Ns), 'p99 µs': us(r.p99Ns), 'mean µs': us(r.meanNs), lost: r.lost })));
  // Each pcipt row against the mean of the C runs just before and just after it.
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r.impl === 'c') continue;
    let before: MsiBenchRow | undefined;
    let after: MsiBenchRow | undefined;
    for (let j = i - 1; j >= 0 && before === undefined; j--) if (rows[j]!.impl === 'c') before = rows[j];
    for (let j = i + 1; j < rows.length && after === undefined; j++) if (rows[j]!.impl === 'c') after = rows[j];
    const cs = [before, after].filter((x): x is MsiBenchRow => x !== undefined);
    if (cs.length === 0) continue;
    const p50 = cs.reduce((a, c) => a + c.p50Ns, 0) / cs.length;
    const p99 = cs.reduce((a, c) => a + c.p99Ns, 0) / cs.length;
    console.log(`${r.impl}: p50 ${(r.p50Ns / p50).toFixed(2)}× C, p99 ${(r.p99Ns / p99).toFixed(2)}× C (adjacent C runs; target p50 ≤ 1.3×)`);
  }
}
