/**
 * libc through koffi, loaded lazily on first use so that importing the linux
 * backend on a machine without VFIO (or without koffi's native package) never
 * fails. Only the calls the VFIO backend needs: open, close, ioctl, mmap,
 * munmap, eventfd, fcntl, poll, read, write, pread, pwrite.
 *
 * Every function returns the raw libc result; callers read `errno()` right
 * after a failure (koffi saves errno per call on the calling thread).
 */
import { createRequire } from 'node:module';
import { PassthroughError } from '../errors.js';

/** The koffi module as far as this backend uses it. */
export interface KoffiLike {
  load(path: string): { func(decl: string): KoffiFn };
  view(ptr: unknown, lengthBytes: number): ArrayBuffer;
  address(value: unknown): bigint;
  errno(): number;
}
/** A koffi function (sync call plus `.async`). */
export type KoffiFn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

/** The bound libc calls. Buffers are passed as Uint8Array (koffi passes their data pointer). */
export interface LibcBindings {
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** ioctl with a pointer argument (a struct packed in `arg`; the kernel may write it back). */
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl with an integer argument (CHECK_EXTENSION, SET_IOMMU) or none. */
  ioctlInt(fd: number, request: number, arg: number): number;
  /** ioctl with a C string argument (GROUP_GET_DEVICE_FD). */
  ioctlStr(fd: number, request: number, arg: string): number;
  /** Returns the mapping address, or {@link Libc.MAP_FAILED}. */
  mmap(lengthBytes: number, prot: number, flags: number, fd: number, offset: bigint): bigint;
  munmap(address: bigint, lengthBytes: number): number;
  eventfd(initval: number, flags: number): number;
  /** fcntl with an integer argument (F_GETFL, F_SETFL). */
  fcntlInt(fd: number, cmd: number, arg: number): number;
  /** `fds` is an array of struct pollfd (see packPollfds); revents are written back into it. */
  poll(fds: Uint8Array, count: number, timeoutMs: number): number;
  /** poll() on koffi's async worker; `done(result)` runs on this thread's event loop. */
  pollAsync(fds: Uint8Array, count: number, timeoutMs: number, done: (err: unknown, result: number) => void): void;
  read(fd: number, buf: Uint8Array, lengthBytes: number): number;
  write(fd: number, buf: Uint8Array, lengthBytes: number): number;
  pread(fd: number, buf: Uint8Array, lengthBytes: number, offset: bigint): number;
  pwrite(fd: number, buf: Uint8Array, lengthBytes: number, offset: bigint): number;
  /** io_uring_setup(2): returns the ring fd or -1. `params` is a 120-byte struct io_uring_params. */
  ioUringSetup(entries: number, params: Uint8Array): number;
  /** io_uring_enter(2) without a signal mask. */
  ioUringEnter(fd: number, toSubmit: number, minComplete: number, flags: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
  /** Zero-copy ArrayBuffer over native memory. */
  view(address: bigint, lengthBytes: number): ArrayBuffer;
  /** Native address of a typed array's first byte (SharedArrayBuffer stores never move). */
  address(view: ArrayBufferView): bigint;
}

let koffiModule: KoffiLike | undefined;
let bindings: LibcBindings | undefined;

/**
 * The koffi module, loaded on first call. Throws PT_ERR_VFIO_UNAVAILABLE when
 * koffi (or its prebuilt native package) cannot be loaded.
 */
export function loadKoffi(): KoffiLike {
  if (koffiModule !== undefined) return koffiModule;
  try {
    const require = createRequire(import.meta.url);
    koffiModule = require('koffi') as KoffiLike;
  } catch (cause) {
    throw new PassthroughError(
      'PT_ERR_VFIO_UNAVAILABLE',
      'the linux backend needs koffi, which failed to load; run "npm install" on this platform',
      {},
      { cause },
    );
  }
  return koffiModule;
}

/** The libc bindings, bound on first call (throws like {@link loadKoffi}, or PT_ERR_PLATFORM off Linux). */
export function libc(): LibcBindings {
  if (bindings !== undefined) return bindings;
  if (process.platform !== 'linux') {
    throw new PassthroughError('PT_ERR_PLATFORM', `the linux VFIO backend runs on Linux only (this is ${process.platform})`);
  }
  const koffi = loadKoffi();
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags)');
  const close = lib.func('int close(int fd)');
  // ioctl is variadic in libc: declare it so and give the argument type per call.
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const mmap = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t offset)');
  const munmap = lib.func('int munmap(void *addr, size_t len)');
  const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
  // fcntl is variadic in libc, like ioctl.
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)');
  // read/write are on the interrupt hot path: declared with an int result (the low half of the
  // ssize_t in the return register; every count passed here is far below 2^31) so koffi never
  // builds a 64-bit value.
  const read = lib.func('int read(int fd, void *buf, size_t count)');
  const write = lib.func('int write(int fd, const void *buf, size_t count)');
  const pread = lib.func('long pread(int fd, void *buf, size_t count, int64_t offset)');
  const pwrite = lib.func('long pwrite(int fd, const void *buf, size_t count, int64_t offset)');
  // io_uring has no libc wrapper: syscall(2) is variadic; argument types are given per call.
  const syscall = lib.func('long syscall(long number, ...)');
  const SYS_IO_URING_SETUP = 425; // same number on x86-64 and arm64 (asm-generic)
  const SYS_IO_URING_ENTER = 426;
  const addressOf = (p: unknown): bigint => (p === null ? 0n : typeof p === 'bigint' ? p : koffi.address(p));
  bindings = {
    open: (path, flags) => open(path, flags) as number,
    close: (fd) => close(fd) as number,
    // SAFETY: `arg` is a live Uint8Array at least as large as the struct's argsz; the kernel
    // writes back at most argsz bytes.
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, 'void *', arg) as number,
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'unsigned long', arg) as number,
    ioctlStr: (fd, request, arg) => ioctl(fd, request, 'const char *', arg) as number,
    // SAFETY: addr NULL lets the kernel choose; the result is checked against MAP_FAILED by callers.
    mmap: (len, prot, flags, fd, offset) => addressOf(mmap(null, len, prot, flags, fd, offset)),
    // SAFETY: callers pass only addresses/lengths they got from mmap and drop every view first.
    munmap: (address, len) => munmap(address, len) as number,
    eventfd: (initval, flags) => eventfd(initval, flags) as number,
    fcntlInt: (fd, cmd, arg) => fcntl(fd, cmd, 'int', arg) as number,
    // SAFETY: `fds` holds `count` struct pollfd (8 bytes each) and outlives the call.
    poll: (fds, count, timeoutMs) => poll(fds, count, timeoutMs) as number,
    pollAsync: (fds, count, timeoutMs, done) => poll.async(fds, count, timeoutMs, done),
    // SAFETY (read/write/pread/pwrite): `buf` is a live Uint8Array of at least `count` bytes.
    read: (fd, buf, n) => read(fd, buf, n) as number,
    write: (fd, buf, n) => write(fd, buf, n) as number,
    pread: (fd, buf, n, offset) => Number(pread(fd, buf, n, offset)),
    pwrite: (fd, buf, n, offset) => Number(pwrite(fd, buf, n, offset)),
    // SAFETY: params is a live 120-byte buffer the kernel fills in.
    ioUringSetup: (entries, params) => Number(syscall(SYS_IO_URING_SETUP, 'uint32_t', entries, 'void *', params)),
    ioUringEnter: (fd, toSubmit, minComplete, flags) =>
      Number(syscall(SYS_IO_URING_ENTER, 'int', fd, 'uint32_t', toSubmit, 'uint32_t', minComplete, 'uint32_t', flags, 'void *', null, 'size_t', 0)),
    errno: () => koffi.errno(),
    // SAFETY: callers only view ranges they mapped (mmap) or own (SharedArrayBuffer stores).
    view: (address, lengthBytes) => koffi.view(address, lengthBytes),
    address: (v) => koffi.address(v),
  };
  return bindings;
}
