/**
 * Reading a machine or dump file that a user names: only a regular file, of
 * bounded size, within a deadline, with a typed error for every refusal.
 *
 * - The file is opened with O_NONBLOCK, so opening a FIFO with no writer
 *   returns at once instead of blocking the thread (a plain open() would wait
 *   for a writer forever), and the descriptor is checked with fstat BEFORE
 *   anything is read: a FIFO, a socket, a character device (`/dev/zero`,
 *   `/dev/stdin`) or a directory is refused with PT_ERR_INVALID_ARGUMENT.
 * - A file larger than `maxBytes` is refused from its fstat size, and at most
 *   `maxBytes + 1` bytes are ever read (a file that grows, or a /proc file
 *   that reports size 0, is still bounded).
 * - The read goes in chunks and gives up with PT_ERR_TIMEOUT once `timeoutMs`
 *   has passed between chunks. One read(2) of a regular file cannot be
 *   interrupted from JavaScript; a stalled network file system is what this
 *   bound is for, and it holds between chunks.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { PassthroughError } from '../errors.js';

/** Limits of {@link readBoundedTextFile}. */
interface BoundedReadLimits {
  /** What the file is, for messages (`sim machine`, `replay dump`). */
  what: string;
  /** Largest accepted size in bytes. */
  maxBytes: number;
  /** Deadline of the whole read in ms. */
  timeoutMs: number;
}

const CHUNK_BYTES = 64 * 1024;

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * Reads `path` as UTF-8 under `limits`. Throws PT_ERR_NOT_FOUND (no such
 * file), PT_ERR_INVALID_ARGUMENT (not a regular file, or too large: context
 * `path`, `fileType` or `sizeBytes`/`maxBytes`), PT_ERR_TIMEOUT (the read
 * outlived `timeoutMs`), PT_ERR_IO (any other failure, errno in the cause).
 */
export function readBoundedTextFile(path: string, limits: BoundedReadLimits): string {
  const { what, maxBytes, timeoutMs } = limits;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer. (0 where the platform has no such flag.)
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'PT_ERR_NOT_FOUND' : 'PT_ERR_IO';
    throw new PassthroughError(code, `cannot read ${what} ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${what} ${path} is ${kindOf(st)}: give a regular file`, {
        path,
        fileType: kindOf(st),
      });
    }
    const tooBig = (sizeBytes: number) =>
      new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${what} ${path} is larger than ${maxBytes} bytes`, { path, sizeBytes, maxBytes });
    if (st.size > maxBytes) throw tooBig(st.size);
    const deadline = performance.now() + timeoutMs;
    let buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, CHUNK_BYTES)));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        // Grown since fstat (or a size-0 /proc file): grow the buffer, never past maxBytes + 1.
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      let n: number;
      try {
        n = readSync(fd, buf, used, Math.min(CHUNK_BYTES, buf.length - used), null);
      } catch (e) {
        throw new PassthroughError('PT_ERR_IO', `cannot read ${what} ${path}: ${(e as Error).message}`, { path }, { cause: e });
      }
      if (n === 0) break;
      used += n;
      if (used > maxBytes) throw tooBig(used);
      if (performance.now() >= deadline) {
        throw new PassthroughError('PT_ERR_TIMEOUT', `reading ${what} ${path} took longer than ${timeoutMs} ms`, { path, timeoutMs, readBytes: used });
      }
    }
    return buf.toString('utf8', 0, used);
  } finally {
    closeSync(fd);
  }
}
