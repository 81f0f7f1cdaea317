/**
 * Runs the built CLI (`node bin/pcipt.js …`) as a child process, and a tiny
 * JSON Schema validator for the schemas in src/cli/schemas.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JsonSchema } from '../../src/cli/schemas.js';

/** Repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/pcipt.js', import.meta.url));
const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** What a CLI run produced. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pcipt args…`. The environment is the test's minus colour and CI
 * variables, plus `env` (a value of undefined removes the variable).
 */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<CliRun> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npx tsc -p tsconfig.json" (npm test builds first)`);
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !['NO_COLOR', 'FORCE_COLOR', 'CI', 'PCI_IDS'].includes(k)) childEnv[k] = v;
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: childEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(new Error(`pcipt ${args.join(' ')} did not exit normally (${error.signal ?? error.message})\n${stderr}`));
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** Parses stdout as the one JSON document; fails with stdout and stderr shown. */
export function parseJson(run: CliRun): unknown {
  try {
    return JSON.parse(run.stdout);
  } catch (e) {
    throw new Error(`stdout is not one JSON document (${(e as Error).message}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * Validates `value` against a schema of the subset src/cli/schemas.ts uses
 * (type, enum, pattern, minimum, properties, required, additionalProperties,
 * items). Returns every violation as `path: problem`; [] means valid.
 */
export function validate(schema: JsonSchema, value: unknown, path = '$'): string[] {
  const errors: string[] = [];
  const s = schema as Record<string, unknown>;
  if (s.type !== undefined) {
    const allowed = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const actual = typeOf(value);
    const ok = allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'));
    if (!ok) return [`${path}: expected ${allowed.join('|')}, got ${actual}`];
  }
  if (Array.isArray(s.enum) && !s.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (typeof s.pattern === 'string' && typeof value === 'string' && !new RegExp(s.pattern).test(value)) {
    errors.push(`${path}: "${value}" does not match ${s.pattern}`);
  }
  if (typeof s.minimum === 'number' && typeof value === 'number' && value < s.minimum) {
    errors.push(`${path}: ${value} < minimum ${s.minimum}`);
  }
  if (typeOf(value) === 'object') {
    const o = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) errors.push(`${path}: missing "${r}"`);
    for (const [k, v] of Object.entries(o)) {
      if (props[k] !== undefined) errors.push(...validate(props[k]!, v, `${path}.${k}`));
      else if (s.additionalProperties === false) errors.push(`${path}: unexpected "${k}"`);
    }
  }
  if (Array.isArray(value) && s.items !== undefined) {
    value.forEach((item, i) => errors.push(...validate(s.items as JsonSchema, item, `${path}[${i}]`)));
  }
  return errors;
}
