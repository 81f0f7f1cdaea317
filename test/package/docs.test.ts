/**
 * The API reference (TypeDoc, typedoc.config.mjs): every exported symbol of
 * every exports-map entry point has a doc comment, and every type the API
 * names is exported. This test is what makes CI fail when one is missing; a
 * second run on a scratch module with an undocumented export shows the check
 * can fail. TypeDoc runs offline.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.js';

const TYPEDOC = join(ROOT, 'node_modules/typedoc/bin/typedoc');
const scratch = join(ROOT, 'tmp', `docs-${process.pid}`);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function typedoc(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [TYPEDOC, ...args], { cwd: ROOT, timeout: 180_000, maxBuffer: 16 << 20, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : (error.code as number), output: `${stdout}${stderr}` });
    });
  });
}

describe('API reference', () => {
  it('typedoc validates the public API with no warning: every exported symbol documented, every named type exported', async () => {
    const run = await typedoc(['--emit', 'none']);
    expect(run.output.trim(), run.output).toBe('');
    expect(run.code).toBe(0);
  }, 180_000);

  it('an undocumented export fails the same check', async () => {
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, 'index.ts'), '/** Documented. */\nexport const documented = 1;\nexport function undocumentedThing(): number {\n  return 2;\n}\n');
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, files: ['index.ts'] }));
    // The project's options, with the scratch module as the only entry point (paths resolve from this file).
    writeFileSync(join(scratch, 'typedoc.config.mjs'), "import base from '../../typedoc.config.mjs';\nexport default { ...base, entryPoints: ['index.ts'], tsconfig: 'tsconfig.json', intentionallyNotExported: [] };\n");
    const run = await typedoc(['--options', join(scratch, 'typedoc.config.mjs'), '--emit', 'none']);
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/undocumentedThing.*does not have any documentation/);
    expect(run.output).not.toMatch(/\bdocumented \(Variable\)/);
  }, 180_000);
});
