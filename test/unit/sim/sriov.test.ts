/**
 * The SR-IOV machine generator: VF addresses from First VF Offset and VF
 * Stride (RID(VF n) = RID(PF) + offset + (n − 1) × stride), VFs running onto
 * the following buses, and machines the sim accepts.
 */
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { parseSimMachine } from '../../../src/sim/machine.js';
import { sriovLayout, sriovMachine } from '../../../src/sim/sriov.js';

const rid = (bdf: string): number => {
  const [, bus, dev, fn] = /^[0-9a-f]{4}:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(bdf)!;
  return (parseInt(bus!, 16) << 8) | (parseInt(dev!, 16) << 3) | Number(fn);
};

describe('sriov layout', () => {
  it('one PF at 01:00.0, offset 1, stride 1: VF1 01:00.1, VF8 01:01.0, VF255 01:1f.7, VF256 on the next bus', () => {
    const [pf] = sriovLayout({ physicalFunctions: 1, vfsPerPf: 256 });
    expect(pf).toMatchObject({ bdf: '0000:01:00.0', firstVfOffset: 1, vfStride: 1 });
    expect(pf!.vfs).toHaveLength(256);
    expect(pf!.vfs[0]).toBe('0000:01:00.1');
    expect(pf!.vfs[7]).toBe('0000:01:01.0');
    expect(pf!.vfs[254]).toBe('0000:01:1f.7');
    expect(pf!.vfs[255]).toBe('0000:02:00.0');
  });

  it('4 PFs × 256 VFs: PFs are 01:00.0–.3, each VF at RID(PF) + offset + (n − 1) × stride, 1,024 distinct VFs up to 05:00.3', () => {
    const pfs = sriovLayout({ physicalFunctions: 4, vfsPerPf: 256 });
    expect(pfs.map((p) => p.bdf)).toEqual(['0000:01:00.0', '0000:01:00.1', '0000:01:00.2', '0000:01:00.3']);
    expect(pfs.map((p) => p.firstVfOffset)).toEqual([4, 259, 514, 769]);
    for (const pf of pfs) {
      pf.vfs.forEach((vf, i) => expect(rid(vf)).toBe(rid(pf.bdf) + pf.firstVfOffset + i * pf.vfStride));
    }
    const all = pfs.flatMap((p) => p.vfs);
    expect(new Set(all).size).toBe(1024);
    expect(all[0]).toBe('0000:01:00.4');
    expect(pfs[1]!.vfs[0]).toBe('0000:02:00.4');
    expect(all.at(-1)).toBe('0000:05:00.3');
  });

  it('a stride of 2 leaves every other RID free', () => {
    const [pf0, pf1] = sriovLayout({ physicalFunctions: 2, vfsPerPf: 4, vfStride: 2, bus: 0x40, domain: 1 });
    expect(pf0).toMatchObject({ bdf: '0001:40:00.0', firstVfOffset: 2 });
    expect(pf0!.vfs).toEqual(['0001:40:00.2', '0001:40:00.4', '0001:40:00.6', '0001:40:01.0']);
    expect(pf1!.vfs[0]).toBe('0001:40:01.2');
  });

  it('the machine has the PFs and all VFs as msix functions, and the sim accepts it', () => {
    const m = sriovMachine({ physicalFunctions: 4, vfsPerPf: 256 });
    expect(m.functions).toHaveLength(1028);
    expect(m.functions.every((f) => f.model === 'msix')).toBe(true);
    expect(parseSimMachine(m).functions).toHaveLength(1028);
  });

  it('refuses options out of range and VFs that would run past bus 255 (PT_ERR_INVALID_ARGUMENT)', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof PassthroughError ? `${e.code} ${e.message}` : String(e);
      }
      return 'none';
    };
    expect(codeOf(() => sriovLayout({ vfsPerPf: 257 }))).toMatch(/^PT_ERR_INVALID_ARGUMENT sriov: vfsPerPf must be an integer from 1 to 256/);
    expect(codeOf(() => sriovLayout({ physicalFunctions: 0 }))).toMatch(/physicalFunctions must be/);
    expect(codeOf(() => sriovLayout({ vfStride: 1.5 }))).toMatch(/vfStride must be/);
    expect(codeOf(() => sriovLayout({ bus: 0xfe, physicalFunctions: 4, vfsPerPf: 256 }))).toMatch(/runs past bus 255/);
    expect(codeOf(() => sriovLayout({ bus: 0xfd, physicalFunctions: 4, vfsPerPf: 128 }))).toBe('none');
  });
});
