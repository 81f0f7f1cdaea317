/**
 * Config-space dumps in the text format of `lspci -x/-xxx/-xxxx`, which
 * `lspci -F FILE` reads back (pciutils lib/dump.c): a header line
 * `BB:DD.F ` or `DDDD:BB:DD.F ` (the trailing space is required; anything
 * after it, such as lspci's device description, is ignored), then lines
 * `OO: xx xx …` with 16 bytes each, and a blank line ending the device.
 */
import { PassthroughError } from '../errors.js';
import { toBdf } from '../types.js';

const HEADER_RE = /^(?:([0-9a-fA-F]{4,5}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7]) /;
const DATA_RE = /^([0-9a-fA-F]{2,8}): (.*)$/;

/** What a dump of `config` holds by default: 4096 bytes when any byte past 0xff is non-zero, else up to 256. */
export function defaultDumpSize(config: Uint8Array): number {
  const extended = config.length > 256 && config.subarray(256, 4096).some((b) => b !== 0);
  return extended ? 4096 : Math.min(config.length, 256);
}

/**
 * Formats `config` (256 or 4096 bytes; longer input is cut at 4096) as one
 * device of an `lspci -F` dump: header `DDDD:BB:DD.F ` with its trailing
 * space, 16 bytes per line, a blank line at the end. Extended space is
 * written only when `config` has it and any byte past 0xff is non-zero,
 * unless `opts.sizeBytes` asks for an exact length (64, 256 or 4096, at most
 * `config.length`).
 * Throws PT_ERR_INVALID_BDF, PT_ERR_INVALID_ARGUMENT (fewer than 64 bytes, or a bad sizeBytes).
 */
export function formatLspciDump(bdf: string, config: Uint8Array, opts: { sizeBytes?: number } = {}): string {
  const canonical = toBdf(bdf);
  if (config.length < 64) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `config dump needs at least 64 bytes (got ${config.length})`, {
      bdf: canonical,
      sizeBytes: config.length,
    });
  }
  const { sizeBytes } = opts;
  if (sizeBytes !== undefined && (![64, 256, 4096].includes(sizeBytes) || sizeBytes > config.length)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `config dump size must be 64, 256 or 4096 and at most ${config.length} (got ${sizeBytes})`, {
      bdf: canonical,
      sizeBytes,
    });
  }
  const length = sizeBytes ?? defaultDumpSize(config);
  const lines = [`${canonical} `];
  for (let off = 0; off < length; off += 16) {
    const row: string[] = [];
    for (let i = off; i < Math.min(off + 16, length); i++) row.push(config[i]!.toString(16).padStart(2, '0'));
    lines.push(`${off.toString(16).padStart(off < 256 ? 2 : 3, '0')}: ${row.join(' ')}`);
  }
  return `${lines.join('\n')}\n\n`;
}

/**
 * Parses `lspci -x`, `-xxx` or `-xxxx` output (or a file written by
 * {@link formatLspciDump}) into canonical BDF → config bytes. Each array is
 * as long as the highest offset the dump gave (64, 256 or 4096 bytes);
 * bytes a line skipped read 0xff, as lib/dump.c fills them. Lines that are
 * neither headers nor data (blank lines, lspci -v details) end nothing but
 * are ignored, except that a blank line closes the current device.
 * Throws PT_ERR_INVALID_ARGUMENT with the line number on a malformed data line
 * or an offset past 4096.
 */
export function parseLspciDump(text: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let cur: { bdf: string; data: Uint8Array; len: number } | undefined;
  const flush = () => {
    if (cur !== undefined) out.set(cur.bdf, cur.data.slice(0, cur.len));
    cur = undefined;
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, '');
    const h = HEADER_RE.exec(line);
    if (h !== null) {
      flush();
      const domain = h[1] ?? '0000';
      cur = { bdf: toBdf(`${domain.slice(-4)}:${h[2]}:${h[3]}.${h[4]}`), data: new Uint8Array(4096).fill(0xff), len: 0 };
      continue;
    }
    if (line.length === 0) {
      flush();
      continue;
    }
    const d = DATA_RE.exec(line);
    if (cur === undefined || d === null) continue;
    let at = parseInt(d[1]!, 16);
    const bytes = d[2]!.trim().length === 0 ? [] : d[2]!.trim().split(' ');
    for (const b of bytes) {
      if (!/^[0-9a-fA-F]{2}$/.test(b)) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `lspci dump line ${n + 1}: malformed byte "${b}"`, {
          line: n + 1,
        });
      }
      if (at >= 4096) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `lspci dump line ${n + 1}: offset past 4096 bytes`, {
          line: n + 1,
          offsetBytes: at,
        });
      }
      cur.data[at++] = parseInt(b, 16);
      if (at > cur.len) cur.len = at;
    }
  }
  flush();
  return out;
}
