import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLspciDump } from '../../../src/pci/dump.js';
import { createSimDext, type SimDext } from '../../../src/sim/index.js';
import type { Bdf } from '../../../src/types.js';
import { DUAL0, DUAL1, EDU0, MSIX, NVME } from './helpers.js';

/** Runs lspci on a dump of every default-machine function, after the dext set up interrupts. */
let dext: SimDext;
let dir: string;

function lspci(bdfs: string[], args: string[]): string {
  const file = join(dir, `dump-${bdfs.length}-${args.join('')}.txt`);
  writeFileSync(file, bdfs.map((b) => formatLspciDump(b, dext.model(b).config)).join(''));
  try {
    return execFileSync('lspci', ['-F', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('lspci not found: install pciutils (apt-get install -y pciutils) to run the config-space decode test');
    }
    throw e;
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcipt-lspci-'));
  dext = createSimDext();
});
afterAll(() => dext.close());

function section(out: string, bdf: string): string {
  const short = bdf.slice(5);
  const start = out.indexOf(`${short} `);
  expect(start, `${short} in lspci output`).toBeGreaterThanOrEqual(0);
  const next = out.indexOf('\n\n', start);
  return out.slice(start, next < 0 ? undefined : next);
}

describe('lspci -F decodes every model config space', () => {
  it('edu: ids, region, MSI disabled then enabled by SetupInterrupts', () => {
    let out = section(lspci([EDU0], ['-vvv', '-nn']), EDU0);
    expect(out).toContain('Unclassified device [00ff]');
    expect(out).toContain('[1234:11e8] (rev 10)');
    expect(out).toContain('Region 0: Memory at c0000000 (32-bit, non-prefetchable)');
    expect(out).toMatch(/Capabilities: \[40\] MSI: Enable- Count=1\/1 Maskable- 64bit\+/);
    expect(out).toContain('Interrupt: pin A');
    const c = dext.connect(EDU0 as Bdf);
    c.claim();
    c.setupInterrupts();
    out = section(lspci([EDU0], ['-vvv']), EDU0);
    expect(out).toMatch(/MSI: Enable\+ Count=1\/1/);
    expect(out).toMatch(/Control: I\/O- Mem\+ BusMaster\+/);
  });

  it('msix: MSI-X with 256 entries and its table/PBA, 64-bit prefetchable BAR2, PCIe FLR', () => {
    const out = section(lspci([MSIX], ['-vvv', '-nn']), MSIX);
    expect(out).toContain('[1234:5a01]');
    expect(out).toMatch(/MSI-X: Enable- Count=256 Masked-/);
    expect(out).toContain('Vector table: BAR=0 offset=00004000');
    expect(out).toContain('PBA: BAR=0 offset=00008000');
    expect(out).toMatch(/Region 2: Memory at e2000000 \(64-bit, prefetchable\)/);
    expect(out).not.toContain('Region 3');
    expect(out).toContain('FLReset+');
  });

  it('dual: multi-function slot, MSI with 4 messages on both functions', () => {
    const out = lspci([DUAL0, DUAL1], ['-vvv', '-nn']);
    for (const bdf of [DUAL0, DUAL1]) {
      const s = section(out, bdf);
      expect(s).toMatch(/MSI: Enable- Count=1\/4 Maskable- 64bit\+/);
      expect(s).toContain('Region 0: Memory at');
    }
    expect(lspci([DUAL0, DUAL1], ['-t'])).toContain('[0000:03]-+-00.0');
  });

  it('replay: the NVMe controller decodes with MSI, PCIe and MSI-X', () => {
    const out = section(lspci([NVME], ['-vvv', '-nn']), NVME);
    expect(out).toContain('Non-Volatile memory controller [0108]');
    expect(out).toContain('[144d:a808]');
    expect(out).toMatch(/MSI-X: Enable- Count=33/);
    expect(out).toContain('Region 0: Memory at a1200000 (64-bit, non-prefetchable)');
  });
});
