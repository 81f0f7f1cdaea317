/**
 * The deviation tables match the code: the README section's links resolve,
 * every error code they name exists, and every error text they quote (the
 * original's and pcipt's own) is in the sources, placeholders aside. The
 * README's table names, row for row, the rows of src/apple/DEVIATIONS.md and
 * src/sim/DEVIATIONS.md it summarises (same numbers, same titles), and every
 * test a row's last column names exists (the file, and the title if quoted).
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

/** Rows of src/apple/DEVIATIONS.md: number → { title (the Where cell up to its first parenthesis), last cell }. */
function appleRows(): Map<number, { title: string; last: string }> {
  const rows = new Map<number, { title: string; last: string }>();
  for (const line of appleDoc.split('\n')) {
    const m = /^\| (\d+) \| (.*) \|$/.exec(line);
    if (m === null) continue;
    const cells = m[2]!.split(' | ');
    rows.set(Number(m[1]), { title: cells[0]!.split(' (')[0]!.trim(), last: cells.at(-1)! });
  }
  return rows;
}

/** Items of src/sim/DEVIATIONS.md's numbered list: number → title (the bold text up to a parenthesis or full stop). */
function simRows(): Map<number, string> {
  const rows = new Map<number, string>();
  for (const m of simDoc.matchAll(/^(\d+)\. \*\*([^*]+)\*\*/gm)) rows.set(Number(m[1]), m[2]!.split(' (')[0]!.replace(/\.$/, '').trim());
  return rows;
}

/** The README's summary rows: the `#` cell's references and the area cell. */
function readmeRows(): { refs: { doc: 'apple' | 'sim'; n: number }[]; area: string; line: string }[] {
  const table = section.slice(section.indexOf('| # | area |'));
  return table
    .split('\n')
    .slice(2)
    .filter((l) => l.startsWith('| '))
    .map((line) => {
      const [num, area] = line.slice(2).split(' | ');
      const m = /^(apple|sim) (\d+(?:, \d+)*)$/.exec(num!);
      return { refs: m === null ? [] : m[2]!.split(', ').map((n) => ({ doc: m[1] as 'apple' | 'sim', n: Number(n) })), area: area!, line };
    });
}

describe('the README table and the DEVIATIONS files, row for row', () => {
  it('every README row names rows that exist in src/apple/DEVIATIONS.md or src/sim/DEVIATIONS.md, with the same titles', () => {
    const apple = appleRows();
    const sim = simRows();
    expect(apple.size).toBeGreaterThan(30);
    expect(sim.size).toBeGreaterThanOrEqual(5);
    const rows = readmeRows();
    expect(rows.length).toBeGreaterThan(15);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const r of rows) {
      if (r.refs.length === 0) problems.push(`no "apple N" / "sim N" in the # cell: ${r.line.slice(0, 80)}`);
      for (const ref of r.refs) {
        const key = `${ref.doc} ${ref.n}`;
        if (seen.has(key)) problems.push(`${key} is summarised twice`);
        seen.add(key);
        const title = ref.doc === 'apple' ? apple.get(ref.n)?.title : sim.get(ref.n);
        if (title === undefined) problems.push(`${key}: no such row`);
        else if (!r.area.toLowerCase().includes(title.toLowerCase())) problems.push(`${key}: README area "${r.area}" does not carry the title "${title}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every test a row of src/apple/DEVIATIONS.md names exists: the file, and each quoted title in one of the row\'s files', () => {
    const problems: string[] = [];
    let named = 0;
    for (const [n, { last }] of appleRows()) {
      const at = last.indexOf('Tests:');
      if (at < 0) continue;
      const part = last.slice(at);
      // Paths in order; a bare file name is in the directory of the path before it.
      const files: string[] = [];
      let dir = '';
      for (const m of part.matchAll(/(test\/[\w./-]+\.ts|[\w-]+\.test\.ts)/g)) {
        const p = m[1]!.includes('/') ? m[1]! : `${dir}${m[1]!}`;
        dir = p.slice(0, p.lastIndexOf('/') + 1);
        files.push(p);
      }
      if (files.length === 0) problems.push(`#${n}: "Tests:" names no file`);
      const texts = files.map((f) => {
        if (!existsSync(join(root, f))) {
          problems.push(`#${n}: ${f} does not exist`);
          return '';
        }
        return readFileSync(join(root, f), 'utf8').replace(/\\'/g, "'");
      });
      for (const m of part.matchAll(/`([^`]+)`/g)) {
        const title = m[1]!.replace(/\s*…$/, '');
        named++;
        if (!texts.some((t) => t.includes(title))) problems.push(`#${n}: no test titled "${title}" in ${files.join(', ')}`);
      }
    }
    expect(named).toBeGreaterThan(8);
    expect(problems).toEqual([]);
  });
});
