/**
 * The v86 tier over the in-process edu fixture (test/guest/fixture): the
 * adapter and the tier's plumbing, proven by Debian's i386 kernel in v86
 * with Debian's own drivers. The same scenario runs over real pcipt
 * functions (sim devices through the supervisor and the guest layer) in
 * linux-in-v86-pcipt.test.ts.
 *
 * Beyond the scenario: port I/O through /dev/port reaches the function's
 * I/O BAR, and the RAM-like BAR is the function's memory (what the guest
 * writes with devmem, the host reads in the window, and back).
 */
import { expect, it } from 'vitest';
import { EduFixture } from './fixture/edu-fixture.js';
import { defineTier } from './harness/tier.js';
import { records } from './harness/session.js';

let latest: EduFixture[] = [];

defineTier({
  title: 'the in-process edu fixture (00:10.0) and a two-function slot of fixtures (03:00.0/.1)',
  eduHostBdf: '0000:00:10.0',
  async specs() {
    latest = [];
    const make = (hostBdf: string, multiFunction = false) => ({
      hostBdf,
      open: (sink: ConstructorParameters<typeof EduFixture>[0]) => {
        const f = new EduFixture(sink, { multiFunction });
        latest.push(f);
        return f;
      },
    });
    return [make('0000:00:10.0'), make('0000:03:00.0', true), make('0000:03:00.1', true)];
  },
  extra({ run, guestBdf }) {
    it('port I/O: the guest reads and writes the I/O BAR through /dev/port', async () => {
      const bdf = guestBdf('0000:00:10.0');
      const r = await run(
        `P=$(pt_bar ${bdf} 4); echo "@@IO base=$P id=$(pt_inb $P)"; pt_outl $((P + 4)) 0xcafe1234; echo "@@IO scratch=$(pt_inl $((P + 4)))"`,
        'port I/O',
      );
      expect(r.status, r.lines.join('\n')).toBe(0);
      const io = Object.assign({}, ...records(r.lines, '@@IO ')) as Record<string, string>;
      expect(Number(io.base)).toBeGreaterThan(0);
      expect(Number(io.id)).toBe(0x5a);
      expect(Number(io.scratch)).toBe(0xcafe1234);
      expect(latest[0]!.ioScratch).toBe(0xcafe1234);
    }, 900_000);

    it('the RAM-like BAR is the function\'s memory: guest devmem writes land in its window and host writes are read back', async () => {
      const bdf = guestBdf('0000:00:10.0');
      const r = await run(`R=$(pt_bar ${bdf} 2); devmem $((R + 0x40)) 32 0x600dcafe; echo "@@RAM addr=$R word=$(devmem $((R + 0x40)) 32)"`, 'RAM BAR');
      expect(r.status, r.lines.join('\n')).toBe(0);
      const ram = latest[0]!.ram;
      expect([...ram.subarray(0x40, 0x44)]).toEqual([0xfe, 0xca, 0x0d, 0x60]);
      expect(Number(records(r.lines, '@@RAM ')[0]!.word)).toBe(0x600dcafe);
      expect(latest[0]!.counters.mmioReads + latest[0]!.counters.mmioWrites).toBe(0); // served from the window
    }, 900_000);
  },
});
