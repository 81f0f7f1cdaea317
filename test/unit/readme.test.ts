/**
 * README.md, checked statically: every code block says how the tests check it
 * (`<!-- readme-test: KIND … -->` on the line before its fence) and the static
 * kinds are checked here (JSON against the schemas, files embedded verbatim,
 * the exit-code table equal to src/cli/exit-codes.ts, what the README says is
 * exported is exported). test/cli/readme.test.ts runs the rest (TypeScript
 * programs, pcipt command lines, outputs); test/package/consumer.test.ts the
 * install and compile lines.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/errors.js';
import { exitCodeMarkdown } from '../../src/cli/exit-codes.js';
import * as schemas from '../../src/cli/schemas.js';
import * as pcipt from '../../src/index.js';
import { readmeBlocks, README_TEST_KINDS } from '../shared/readme-blocks.js';
import { validate } from '../cli/helpers.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = readmeBlocks(readme);

describe('README', () => {
  it('documents every error code', () => {
    const missing = ERROR_CODES.filter((c) => !readme.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });

  it('every code block says how a test checks it, with a known kind', () => {
    expect(blocks.length).toBeGreaterThan(10);
    const unchecked = blocks.filter((b) => b.kind === undefined || !README_TEST_KINDS.includes(b.kind)).map((b) => `line ${b.line}: ${b.annotation ?? '(no <!-- readme-test: … --> line)'}`);
    expect(unchecked, 'put <!-- readme-test: KIND … --> on the line before the fence (kinds in test/shared/readme-blocks.ts)').toEqual([]);
  });

  it('JSON blocks parse, and the ones naming a schema are valid against it', () => {
    for (const b of blocks.filter((x) => x.lang === 'json')) {
      const doc = JSON.parse(b.code) as unknown;
      if (b.kind === 'schema') {
        const schema = (schemas as Record<string, unknown>)[b.args[0]!];
        expect(schema, `line ${b.line}: no schema ${b.args[0]} in src/cli/schemas.ts`).toBeDefined();
        expect(validate(schema as schemas.JsonSchema, doc), `README line ${b.line}`).toEqual([]);
      }
    }
    expect(blocks.filter((b) => b.kind === 'schema').map((b) => b.args[0])).toEqual(['ERROR_SCHEMA', 'BENCH_REPORT_SCHEMA', 'TRACE_LINE_SCHEMA']);
  });

  it('embeds every example file verbatim (the example a test runs is the one users read)', () => {
    const files = blocks.filter((b) => b.kind === 'file');
    expect(files.map((b) => b.args[0])).toEqual(expect.arrayContaining(['examples/embed.ts', 'examples/guest.ts']));
    for (const block of files) {
      const example = readFileSync(new URL(`../../${block.args[0]}`, import.meta.url), 'utf8');
      expect(block.code, `README line ${block.line}: ${block.args[0]}`).toBe(example);
    }
  });

  it('the exit-code table is the one src/cli/exit-codes.ts renders', () => {
    const m = /<!-- exit-codes:begin[^>]*-->\n([\s\S]*?)\n<!-- exit-codes:end -->/.exec(readme);
    expect(m, 'README.md has no <!-- exit-codes:begin --> … <!-- exit-codes:end --> section').not.toBeNull();
    expect(m![1]).toBe(exitCodeMarkdown());
  });

  it('shows the two quick-start commands, and .ci/run runs them', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
    const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(ci).toMatch(/^npm test$/m);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node bin/pcipt.js demo');
  });

  it('everything the README says `pcipt` exports is exported', () => {
    const para = readme.slice(readme.indexOf('From code, the same pieces are exported by `pcipt`'));
    const names = [...para.slice(0, para.indexOf('\n\n')).matchAll(/`([a-z][A-Za-z]+)(?:\(|`)/g)].map((m) => m[1]!).filter((n) => n !== 'pcipt' && n !== 'postMessage');
    expect(names.length).toBeGreaterThanOrEqual(12);
    const missing = names.filter((n) => typeof (pcipt as Record<string, unknown>)[n] !== 'function');
    expect(missing).toEqual([]);
    // And every value a README program imports from 'pcipt' (types are checked when test/cli/readme.test.ts compiles them).
    for (const b of blocks.filter((x) => x.lang === 'ts')) {
      for (const m of b.code.matchAll(/import \{([^}]+)\} from 'pcipt'/g)) {
        const values = m[1]!.split(',').map((x) => x.trim()).filter((x) => x !== '' && !x.startsWith('type '));
        expect(values.filter((v) => (pcipt as Record<string, unknown>)[v] === undefined), `README line ${b.line}`).toEqual([]);
      }
    }
  });
});
