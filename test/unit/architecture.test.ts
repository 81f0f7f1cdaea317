import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The dependency rules of the layout (style anchors, "Dependency rules"),
// checked on the sources: a lint rule in test form. Dynamic imports count too.
const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(dir, name);
    if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs = new Set<string>();
  // `from '…'`, `import('…')`, `require('…')` and `createRequire(…)('…')`.
  for (const m of text.matchAll(/(?:(?:from|import)\s*\(?\s*|require\s*\(\s*|\)\s*\(\s*)'([^']+)'/g)) specs.add(m[1]!);
  return [...specs];
}

/** Folder of an import specifier resolved from `file`, relative to src/ ('' for a leaf file in src/). */
function targetArea(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const abs = join(root, file, '..', spec);
  const rel = relative(join(root, 'src'), abs);
  if (rel.startsWith('..')) return `../${relative(root, abs)}`;
  const parts = rel.split('/');
  return parts.length === 1 ? '' : parts[0]!;
}

const all = sources('src');

/**
 * The layers, lowest first (README "Layout"): a folder may import only
 * folders of a lower rank; src/*.ts (types, errors, trace, index) are leaves
 * or the public entry and are checked by the rules above. Folders of one rank
 * never import each other (sim, iokit and linux are peers).
 */
const LAYER_RANK: Record<string, number> = {
  pci: 0,
  vfio: 1,
  dext: 2,
  apple: 3,
  sim: 4,
  iokit: 4,
  linux: 4,
  backends: 5,
  fastpath: 1,
  actors: 6,
  guest: 7,
  adapters: 8,
  cli: 9,
};

function offenders(filter: (file: string) => boolean, bad: (file: string, spec: string) => boolean): string[] {
  const out: string[] = [];
  for (const f of all.filter(filter)) for (const s of importsOf(f)) if (bad(f, s)) out.push(`${f} → ${s}`);
  return out;
}

describe('architecture', () => {
  it('koffi is imported only under src/iokit/ and src/linux/', () => {
    expect(offenders((f) => !/^src\/(iokit|linux)\//.test(f), (_f, s) => s === 'koffi')).toEqual([]);
  });

  it('tinybench is imported only by bench/', () => {
    expect(offenders(() => true, (_f, s) => s === 'tinybench')).toEqual([]);
  });

  it('comlink is used by the rpc module alone', () => {
    expect(offenders((f) => f !== 'src/actors/rpc.ts', (_f, s) => s.startsWith('comlink'))).toEqual([]);
  });

  it('the fast path reaches only itself, types and errors (plus node:worker_threads for the lease)', () => {
    const bad = offenders(
      (f) => f.startsWith('src/fastpath/'),
      (f, s) => {
        if (s.startsWith('node:')) return s !== 'node:worker_threads';
        const area = targetArea(f, s);
        if (area === undefined) return true; // no npm packages in the fast path
        if (area === '') return !/\/(types|errors)\.js$/.test(s);
        return area !== 'fastpath';
      },
    );
    expect(bad).toEqual([]);
  });

  it('every folder imports only folders below it (the layer order of the README)', () => {
    const bad = offenders(
      (f) => f.startsWith('src/') && !/^src\/[^/]+\.ts$/.test(f),
      (f, s) => {
        const from = f.split('/')[1]!;
        const to = targetArea(f, s);
        if (to === undefined || to === '' || to === from || to.startsWith('../')) return false;
        const a = LAYER_RANK[from];
        const b = LAYER_RANK[to];
        return a === undefined || b === undefined || b >= a;
      },
    );
    expect(bad).toEqual([]);
  });

  it('state machines are pure: no worker, koffi or backend imports in *.machine.ts', () => {
    const bad = offenders(
      (f) => f.endsWith('.machine.ts'),
      (f, s) => s === 'koffi' || s === 'node:worker_threads' || ['iokit', 'linux', 'sim', 'backends'].includes(targetArea(f, s) ?? ''),
    );
    expect(bad).toEqual([]);
  });

  it('the checker itself sees imports (a rule that finds nothing must still be able to fail)', () => {
    expect(importsOf('src/actors/rpc.ts').some((s) => s.startsWith('comlink'))).toBe(true);
    expect(importsOf('src/iokit/bindings.ts')).toContain('koffi');
    expect(targetArea('src/fastpath/irq-line.ts', '../errors.js')).toBe('');
    expect(targetArea('src/sim/models/edu.ts', '../../pci/config-space.js')).toBe('pci');
    expect(LAYER_RANK.actors!).toBeGreaterThan(LAYER_RANK.backends!);
  });
});
