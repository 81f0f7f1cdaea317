import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatLspciDump, parseLspciDump } from '../../src/pci/dump.js';

describe('lspci dump format', () => {
  it('writes the header with its trailing space, 16 bytes a line, a blank line at the end', () => {
    const cfg = new Uint8Array(256).map((_, i) => i);
    const text = formatLspciDump('00:10.0', cfg);
    const lines = text.split('\n');
    expect(lines[0]).toBe('0000:00:10.0 ');
    expect(lines[1]).toBe('00: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f');
    expect(lines[16]).toBe('f0: f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 fa fb fc fd fe ff');
    expect(lines.length).toBe(19);
    expect(text.endsWith('\n\n')).toBe(true);
  });

  it('writes 4096 bytes with three-digit offsets only when extended space is non-zero', () => {
    const cfg = new Uint8Array(4096);
    expect(formatLspciDump('0000:01:00.0', cfg).split('\n').length).toBe(19);
    cfg[0x100] = 0x01;
    const lines = formatLspciDump('0000:01:00.0', cfg).split('\n');
    expect(lines.length).toBe(1 + 256 + 2);
    expect(lines[17]).toMatch(/^100: 01 00/);
    expect(lines[256]).toMatch(/^ff0: /);
  });

  it('refuses fewer than 64 bytes and a bad BDF', () => {
    expect(() => formatLspciDump('00:10.0', new Uint8Array(16))).toThrowError(expect.objectContaining({ code: 'PT_ERR_INVALID_ARGUMENT' }));
    expect(() => formatLspciDump('zz', new Uint8Array(256))).toThrowError(expect.objectContaining({ code: 'PT_ERR_INVALID_BDF' }));
  });

  it('parses lspci -x output with descriptions, domains and several devices', () => {
    const text = [
      '00:1f.3 Audio device: Intel Corporation Device 7a50 (rev 11)',
      '00: 86 80 50 7a 06 04 10 00 11 00 03 04 10 20 00 00',
      '10: 04 00 1c 60 00 00 00 00 00 00 00 00 00 00 00 00',
      '20: 04 00 00 60 00 00 00 00 00 00 00 00 28 10 4e 0b',
      '30: 00 00 00 00 50 00 00 00 00 00 00 00 ff 01 00 00',
      '',
      '0001:02:00.1 Non-Volatile memory controller: X',
      '00: 4d 14 08 a8',
      '',
    ].join('\r\n');
    const m = parseLspciDump(text);
    expect([...m.keys()]).toEqual(['0000:00:1f.3', '0001:02:00.1']);
    expect(m.get('0000:00:1f.3')!.length).toBe(64);
    expect(m.get('0000:00:1f.3')![0x2c]).toBe(0x28);
    expect([...m.get('0001:02:00.1')!]).toEqual([0x4d, 0x14, 0x08, 0xa8]);
  });

  it('ignores a header without the trailing space, as lib/dump.c does', () => {
    expect(parseLspciDump('00:10.0\n00: 01 02\n').size).toBe(0);
  });

  it('reports the line of a malformed byte and offsets past 4096', () => {
    expect(() => parseLspciDump('00:10.0 \n00: 01 0g\n')).toThrowError(/line 2: malformed byte "0g"/);
    expect(() => parseLspciDump('00:10.0 \nfff: 01 02\n')).toThrowError(/line 2: offset past 4096/);
  });

  it('format → parse round-trips any 256 or 4096-byte config', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), fc.boolean(), (head, ext) => {
        const cfg = new Uint8Array(ext ? 4096 : 256);
        cfg.set(head);
        if (ext) cfg[4095] = 1;
        const back = parseLspciDump(formatLspciDump('0002:03:04.5', cfg)).get('0002:03:04.5')!;
        expect(back).toEqual(cfg);
      }),
      { numRuns: 50 },
    );
  });
});
