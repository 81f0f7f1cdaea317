/**
 * Where the CLI writes, and how: machine output (one JSON document, or JSON
 * lines for `trace` and `top`) on stdout, logs and progress on stderr.
 * Colour: `--color[=always|never|auto]` / `--no-color` on the command line
 * win; then a non-empty NO_COLOR turns it off (no-color.org: an empty value
 * counts as unset); then a non-empty FORCE_COLOR turns it on (`0` and
 * `false` turn it off, as in Node); otherwise only for a TTY.
 */
import pc from 'picocolors';
import { PassthroughError } from '../errors.js';
import { traceJsonReplacer } from '../trace.js';
import { hintFor } from './hints.js';

/** A writable text stream (process.stdout, a test buffer). */
export interface TextSink {
  write(chunk: string): unknown;
  /** True when the stream is a terminal. */
  readonly isTTY?: boolean;
  /** Terminal width in columns, when a terminal. */
  readonly columns?: number;
}

/** A readable terminal (for `top`'s keys): process.stdin, or a test double. */
export interface KeySource {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** The streams and environment a command runs against (injectable for tests). */
export interface CliStreams {
  stdout: TextSink;
  stderr: TextSink;
  env: Record<string, string | undefined>;
  /** Keyboard input, when there is one (interactive commands only). */
  stdin?: KeySource;
}

/** Colour functions (identity when colour is off). */
export type Colors = ReturnType<typeof pc.createColors>;

/** Output helpers handed to every command. */
export interface CliOutput {
  readonly streams: CliStreams;
  /** True when `--json` was given: stdout carries exactly one JSON document. */
  readonly json: boolean;
  /** Colours for stdout text. */
  readonly color: Colors;
  /** Colours for stderr text. */
  readonly errColor: Colors;
  /** Writes a line to stdout. */
  out(line?: string): void;
  /** Writes a log line to stderr. */
  log(line: string): void;
  /** Writes `value` as the one JSON document on stdout (pretty, bigint → `0x…`). */
  emitJson(value: unknown): void;
  /** Prints an error: `pcipt: <message> [<code>]` (and a hint line) on stderr, plus `{ error }` on stdout under --json. */
  error(error: PassthroughError): void;
}

/** The process's streams. */
export function processStreams(): CliStreams {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin };
}

/** `--color=WHEN`: `always`, `never`, or `auto` (the environment and the TTY decide). */
export type ColorMode = 'always' | 'never' | 'auto';

/** The values `--color=WHEN` accepts. */
export const COLOR_MODES: readonly ColorMode[] = ['always', 'never', 'auto'];

/** True when a non-empty env variable is set (no-color.org / force-color.org). */
export function envFlag(env: Record<string, string | undefined>, name: string): boolean {
  const v = env[name];
  return v !== undefined && v !== '';
}

/**
 * Whether to colour `stream`. The command line wins (`always`, `never`);
 * then NO_COLOR (non-empty) turns colour off; then FORCE_COLOR (non-empty)
 * turns it on, except `0` and `false`, which turn it off; otherwise colour
 * only a TTY.
 */
export function colorEnabled(stream: TextSink, env: Record<string, string | undefined>, mode: ColorMode | undefined): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  if (envFlag(env, 'NO_COLOR')) return false;
  if (envFlag(env, 'FORCE_COLOR')) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR!.toLowerCase() !== 'false';
  return stream.isTTY === true;
}

/** Builds the output helpers. `color`: the `--color` mode, undefined when the command line gave none. */
export function createOutput(streams: CliStreams, opts: { json: boolean; color?: ColorMode | undefined }): CliOutput {
  const color = pc.createColors(!opts.json && colorEnabled(streams.stdout, streams.env, opts.color));
  const errColor = pc.createColors(colorEnabled(streams.stderr, streams.env, opts.color));
  return {
    streams,
    json: opts.json,
    color,
    errColor,
    out(line = '') {
      streams.stdout.write(`${line}\n`);
    },
    log(line: string) {
      streams.stderr.write(`${line}\n`);
    },
    emitJson(value: unknown) {
      streams.stdout.write(`${JSON.stringify(value, traceJsonReplacer, 2)}\n`);
    },
    error(error: PassthroughError) {
      const hint = hintFor(error);
      streams.stderr.write(`${errColor.red('pcipt:')} ${error.message} ${errColor.dim(`[${error.code}]`)}\n`);
      if (hint !== undefined) streams.stderr.write(`${errColor.dim('pcipt: hint:')} ${hint}\n`);
      if (opts.json) {
        const context = { ...error.context };
        delete context.usage;
        const doc = { code: error.code, message: error.message, context, ...(hint === undefined ? {} : { hint }) };
        streams.stdout.write(`${JSON.stringify({ error: doc }, traceJsonReplacer, 2)}\n`);
      }
    },
  };
}
