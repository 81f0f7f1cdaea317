/**
 * The device worker runs from its bundle (dist/workers/, scripts/bundle-workers.mjs):
 * the supervisor spawns that entry, every `import.meta.url` the bundle kept
 * still names the module's own file under dist/src (a backend names its
 * view-factory module and the IRQ pump worker relative to itself), and a
 * sim-backend worker loads a handful of chunks, not the ~60 modules of the
 * unbundled graph.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workerEntryUrl } from '../../../src/actors/supervisor/workers.js';

const dir = fileURLToPath(new URL('../../../dist/workers/', import.meta.url));
const chunks = readdirSync(dir).filter((f) => f.endsWith('.js'));
const source = (f: string) => readFileSync(`${dir}${f}`, 'utf8');

/** The chunks a file imports statically (`import … from "./x.js"` / `import "./x.js"`). */
function staticImports(f: string): string[] {
  return [...source(f).matchAll(/\bimport\s*(?:[\w${}\s,*]+from\s*)?["'`]\.\/([^"'`]+)["'`]/g)].map((m) => m[1]!);
}

describe('device worker bundle', () => {
  it('is what the supervisor spawns', () => {
    expect(fileURLToPath(workerEntryUrl())).toBe(`${dir}device.worker.js`);
  });

  it('keeps each module URL pointing at the module itself under dist/src', () => {
    const urls = chunks.flatMap((f) => [...source(f).matchAll(/new URL\(["'`]([^"'`]+)["'`],\s*import\.meta\.url\)/g)].map((m) => m[1]!));
    // the linux view factory, the iokit native view, the IRQ pump worker, koffi's createRequire bases
    expect(urls.length).toBeGreaterThanOrEqual(4);
    for (const rel of urls) {
      expect(rel, rel).toMatch(/^\.\.\/src\//);
      expect(existsSync(fileURLToPath(new URL(rel, `file://${dir}`))), rel).toBe(true);
    }
    // no bare import.meta.url is left (it would name the chunk, not the module)
    for (const f of chunks) expect(source(f).replaceAll(/new URL\(["'`][^"'`]+["'`],\s*import\.meta\.url\)/g, ''), f).not.toMatch(/import\.meta\.url/);
  });

  it('statically loads a few chunks, with xstate and comlink inside', () => {
    const seen = new Set<string>();
    const visit = (f: string): void => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const g of staticImports(f)) visit(g);
    };
    visit('device.worker.js');
    expect(seen.size).toBeLessThanOrEqual(16); // ~60 ES modules unbundled
    const text = [...seen].map(source).join('\n');
    expect(text).not.toMatch(/from\s*["'`](xstate|comlink)["'`]/); // bundled, not resolved per worker
  });
});
