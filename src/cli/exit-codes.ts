/**
 * The CLI's exit codes and how an error maps to one. Documented in
 * README.md, "Command line"; scripts rely on them, so they never change meaning.
 */
import { PassthroughError, type ErrorCode } from '../errors.js';

/** Process exit codes of `pcipt`. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** A runtime error (a PassthroughError other than the ones below). */
  RUNTIME: 1,
  /** Usage error: unknown command or option, bad option value, invalid BDF. */
  USAGE: 2,
  /** The backend is not available on this platform, or not ready (driver-status not ready). */
  UNAVAILABLE: 3,
} as const;
/** One exit code. */
export type ExitCodeNumber = (typeof ExitCode)[keyof typeof ExitCode];

/** Codes that mean "the backend cannot be used here/now" (exit 3). */
const UNAVAILABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PT_ERR_PLATFORM',
  'PT_ERR_VFIO_UNAVAILABLE',
]);

/** Codes that mean "the command line was wrong" (exit 2). */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['PT_ERR_INVALID_BDF']);

/**
 * A usage error raised by the CLI's own argument checks (bad `--size`,
 * unknown suite): PT_ERR_INVALID_ARGUMENT marked `usage: true`, so it maps to
 * exit 2 while the same code from a library call maps to 1.
 */
export function usageError(message: string, context: Record<string, unknown> = {}): PassthroughError {
  return new PassthroughError('PT_ERR_INVALID_ARGUMENT', message, { ...context, usage: true });
}

/** The exit code for an error (see {@link ExitCode}). */
export function exitCodeFor(error: PassthroughError): ExitCodeNumber {
  if (error.context.usage === true || USAGE_CODES.has(error.code)) return ExitCode.USAGE;
  if (UNAVAILABLE_CODES.has(error.code)) return ExitCode.UNAVAILABLE;
  return ExitCode.RUNTIME;
}
