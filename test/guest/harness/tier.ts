/**
 * The v86 tier's scenario, run against any set of guest-facing functions:
 * Debian's i386 kernel boots in v86 once with the functions attached (saved
 * as a snapshot), then each test restores it (functions attached first) and
 * runs busybox commands in the guest:
 * - enumeration: every function with the vendor, device, class, header,
 *   pin, BARs (where the adapter placed them, sizes and flags) and the
 *   capability list the function presents;
 * - edu through devmem: ID register, liveness, a factorial by the device;
 * - edu bound to Debian's uio_pci_generic: INTx taken, masked by the
 *   kernel through COMMAND and unmasked through config space, twice.
 * Boot and per-test times (restore → done) are printed and kept in
 * {@link tierTimings}.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GuestPciFunction } from '../../../src/guest/contract.js';
import type { V86FunctionSpec } from '../../../src/adapters/v86.js';
import { bootAndSave, guestAssets, records, runRestored, type BootedGuest, type GuestAssets, type GuestRun } from './session.js';

/** One enumerated function as the guest saw it. */
export interface GuestDevice {
  bdf: string;
  irq: number;
  config: Uint8Array;
  /** [start, end, flags] per resource line (BAR0–5, ROM, …). */
  resources: [bigint, bigint, bigint][];
}

/** Parses pt_enum's @@DEV lines. */
export function parseEnum(lines: readonly string[]): GuestDevice[] {
  return records(lines, '@@DEV ').map((r) => ({
    bdf: r.bdf!,
    irq: Number(r.irq),
    config: Uint8Array.from(r.cfg!.match(/../g)!.map((h) => parseInt(h, 16))),
    resources: r
      .res!.split(',')
      .filter((x) => x !== '')
      .map((x) => x.split(':').map((n) => BigInt(n)) as [bigint, bigint, bigint]),
  }));
}

/** The capability list (`id@offset`) of a config image, walked as a driver does. */
export function capabilityList(read8: (off: number) => number): string[] {
  const out: string[] = [];
  if ((read8(0x06) & 0x10) === 0) return out;
  for (let p = read8(0x34) & 0xfc, n = 0; p !== 0 && n < 48; p = read8(p + 1) & 0xfc, n++) {
    out.push(`${read8(p).toString(16).padStart(2, '0')}@${p.toString(16).padStart(2, '0')}`);
  }
  return out;
}

/** What a function presents (read through the function itself, the same path the guest's config cycles take). */
export function presented(fn: GuestPciFunction): { ids: number; classRev: number; header: number; pin: number; caps: string[] } {
  return {
    ids: fn.configRead(0, 4) >>> 0,
    classRev: fn.configRead(8, 4) >>> 0,
    header: fn.configRead(0x0e, 1),
    pin: fn.configRead(0x3d, 1),
    caps: capabilityList((off) => fn.configRead(off, 1)),
  };
}

const le32 = (b: Uint8Array, off: number) => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;

/** A set of functions to run the scenario against. */
export interface TierSubject {
  /** Names the describe block. */
  title: string;
  /** Fresh specs for one machine (the adapter closes their functions when the machine closes). */
  specs(): Promise<V86FunctionSpec[]>;
  /** Host BDF of the edu function (its guest BDF is looked up in the attachment). */
  eduHostBdf: string;
  /** Extra checks per enumerated function (e.g. against the host device's own report). */
  checkDevice?(hostBdf: string, guest: GuestDevice): void;
  /** Extra tests using the restored guest. */
  extra?(ctx: TierContext): void;
}

/** What extra tests get. */
export interface TierContext {
  run(command: string, label: string): Promise<GuestRun>;
  guestBdf(hostBdf: string): string;
}

/** Boot time and restore→done times of the last run of each scenario (for the report). */
export const tierTimings: Record<string, { bootMs?: number; testsMs: Record<string, number> }> = {};

/** Registers the scenario's tests (or a loud skip naming what is missing). */
export function defineTier(subject: TierSubject): void {
  const prepared = guestAssets();
  if (!('assets' in prepared)) {
    console.warn(`[v86 tier] SKIPPED (${subject.title}): missing ${prepared.missing}. CI installs it in .ci/run; locally run test/guest/harness/prepare.sh --setup as root.`);
    describe.skip(`Linux in v86: ${subject.title} (needs ${prepared.missing})`, () => it('needs the guest', () => undefined));
    return;
  }
  const assets: GuestAssets = prepared.assets;
  const timings: { bootMs?: number; testsMs: Record<string, number> } = { testsMs: {} };
  tierTimings[subject.title] = timings;

  describe(`Linux in v86: ${subject.title}`, () => {
    let booted: BootedGuest;
    let hostToGuest = new Map<string, string>();
    let last: GuestRun | undefined;
    const run = async (command: string, label: string): Promise<GuestRun> => {
      const specs = await subject.specs();
      last = await runRestored(booted.state, `. /pcipt/lib.sh; ${command}`, { functions: specs });
      timings.testsMs[label] = Math.round(last.ms);
      return last;
    };
    const guestBdf = (host: string): string => {
      const g = hostToGuest.get(host);
      if (g === undefined) throw new Error(`no guest function for ${host}`);
      return g;
    };

    beforeAll(async () => {
      booted = await bootAndSave(assets, { functions: await subject.specs() }, 180_000);
      timings.bootMs = Math.round(booted.bootMs);
      hostToGuest = new Map(booted.functions.flatMap((f) => (f.hostBdf === undefined ? [] : [[f.hostBdf, f.guestBdf] as const])));
    }, 900_000);
    afterEach(async () => {
      await last?.machine.close();
      last = undefined;
    });
    afterAll(() => {
      console.log(`[v86 tier] ${subject.title}: boot ${timings.bootMs} ms; restore → done: ${JSON.stringify(timings.testsMs)}`);
    });

    it('boots to the shell and the kernel enumerates every function', async () => {
      const r = await run('pt_enum', 'enumerate');
      const att = r.machine.attachment!;
      expect(att.functions.map((f) => f.guestBdf), 'the restored machine has the booted one\'s slots').toEqual(booted.functions.map((f) => f.guestBdf));
      expect(r.status).toBe(0);
      const seen = parseEnum(r.lines);
      for (const f of att.functions) {
        const g = seen.find((d) => d.bdf === f.guestBdf);
        expect(g, `${f.guestBdf} enumerated`).toBeDefined();
        const want = presented(f.fn);
        expect(le32(g!.config, 0), `${f.guestBdf} vendor/device`).toBe(want.ids);
        expect(le32(g!.config, 8), `${f.guestBdf} class/revision`).toBe(want.classRev);
        expect(g!.config[0x0e], `${f.guestBdf} header type`).toBe(want.header);
        expect(g!.config[0x3d], `${f.guestBdf} pin`).toBe(want.pin);
        expect(capabilityList((o) => g!.config[o]!), `${f.guestBdf} capabilities`).toEqual(want.caps);
        for (const b of f.fn.bars.filter((x) => x.sizeBytes > 0)) {
          const [start, end, flags] = g!.resources[b.index] ?? [0n, 0n, 0n];
          expect(end - start + 1n, `${f.guestBdf} BAR${b.index} size`).toBe(BigInt(b.sizeBytes));
          expect((flags & 0x100n) !== 0n ? 'io' : 'memory', `${f.guestBdf} BAR${b.index} kind`).toBe(b.kind);
          if (b.kind === 'memory') {
            expect(start, `${f.guestBdf} BAR${b.index} where the adapter placed it`).toBe(BigInt(f.placed.get(b.index)!));
            expect((flags & 0x2000n) !== 0n, `${f.guestBdf} BAR${b.index} prefetch`).toBe(b.prefetch);
            expect((flags & 0x100000n) !== 0n, `${f.guestBdf} BAR${b.index} 64-bit`).toBe(b.mem64);
          }
        }
        if (want.pin !== 0) expect(g!.irq, `${f.guestBdf} has an IRQ`).toBeGreaterThan(0);
        if (f.hostBdf !== undefined) subject.checkDevice?.(f.hostBdf, g!);
      }
      expect(att.counters().errors).toBe(0);
    }, 900_000);

    it('edu: the ID register, liveness and a factorial computed by the device, through devmem', async () => {
      const r = await run(`pt_edu ${guestBdf(subject.eduHostBdf)}`, 'edu devmem');
      expect(r.status).toBe(0);
      const e = Object.assign({}, ...records(r.lines, '@@EDU ')) as Record<string, string>;
      expect(Number(e.id)).toBe(0x010000ed);
      expect(Number(e.live1)).toBe(0xedcba987);
      expect(Number(e.live2)).toBe(0xffff0000);
      expect(Number(e.fact10)).toBe(3628800);
      expect(r.machine.attachment!.counters().mmioWrites).toBeGreaterThanOrEqual(3);
    }, 900_000);

    it("edu: Debian's uio_pci_generic binds it, takes its INTx, and the INTx is masked and unmasked through config space, twice", async () => {
      const bdf = guestBdf(subject.eduHostBdf);
      const r = await run(`pt_uio_bind ${bdf} && pt_uio_round ${bdf} 1 && pt_uio_round ${bdf} 2`, 'edu uio INTx x2');
      expect(r.status, r.lines.join('\n')).toBe(0);
      const bound = records(r.lines, '@@UIO ')[0]!;
      expect(bound).toMatchObject({ bound: 'uio_pci_generic', dev: 'uio0' });
      for (const round of [1, 2]) {
        const rec = (what: string) => records(r.lines, `@@ROUND ${round} ${what} `)[0]!;
        expect(Number(rec('before').cmd) & 0x400, `round ${round}: INTx enabled before`).toBe(0);
        const irq = rec('irq');
        expect(Number(irq.count), `round ${round}: uio read returned the interrupt count`).toBe(round);
        expect(Number(irq.cmd) & 0x400, `round ${round}: the kernel masked INTx in COMMAND`).toBe(0x400);
        expect(Number(irq.status) & 0x08, `round ${round}: STATUS interrupt bit set while pending`).toBe(0x08);
        expect(Number(rec('acked').status) & 0x08, `round ${round}: STATUS clear after the ack`).toBe(0);
        expect(Number(rec('unmasked').cmd) & 0x400, `round ${round}: unmasked through config space`).toBe(0);
      }
      const last2 = r.lines.find((l) => l.startsWith('@@ROUND 2 unmasked'))!;
      expect(last2).toMatch(new RegExp(`intr= ${bound.irq}: 2 `));
      const c = r.machine.attachment!.counters();
      expect(c.intxAsserts).toBeGreaterThanOrEqual(2);
      expect(c.intxDeasserts).toBeGreaterThanOrEqual(2);
    }, 900_000);

    subject.extra?.({ run, guestBdf });
  });
}
