/**
 * Linux errno → PassthroughError mapping for the VFIO backend. Pure (no koffi).
 * Every failed libc call becomes a PassthroughError whose context carries the
 * call (`syscall`), the OS errno (`osErrno`, `osErrnoName`) and, where the
 * seed defines one, the QEMU-style `errno` name.
 */
import { type ErrorCode, type ErrorContext, type Errno, PassthroughError } from '../errors.js';

/** The Linux errno values the backend meets, by name. */
export const LinuxErrno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ENOTTY: 25,
  ERANGE: 34,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
} as const;

const NAMES = new Map<number, string>(Object.entries(LinuxErrno).map(([k, v]) => [v, k]));

/** Symbolic name of an errno (`E…`), or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}

/** The pcipt error code for an OS errno. */
export function codeForErrno(errno: number): ErrorCode {
  switch (errno) {
    case LinuxErrno.EPERM:
    case LinuxErrno.EACCES:
      return 'PT_ERR_PERMISSION';
    case LinuxErrno.ENOENT:
    case LinuxErrno.ENXIO:
      return 'PT_ERR_NOT_FOUND';
    case LinuxErrno.ENODEV:
      return 'PT_ERR_DEVICE_GONE';
    case LinuxErrno.EBUSY:
      return 'PT_ERR_DUPLICATE_OWNER';
    case LinuxErrno.EEXIST:
      return 'PT_ERR_STILL_OPEN';
    case LinuxErrno.ENOMEM:
      return 'PT_ERR_NO_MEMORY';
    case LinuxErrno.ENOSPC:
      return 'PT_ERR_NO_SPACE';
    case LinuxErrno.EINVAL:
    case LinuxErrno.ERANGE:
    case LinuxErrno.EFAULT:
      return 'PT_ERR_INVALID_ARGUMENT';
    case LinuxErrno.ENOTTY:
    case LinuxErrno.ENOSYS:
    case LinuxErrno.EOPNOTSUPP:
      return 'PT_ERR_NOT_SUPPORTED';
    default:
      return 'PT_ERR_IO';
  }
}

/** The QEMU-style `-errno` name an io-op would return, when the seed's Errno type has it. */
export function qemuErrno(errno: number): Errno | undefined {
  switch (errno) {
    case LinuxErrno.EINVAL:
      return 'EINVAL';
    case LinuxErrno.ENODEV:
      return 'ENODEV';
    case LinuxErrno.EIO:
      return 'EIO';
    case LinuxErrno.EOPNOTSUPP:
      return 'ENOTSUP';
    case LinuxErrno.ENOTTY:
      return 'ENOTTY';
    case LinuxErrno.EBUSY:
      return 'EBUSY';
    case LinuxErrno.ENOMEM:
      return 'ENOMEM';
    case LinuxErrno.EPERM:
    case LinuxErrno.EACCES:
      return 'EPERM';
    case LinuxErrno.ENOENT:
      return 'ENOENT';
    default:
      return undefined;
  }
}

/**
 * Builds the error for a failed libc call.
 * @param syscall what failed, e.g. `ioctl(VFIO_IOMMU_MAP_DMA)`
 * @param errno the OS errno
 * @param hint what the caller should do (appended to the message)
 */
export function errnoError(syscall: string, errno: number, context: ErrorContext = {}, hint?: string): PassthroughError {
  const code = codeForErrno(errno);
  const q = qemuErrno(errno);
  const ctx: ErrorContext = { ...context, syscall, osErrno: errno, osErrnoName: errnoName(errno) };
  if (q !== undefined) ctx.errno = q;
  const where = context.bdf === undefined ? '' : ` for ${context.bdf}`;
  const message = `${syscall} failed${where}: ${errnoName(errno)}${hint === undefined ? '' : `; ${hint}`}`;
  return new PassthroughError(code, message, ctx);
}
