/**
 * The CLI's exit codes: the one table every command follows, and how an
 * error maps to a code. README.md's exit-code table is rendered from
 * {@link EXIT_CODE_TABLE} (test/cli/exit-codes.test.ts keeps them equal), and
 * `pcipt --help` prints it too. Scripts rely on these numbers: a code never
 * changes meaning once released; new meanings get new numbers.
 */
import { PassthroughError, type ErrorCode } from '../errors.js';

/** Process exit codes of `pcipt`. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** A runtime error: any PassthroughError not listed under another code. */
  RUNTIME: 1,
  /** Usage error: unknown command or option, bad option value or environment default, invalid BDF or machine file. */
  USAGE: 2,
  /** Not found: no such function, device, file or mapping. */
  NOT_FOUND: 3,
  /** The backend is not available on this platform, or not ready. */
  UNAVAILABLE: 4,
  /** Permission denied (EACCES, EPERM, kIOReturnNotPermitted). */
  PERMISSION: 5,
  /** The function is not handed to pcipt: held by another owner, not bound to vfio-pci, or its IOMMU group is not viable. */
  IN_USE: 6,
  /** `bench --strict`: a target ratio was missed (the run itself succeeded). */
  TARGET_MISSED: 7,
} as const;
/** One exit code. */
export type ExitCodeNumber = (typeof ExitCode)[keyof typeof ExitCode];

/** One row of the exit-code table. */
export interface ExitCodeRow {
  code: ExitCodeNumber;
  /** What the code means, one sentence (Markdown backticks allowed). */
  meaning: string;
  /** The error codes that map to it (empty for codes that are not error mappings). */
  errors: readonly ErrorCode[];
  /** Error codes that map to it only in some cases, and when. */
  alsoWhen?: string;
}

/** Error codes for "no such thing" (exit 3). */
const NOT_FOUND_CODES: readonly ErrorCode[] = ['PT_ERR_CONNECT_FAILED', 'PT_ERR_NOT_FOUND'];
/** Error codes for "the backend cannot be used here or now" (exit 4). */
const UNAVAILABLE_CODES: readonly ErrorCode[] = ['PT_ERR_PLATFORM', 'PT_ERR_VFIO_UNAVAILABLE'];
/** Error codes for "the function is not ours to take" (exit 6). */
const IN_USE_CODES: readonly ErrorCode[] = [
  'PT_ERR_CLAIM_FAILED',
  'PT_ERR_DUPLICATE_OWNER',
  'PT_ERR_GROUP_NOT_VIABLE',
  'PT_ERR_NOT_BOUND',
];

/** The exit-code table, in code order. The single source for README.md and `--help`. */
export const EXIT_CODE_TABLE: readonly ExitCodeRow[] = [
  { code: ExitCode.OK, meaning: 'success', errors: [] },
  {
    code: ExitCode.RUNTIME,
    meaning: 'runtime error: any other `PassthroughError`, printed as `pcipt: <message> [<code>]` on stderr (`demo`: a device failed to attach)',
    errors: [],
  },
  {
    code: ExitCode.USAGE,
    meaning:
      'usage error: unknown command or option, bad option value or environment default (`PCIPT_BACKEND`, `PCIPT_MACHINE`, `--color=`), invalid BDF or machine file',
    errors: ['PT_ERR_INVALID_BDF'],
    alsoWhen: '`PT_ERR_INVALID_ARGUMENT` when the command line caused it',
  },
  { code: ExitCode.NOT_FOUND, meaning: 'not found: no such function, device or file, or an optional package is missing', errors: NOT_FOUND_CODES },
  {
    code: ExitCode.UNAVAILABLE,
    meaning: 'the backend is not available on this platform, or not ready (`driver-status` when not ready)',
    errors: UNAVAILABLE_CODES,
  },
  { code: ExitCode.PERMISSION, meaning: 'permission denied (EACCES, EPERM, kIOReturnNotPermitted)', errors: ['PT_ERR_PERMISSION'] },
  {
    code: ExitCode.IN_USE,
    meaning: "the function is not pcipt's to take: another owner holds it, it is not bound to vfio-pci, or its IOMMU group is not viable",
    errors: IN_USE_CODES,
  },
  { code: ExitCode.TARGET_MISSED, meaning: '`bench --strict`: a target ratio was missed', errors: [] },
];

const BY_ERROR: ReadonlyMap<ErrorCode, ExitCodeNumber> = new Map(
  EXIT_CODE_TABLE.flatMap((row) => row.errors.map((e) => [e, row.code] as const)),
);

/**
 * A usage error raised by the CLI's own argument checks (bad `--size`,
 * unknown topic, a bad environment default): PT_ERR_INVALID_ARGUMENT marked
 * `usage: true`, so it maps to exit 2 while the same code from a library
 * call maps to 1.
 */
export function usageError(message: string, context: Record<string, unknown> = {}): PassthroughError {
  return new PassthroughError('PT_ERR_INVALID_ARGUMENT', message, { ...context, usage: true });
}

/** Marks an error the command line caused (a bad `--machine` file, say) as a usage error, keeping its code. */
export function asUsageError(error: PassthroughError): PassthroughError {
  return new PassthroughError(error.code, error.message, { ...error.context, usage: true }, { cause: error.cause });
}

/** The exit code for an error (see {@link EXIT_CODE_TABLE}). */
export function exitCodeFor(error: PassthroughError): ExitCodeNumber {
  if (error.context.usage === true) return ExitCode.USAGE;
  return BY_ERROR.get(error.code) ?? ExitCode.RUNTIME;
}

/** The error-code cell of a row (Markdown). */
function errorsCell(row: ExitCodeRow): string {
  const codes = row.errors.map((e) => `\`${e}\``).join(', ');
  return [codes, row.alsoWhen ?? ''].filter((x) => x !== '').join('; ');
}

/** The table as Markdown (README.md, "Exit codes"). */
export function exitCodeMarkdown(): string {
  const rows = EXIT_CODE_TABLE.map((row) => `| ${row.code} | ${row.meaning} | ${errorsCell(row)} |`);
  return ['| code | meaning | error codes |', '|---|---|---|', ...rows].join('\n');
}

/** Splits `text` into lines of at most `width` columns (at spaces). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** The table as plain text for `--help` (no Markdown backticks), wrapped at 100 columns. */
export function exitCodeHelpText(): string {
  const lines = EXIT_CODE_TABLE.flatMap((row) => {
    const errors = errorsCell(row).replaceAll('`', '');
    const text = `${row.meaning.replaceAll('`', '')}${errors === '' ? '' : ` [${errors}]`}`;
    return wrap(text, 94).map((l, i) => `${i === 0 ? `  ${String(row.code).padStart(2)}  ` : '      '}${l}`);
  });
  return ['Exit codes:', ...lines].join('\n');
}
