/**
 * The deviation tables match the code: the README section's links resolve,
 * every error code they name exists, and every error text they quote (the
 * original's and pcipt's own) is in the sources, placeholders aside.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Deviations from the original, and why'), readme.indexOf('Runtime choices worth knowing:'));
const appleDoc = readFileSync(join(root, 'src/apple/DEVIATIONS.md'), 'utf8');
const simDoc = readFileSync(join(root, 'src/sim/DEVIATIONS.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [readFileSync(p, 'utf8')] : [];
  });
}
// Template-literal substitutions become a separator that no fragment contains.
const code = sources(join(root, 'src')).join('\n').replace(/\$\{[^}]*\}/g, '\u0000');

/** printf conversions, numbers, `…`, and the docs' stand-ins for values. */
const PLACEHOLDER = /0x%[0-9]*x|%[0-9.]*[a-z]+|\b\d+\b|…|\bN\b|read\/write|apple-DDDD:BB:SS\.F|\bBB:DD\.F\b|<[^>]*>|`[^`]*`|0x…/g;

/** Double-quoted texts that are error messages (they start like one of the code's messages). */
function quotedMessages(doc: string): string[] {
  return [...doc.matchAll(/"([^"]{8,})"/g)]
    .map((m) => m[1]!)
    .filter((t) => /^(vfio-apple|apple-|no VFIOUserPCIDriver|%02x:|interrupt mode|…failed|…duplicate|<)/.test(t));
}

describe('deviation tables', () => {
  it('the README section links to files that exist', () => {
    const links = [...section.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(links).toEqual(['src/apple/DEVIATIONS.md', 'src/sim/DEVIATIONS.md']);
    for (const l of links) expect(existsSync(join(root, l)), l).toBe(true);
  });

  it('the README counts the rows of src/apple/DEVIATIONS.md', () => {
    const rows = appleDoc.split('\n').filter((l) => /^\| \d+ \|/.test(l)).map((l) => Number(/^\| (\d+) \|/.exec(l)![1]));
    expect(rows).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(section).toContain(`(${rows.length} items,`);
  });

  it('every error code the tables name exists', () => {
    const named = new Set([...`${section}${appleDoc}${simDoc}`.matchAll(/PT_ERR_[A-Z_]+/g)].map((m) => m[0]));
    expect([...named].filter((c) => !(ERROR_CODES as readonly string[]).includes(c))).toEqual([]);
  });

  it('every quoted error text is in the code (each literal piece between placeholders)', () => {
    const texts = [...quotedMessages(section), ...quotedMessages(appleDoc), ...quotedMessages(simDoc)];
    expect(texts.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const t of texts) {
      for (const piece of t.split(PLACEHOLDER).map((p) => p.replace(/^[\s.…:]+|[\s…:]+$/g, ''))) {
        if (piece.length >= 6 && !code.includes(piece)) missing.push(`${piece}  (in "${t}")`);
      }
    }
    expect(missing).toEqual([]);
  });
});
