/**
 * A report's own figures (beyond the shared schema) are written once, the same
 * way in the printed table and in the HTML page: bytes in MiB, fractions to
 * one decimal, integers and text as they are, objects left to the notes.
 */
import { describe, expect, it } from 'vitest';
import type { BenchReport } from '../../../bench/report.js';
import { renderHtmlReport } from '../../../src/cli/bench/html.js';
import { reportExtras } from '../../../src/cli/bench/ratio-text.js';

const report = {
  suite: 'scale',
  machine: { cpus: 2, node: 'v20', cpuModel: 'test', platform: 'linux', release: 'x', arch: 'x64', totalMemBytes: 2 ** 30, loadAvg: [0, 0, 0] },
  results: [],
  ratios: [],
  notes: ['a note'],
  devices: 64,
  sriov: '1 PF × 64 VF',
  closeMs: 1234.5678,
  rssPerDeviceBytes: 11.5 * 2 ** 20,
  strict: false,
  memory: { fresh: { bare: 1 } },
} as unknown as BenchReport;

describe('reportExtras', () => {
  it("lists the suite's own scalar figures, formatted, and leaves the shared fields and objects out", () => {
    expect(reportExtras(report)).toEqual([
      ['devices', '64'],
      ['sriov', '1 PF × 64 VF'],
      ['closeMs', '1234.6'],
      ['rssPerDeviceBytes', '11.50 MiB'],
      ['strict', 'false'],
    ]);
  });

  it('the HTML page shows the same texts', () => {
    const html = renderHtmlReport([report], {
      title: 't',
      command: 'pcipt bench scale',
      version: '0.0.0',
      startedAt: new Date(0),
      finishedAt: new Date(1000),
      loadAfter: [0, 0, 0],
      plotSvg: '',
    });
    expect(html).toContain('rssPerDeviceBytes <b>11.50 MiB</b>');
    expect(html).toContain('closeMs <b>1234.6</b>');
    expect(html).not.toContain('memory <b>');
  });
});
