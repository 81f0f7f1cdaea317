/**
 * Where the CLI writes, and how: machine output (one JSON document, or JSON
 * lines for `trace`) on stdout, logs and progress on stderr, colour only for
 * a TTY and never under NO_COLOR (no-color.org: an empty value counts as unset).
 */
import pc from 'picocolors';
import { PassthroughError } from '../errors.js';
import { traceJsonReplacer } from '../trace.js';

/** A writable text stream (process.stdout, a test buffer). */
export interface TextSink {
  write(chunk: string): unknown;
  /** True when the stream is a terminal. */
  readonly isTTY?: boolean;
  /** Terminal width in columns, when a terminal. */
  readonly columns?: number;
}

/** The streams and environment a command runs against (injectable for tests). */
export interface CliStreams {
  stdout: TextSink;
  stderr: TextSink;
  env: Record<string, string | undefined>;
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
  /** Prints an error: `pcipt: <message> [<code>]` on stderr, plus `{ error }` on stdout under --json. */
  error(error: PassthroughError): void;
}

/** The process's streams. */
export function processStreams(): CliStreams {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** True when a non-empty env variable is set (no-color.org / force-color.org). */
export function envFlag(env: Record<string, string | undefined>, name: string): boolean {
  const v = env[name];
  return v !== undefined && v !== '';
}

/**
 * Whether to colour `stream`: `--no-color` or a non-empty NO_COLOR turns it
 * off; otherwise a non-empty FORCE_COLOR (other than `0`) or `--color` turns it
 * on; otherwise only for a TTY.
 */
export function colorEnabled(stream: TextSink, env: Record<string, string | undefined>, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (envFlag(env, 'NO_COLOR')) return false;
  if (flag === true) return true;
  if (envFlag(env, 'FORCE_COLOR') && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

/** Builds the output helpers. `colorFlag`: true for --color, false for --no-color, undefined when neither. */
export function createOutput(streams: CliStreams, opts: { json: boolean; colorFlag?: boolean | undefined }): CliOutput {
  const color = pc.createColors(!opts.json && colorEnabled(streams.stdout, streams.env, opts.colorFlag));
  const errColor = pc.createColors(colorEnabled(streams.stderr, streams.env, opts.colorFlag));
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
      streams.stderr.write(`${errColor.red('pcipt:')} ${error.message} ${errColor.dim(`[${error.code}]`)}\n`);
      if (opts.json) {
        const context = { ...error.context };
        delete context.usage;
        streams.stdout.write(
          `${JSON.stringify({ error: { code: error.code, message: error.message, context } }, traceJsonReplacer, 2)}\n`,
        );
      }
    },
  };
}
