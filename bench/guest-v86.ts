/**
 * Guest MMIO in v86, measured from inside the guest (Debian's i386 kernel,
 * the v86 tier's initramfs): a tiny i386 program (bench/guest-elf.ts, sent
 * over the serial console) maps one page of /dev/mem and reads one 32-bit
 * word N times, each read one MMIO access through v86's handler tables; the
 * guest times it with its own clock (adjtimex, microseconds), less the same
 * program doing 1 read in the same round (process start-up, the mapping,
 * the clock reads).
 * The adapter's counters check that each read reached it exactly once.
 * Targets, all in the same emulator loop and the same guest boot:
 *
 * - `baseline.raw-handler`: a plain JS handler on v86's table, no adapter
 *   and no PCI function (what a hand-written v86 device costs), served at a
 *   PCI BAR (a second fixture's BAR0, whose function it replaces) so the
 *   guest maps it as it maps the others;
 * - `fixture.register`: the in-process edu fixture's register BAR through
 *   the adapter (the "in-process register handler");
 * - `fixture.ram`: the fixture's RAM-like BAR through the adapter's window;
 * - `pcipt.edu.register`: the sim edu's trapped register BAR through the
 *   adapter, the guest layer and the device worker's mailbox;
 * - `pcipt.msix.ram`: the sim MSI-X function's RAM-like BAR2 through the
 *   adapter and the guest layer's window.
 *
 * The last two go through the guest layer (src/guest/, wired by
 * src/adapters/supervised.ts).
 *
 *   npm run build && node dist/bench/guest-v86.js [REPS] [--json]
 */
import { createSupervisor, type Supervisor } from '../src/actors/supervisor/supervisor.js';
import { loadGuestFunctionFactory, supervisedFunctionSpecs } from '../src/adapters/supervised.js';
import { mapRawMmio, type V86FunctionSpec } from '../src/adapters/v86.js';
import { createV86Machine } from '../src/adapters/v86-machine.js';
import { EduFixture } from '../test/guest/fixture/edu-fixture.js';
import { guestAssets, READY_MARKER, records, runLive, untilLine } from '../test/guest/harness/session.js';
import { mmioReadLoopElf, shellWriteFile } from './guest-elf.js';
import { machineInfo, resultFromLatencies, type BenchRatio, type BenchReport, type BenchResult } from './report.js';

/** 32-bit reads per sample (the trapped register through the device worker is ~100× slower: fewer). */
const kReads = 4_000_000;
const kTrappedReads = 100_000;
/** Size of the fixture's RAM BAR and of the raw range. */
const kBytes = 0x10000;

/** The report, plus what the pcipt functions went through and the guest's boot time. */
export interface GuestBenchReport extends BenchReport {
  /** What turned the sim devices into guest-facing functions. */
  layer: 'guest layer' | 'test stand-in (guest layer pending)';
  bootMs: number;
  /** Median time of the 1-read run (each sample has its own round's subtracted). */
  overheadUs: number;
}

/** Boots the guest once and measures every target `reps` times, interleaved. */
export async function runGuestMmioBench(reps = 7, log: (line: string) => void = () => undefined): Promise<GuestBenchReport> {
  const prepared = guestAssets();
  if (!('assets' in prepared)) throw new Error(`the guest is not prepared: missing ${prepared.missing}`);
  let sup: Supervisor | undefined;
  const specs: V86FunctionSpec[] = [
    { name: 'fixture', open: (sink) => new EduFixture(sink, { ramBytes: kBytes }) },
    { name: 'baseline', open: (sink) => new EduFixture(sink, { ramBytes: kBytes, ioBar: false }) },
  ];
  const factory = await loadGuestFunctionFactory();
  const layer: GuestBenchReport['layer'] = 'guest layer';
  sup = await createSupervisor({ backend: 'sim' });
  const handles = [await sup.attach('0000:00:10.0'), await sup.attach('0000:02:00.0')];
  specs.push(...(await supervisedFunctionSpecs(handles, factory)));
  const t0 = performance.now();
  const machine = await createV86Machine({ kernel: prepared.assets.kernel, initrd: prepared.assets.initrd, memoryMiB: 96, functions: specs });
  try {
    // The value edu's ID register holds (the fixture's word 0): a small integer, so every target returns the same kind of number.
    const ready = untilLine(machine, (l) => (l.includes(READY_MARKER) ? l : undefined), 180_000, 'boot');
    machine.start();
    await ready;
    const bootMs = performance.now() - t0;
    log(`booted in ${(bootMs / 1000).toFixed(1)} s`);
    // After boot: the adapter mapped the placeholder's BAR0 when the guest enabled decoding; the raw handler replaces it.
    const raw = mapRawMmio(
      machine.emulator,
      { read8: () => 0xed, write8: () => undefined, read32: () => 0x010000ed, write32: () => undefined },
      kBytes,
      machine.attachment!.functions[1]!.placed.get(0),
    );
    const fns = machine.attachment!.functions;
    const at = (i: number, bar: number) => fns[i]?.placed.get(bar);
    const targets: [name: string, address: number | undefined, reads: number][] = [
      ['baseline.raw-handler', raw.address, kReads],
      ['fixture.register', at(0, 0), kReads],
      ['fixture.ram', at(0, 2), kReads],
    ];
    targets.push(['pcipt.edu.register', at(2, 0), kTrappedReads], ['pcipt.msix.ram', at(3, 2), kReads]);
    await runLive(machine, '. /pcipt/lib.sh');
    const install = async (path: string, address: number, reads: number): Promise<void> => {
      const r = await runLive(machine, shellWriteFile(path, mmioReadLoopElf(address, reads)));
      if (r.status !== 0) throw new Error(`could not write ${path} in the guest:\n${r.lines.join('\n')}`);
    };
    await install('/tmp/calibrate', raw.address, 1);
    for (const [i, [, address, reads]] of targets.entries()) await install(`/tmp/read${i}`, address!, reads);
    const samples = new Map<string, number[]>(targets.map(([n]) => [n, []]));
    const emptyUs: number[] = [];
    const timed = async (path: string): Promise<number> => {
      const r = await runLive(machine, `pt_time ${path}`);
      const rec = records(r.lines, '@@TIME ')[0];
      if (r.status !== 0 || rec === undefined || rec.status !== '0') throw new Error(`${path} failed in the guest:\n${r.lines.join('\n')}`);
      return Number(rec.us);
    };
    // One throw-away round (page tables, the JIT), then interleaved rounds so drift hits every target alike.
    for (let round = -1; round < reps; round++) {
      const empty = await timed('/tmp/calibrate');
      if (round >= 0) emptyUs.push(empty);
      for (const [i, [name, , reads]] of targets.entries()) {
        const before = machine.attachment!.counters().mmioReads;
        const us = await timed(`/tmp/read${i}`);
        const counted = machine.attachment!.counters().mmioReads - before;
        const expected = name === 'baseline.raw-handler' ? 0 : reads;
        if (counted !== expected) throw new Error(`${name}: ${counted} MMIO reads reached the adapter, expected ${expected}`);
        if (round >= 0) samples.get(name)!.push(((us - empty) * 1000) / reads);
      }
      log(`round ${round + 1}/${reps}`);
    }
    const overheadUs = emptyUs.sort((a, b) => a - b)[emptyUs.length >> 1]!;
    const results: BenchResult[] = targets.map(([name, , reads]) => resultFromLatencies(name, samples.get(name)!, false, reads));
    const p50 = (n: string) => results.find((r) => r.name === n)?.latencyNs.p50;
    const ratios: BenchRatio[] = [];
    const addRatio = (a: string, b: string, max: number): void => {
      const x = p50(a);
      const y = p50(b);
      if (x === undefined || y === undefined) return;
      ratios.push({ label: `${a} / ${b} (p50)`, value: x / y, target: { kind: 'max', value: max }, ok: x / y <= max });
    };
    addRatio('fixture.register', 'baseline.raw-handler', 1.5);
    addRatio('fixture.ram', 'baseline.raw-handler', 1.5);
    addRatio('pcipt.msix.ram', 'fixture.ram', 1.5);
    addRatio('pcipt.edu.register', 'fixture.register', 10);
    raw.unmap();
    return { suite: 'guest-v86', machine: machineInfo(), layer, results, ratios, bootMs: Math.round(bootMs), overheadUs };
  } finally {
    await machine.close();
    await sup?.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const reps = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 7);
  const json = process.argv.includes('--json');
  const report = await runGuestMmioBench(reps, (l) => process.stderr.write(`[guest-v86] ${l}\n`));
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    console.log(`pcipt functions through: ${report.layer}`);
    console.log(`guest MMIO in v86, ns per 32-bit read measured in the guest (${reps} samples per target, each less the same round's 1-read run, median ${report.overheadUs} µs; boot ${(report.bootMs / 1000).toFixed(1)} s)`);
    for (const r of report.results) console.log(`  ${r.name.padEnd(22)} p50 ${r.latencyNs.p50.toFixed(0).padStart(7)} ns  min ${r.latencyNs.min.toFixed(0).padStart(7)}  max ${r.latencyNs.max.toFixed(0).padStart(7)}`);
    for (const q of report.ratios ?? []) console.log(`  ${q.label.padEnd(52)} ${q.value.toFixed(2)}×  (target ≤ ${q.target.value}×) ${q.ok ? 'PASS' : 'MISS'}`);
  }
}
