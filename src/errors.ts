/**
 * The one error class of pcipt and its closed, sorted list of codes.
 *
 * Every failure a caller can see is a {@link PassthroughError} with a stable
 * `code` and a context record (bdf, selector, IOReturn, region, offset, ...).
 * Errors cross threads as plain data ({@link PassthroughError.toJSON} /
 * {@link PassthroughError.fromJSON}) so the code and context survive.
 *
 * Outer messages are short and do not repeat the cause; context is prepended
 * layer by layer with {@link PassthroughError.prepend} (QEMU's error_prepend).
 */

/**
 * Every error code, in alphabetical order (a unit test checks the order).
 * Add a new code in its sorted place and document it in README.md.
 */
export const ERROR_CODES = [
  'PT_ERR_ALIGNMENT',
  'PT_ERR_BAD_ARGUMENT',
  'PT_ERR_BAD_WIDTH',
  'PT_ERR_BAR_RELEASED',
  'PT_ERR_CANCELLED',
  'PT_ERR_CLAIM_FAILED',
  'PT_ERR_CLOSED',
  'PT_ERR_CONNECT_FAILED',
  'PT_ERR_DEADLINE',
  'PT_ERR_DEVICE_GONE',
  'PT_ERR_DUPLICATE_OWNER',
  'PT_ERR_GROUP_NOT_VIABLE',
  'PT_ERR_INTERNAL',
  'PT_ERR_INVALID_ARGUMENT',
  'PT_ERR_INVALID_BDF',
  'PT_ERR_INVALID_STATE',
  'PT_ERR_IO',
  'PT_ERR_IRQ_SETUP',
  'PT_ERR_KERN_RETURN',
  'PT_ERR_NOT_ALIGNED',
  'PT_ERR_NOT_ATTACHED',
  'PT_ERR_NOT_BOUND',
  'PT_ERR_NOT_FOUND',
  'PT_ERR_NOT_OPEN',
  'PT_ERR_NOT_READY',
  'PT_ERR_NOT_SUPPORTED',
  'PT_ERR_NO_CONNECTION',
  'PT_ERR_NO_MEMORY',
  'PT_ERR_NO_SPACE',
  'PT_ERR_OUT_OF_RANGE',
  'PT_ERR_OVERRUN',
  'PT_ERR_PERMISSION',
  'PT_ERR_PLATFORM',
  'PT_ERR_RESTART_LIMIT',
  'PT_ERR_STILL_OPEN',
  'PT_ERR_TIMEOUT',
  'PT_ERR_UNSUPPORTED',
  'PT_ERR_VFIO_UNAVAILABLE',
  'PT_ERR_WORKER_EXITED',
] as const;

/** A pcipt error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The POSIX errno a VFIO io-op would have returned (QEMU's `-errno`), kept so
 * callers that mirror QEMU can map back. Only the values the seed uses.
 */
export type Errno = 'EINVAL' | 'ENODEV' | 'EIO' | 'ENOTSUP' | 'ENOTTY' | 'EBUSY' | 'ENOMEM' | 'EPERM' | 'ENOENT';

/** Context carried by an error. Every field is optional; units are in the names. */
export interface ErrorContext {
  /** Host function, `DDDD:BB:SS.F`. */
  bdf?: string;
  /** Dext selector number (0–17). */
  selector?: number;
  /** Dext selector name, e.g. `RegisterDMARegion`. */
  selectorName?: string;
  /** The IOReturn / kern_return_t the dext answered, as an unsigned 32-bit number. */
  kernReturn?: number;
  /** VFIO region index or BAR number. */
  region?: number;
  /** Byte offset of the access. */
  offsetBytes?: number;
  /** Access width in bytes. */
  width?: number;
  /** Size in bytes of the object involved. */
  sizeBytes?: number;
  /** IOVA / bus address involved (bigint, serialised as a hex string). */
  iova?: bigint;
  /** The errno a QEMU io-op would have returned. */
  errno?: Errno;
  /** Device id given by the supervisor. */
  deviceId?: string;
  /** Anything else worth reporting; must be structured-cloneable. */
  [key: string]: unknown;
}

const kBrand = Symbol.for('pcipt.PassthroughError');

/** Plain-data form of a {@link PassthroughError}, safe to post between threads. */
export interface SerializedError {
  readonly [kSerializedTag]: true;
  name: 'PassthroughError';
  code: ErrorCode;
  message: string;
  context: Record<string, unknown>;
  stack?: string;
  cause?: SerializedError | { name: string; message: string; stack?: string };
}
const kSerializedTag = '__pciptError' as const;

/** The error every pcipt API throws. */
export class PassthroughError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Where it happened. */
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PassthroughError';
    this.code = code;
    this.context = context;
  }

  /** The IOReturn, when the dext produced this error. */
  get kernReturn(): number | undefined {
    return this.context.kernReturn;
  }

  /** The errno a QEMU io-op would have returned, if the seed defines one. */
  get errno(): Errno | undefined {
    return this.context.errno;
  }

  /** Works across duplicate copies of the package and across threads after {@link fromJSON}. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
  }

  /** True when `value` is a PassthroughError, optionally with the given code. */
  static is(value: unknown, code?: ErrorCode): value is PassthroughError {
    return value instanceof PassthroughError && (code === undefined || value.code === code);
  }

  /** A new error with `prefix: ` prepended to the message and extra context merged (QEMU error_prepend). */
  prepend(prefix: string, context: ErrorContext = {}): PassthroughError {
    const e = new PassthroughError(this.code, `${prefix}: ${this.message}`, { ...this.context, ...context }, {
      cause: this.cause,
    });
    e.stack = this.stack;
    return e;
  }

  /** Plain data for postMessage / JSON. bigint context values become `0x…` strings. */
  toJSON(): SerializedError {
    const context: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.context)) {
      context[k] = typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
    }
    const out: SerializedError = {
      [kSerializedTag]: true,
      name: 'PassthroughError',
      code: this.code,
      message: this.message,
      context,
      stack: this.stack,
    };
    if (this.cause !== undefined) out.cause = serializeCause(this.cause);
    return out;
  }

  /** Rebuilds an error from {@link toJSON} output. */
  static fromJSON(data: SerializedError): PassthroughError {
    const context: ErrorContext = { ...data.context };
    if (typeof context.iova === 'string') context.iova = BigInt(context.iova as string);
    const cause = data.cause === undefined ? undefined : deserializeCause(data.cause);
    const e = new PassthroughError(data.code, data.message, context, { cause });
    if (data.stack !== undefined) e.stack = data.stack;
    return e;
  }

  /** True when `value` looks like {@link toJSON} output. */
  static isSerialized(value: unknown): value is SerializedError {
    return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[kSerializedTag] === true;
  }
}
Object.defineProperty(PassthroughError.prototype, kBrand, { value: true });

function serializeCause(cause: unknown): SerializedError['cause'] {
  if (cause instanceof PassthroughError) return cause.toJSON();
  if (cause instanceof Error) return { name: cause.name, message: cause.message, stack: cause.stack };
  return { name: 'Error', message: String(cause) };
}

function deserializeCause(cause: NonNullable<SerializedError['cause']>): unknown {
  if (PassthroughError.isSerialized(cause)) return PassthroughError.fromJSON(cause);
  const e = new Error(cause.message);
  e.name = cause.name;
  if (cause.stack !== undefined) e.stack = cause.stack;
  return e;
}

/** Wraps any thrown value: a PassthroughError passes through, anything else becomes PT_ERR_INTERNAL. */
export function toPassthroughError(value: unknown, context: ErrorContext = {}): PassthroughError {
  if (value instanceof PassthroughError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new PassthroughError('PT_ERR_INTERNAL', message, context, { cause: value });
}

/**
 * A bad argument as it goes into an error's context: numbers, strings,
 * booleans, null and undefined as they are; objects as their tag
 * (`[object Object]`); bigint, Symbol and functions as text (they do not
 * survive structuredClone or JSON).
 */
export function argumentValue(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean' || value === null || value === undefined) return value;
  if (typeof value === 'object') return Object.prototype.toString.call(value);
  return String(value);
}

/** PT_ERR_INVALID_ARGUMENT naming the parameter and its value (context `{ param, value, ...extra }`). */
export function invalidArgument(param: string, value: unknown, message: string, extra: ErrorContext = {}): PassthroughError {
  return new PassthroughError('PT_ERR_INVALID_ARGUMENT', message, { ...extra, param, value: argumentValue(value) });
}
