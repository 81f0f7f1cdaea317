/**
 * IOKit, CoreFoundation and libSystem (mach) through koffi: the one file
 * that imports koffi for the dext backend. Nothing is loaded at import time;
 * {@link loadIokitBindings} requires koffi and opens the libraries on first
 * use, so importing the backend on Linux costs nothing.
 *
 * Every prototype is the real macOS declaration (IOKitLib.h, CFString.h,
 * mach/message.h). Tests bind the same prototypes to a C stand-in
 * (test/iokit/standin) that checks every pointer, count and size it is
 * given, so a wrong declaration here fails a test on Linux.
 *
 * `mach_task_self()` is a macro over the exported variable `mach_task_self_`
 * (mach/mach_init.h); koffi cannot call a macro, so the variable is read with
 * `lib.symbol` + `koffi.decode` (the stand-in exports the same variable).
 *
 * Handle types: mach ports / io_object_t / io_connect_t are `uint32_t`
 * numbers; CF objects and IONotificationPortRef are native pointers
 * (`bigint`, 0n for NULL).
 */
import { createRequire } from 'node:module';
import { PassthroughError } from '../errors.js';

/** Paths of the three libraries the backend binds. */
export interface IokitLibraryPaths {
  /** IOKit.framework (or the stand-in). */
  iokit: string;
  /** CoreFoundation.framework (or the stand-in). */
  coreFoundation: string;
  /** libSystem (mach_msg, mach_task_self_; or the stand-in). */
  system: string;
}

/**
 * The macOS paths. The frameworks live in the dyld shared cache: the files do
 * not exist on disk and must not be checked with fs.existsSync (eco §2.3).
 */
export const MACOS_LIBRARY_PATHS: Readonly<IokitLibraryPaths> = Object.freeze({
  iokit: '/System/Library/Frameworks/IOKit.framework/IOKit',
  coreFoundation: '/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation',
  system: '/usr/lib/libSystem.B.dylib',
});

/** `kCFStringEncodingUTF8`. */
export const kCFStringEncodingUTF8 = 0x08000100;
/** `kIOMainPortDefault` (`kIOMasterPortDefault`): MACH_PORT_NULL. */
export const kIOMainPortDefault = 0;

/** mach_msg options and return codes (mach/message.h). */
export const Mach = {
  SEND_MSG: 0x1,
  RCV_MSG: 0x2,
  SEND_TIMEOUT: 0x10,
  RCV_TIMEOUT: 0x100,
  MSG_SUCCESS: 0,
  SEND_INVALID_DEST: 0x10000003,
  SEND_TIMED_OUT: 0x10000004,
  RCV_INVALID_NAME: 0x10004002,
  RCV_TIMED_OUT: 0x10004003,
  RCV_TOO_LARGE: 0x10004004,
  RCV_INTERRUPTED: 0x10004005,
  MSG_TYPE_COPY_SEND: 19,
  MSG_TYPE_MAKE_SEND: 20,
  /** sizeof(mach_msg_header_t). */
  HEADER_BYTES: 24,
} as const;

/** The bound calls. Names and argument order are the C ones. */
export interface IokitBindings {
  readonly paths: Readonly<IokitLibraryPaths>;
  /** `mach_task_self()`: the value of `mach_task_self_`. */
  machTaskSelf(): number;
  IOServiceMatching(name: string): bigint;
  IOServiceGetMatchingServices(mainPort: number, matching: bigint, existing: Uint32Array): number;
  IOIteratorNext(iterator: number): number;
  IOObjectRelease(object: number): number;
  IORegistryEntryGetName(entry: number, name: Uint8Array): number;
  IORegistryEntryGetChildIterator(entry: number, plane: string, iterator: Uint32Array): number;
  IORegistryEntryGetParentEntry(entry: number, plane: string, parent: Uint32Array): number;
  IOObjectGetClass(object: number, className: Uint8Array): number;
  IORegistryEntryCreateCFProperty(entry: number, key: bigint, allocator: null, options: number): bigint;
  CFStringCreateWithCString(allocator: null, cStr: string, encoding: number): bigint;
  CFStringGetCString(str: bigint, buffer: Uint8Array, bufferSize: number, encoding: number): boolean;
  CFGetTypeID(cf: bigint): bigint;
  CFStringGetTypeID(): bigint;
  CFDataGetTypeID(): bigint;
  CFDataGetLength(data: bigint): number;
  CFDataGetBytePtr(data: bigint): bigint;
  CFRelease(cf: bigint): void;
  IOServiceOpen(service: number, owningTask: number, type: number, connect: Uint32Array): number;
  IOServiceClose(connect: number): number;
  IOConnectCallScalarMethod(
    connection: number,
    selector: number,
    input: BigUint64Array | null,
    inputCnt: number,
    output: BigUint64Array | null,
    outputCnt: Uint32Array | null,
  ): number;
  IOConnectCallMethod(
    connection: number,
    selector: number,
    input: BigUint64Array | null,
    inputCnt: number,
    inputStruct: null,
    inputStructCnt: number,
    output: BigUint64Array | null,
    outputCnt: Uint32Array | null,
    outputStruct: null,
    outputStructCnt: null,
  ): number;
  IOConnectCallAsyncMethod(
    connection: number,
    selector: number,
    wakePort: number,
    reference: BigUint64Array,
    referenceCnt: number,
    input: BigUint64Array | null,
    inputCnt: number,
    inputStruct: null,
    inputStructCnt: number,
    output: BigUint64Array | null,
    outputCnt: Uint32Array | null,
    outputStruct: null,
    outputStructCnt: null,
  ): number;
  IOConnectMapMemory64(
    connect: number,
    memoryType: number,
    intoTask: number,
    atAddress: BigUint64Array,
    ofSize: BigUint64Array,
    options: number,
  ): number;
  IOConnectUnmapMemory64(connect: number, memoryType: number, fromTask: number, atAddress: bigint): number;
  IONotificationPortCreate(mainPort: number): bigint;
  IONotificationPortDestroy(notify: bigint): void;
  IONotificationPortGetMachPort(notify: bigint): number;
  mach_msg(
    msg: Uint8Array,
    option: number,
    sendSize: number,
    rcvSize: number,
    rcvName: number,
    timeoutMs: number,
    notify: number,
  ): number;
  /** Zero-copy ArrayBuffer over native memory (koffi.view). */
  view(address: bigint, lengthBytes: number): ArrayBuffer;
  /** Reads `lengthBytes` at a native address into a fresh Uint8Array (a copy). */
  readBytes(address: bigint, lengthBytes: number): Uint8Array;
}

/** The koffi surface this file uses (typed loosely: koffi's own d.ts types calls as any). */
export interface KoffiModule {
  load(path: string): {
    func(decl: string): (...args: unknown[]) => unknown;
    symbol(name: string): unknown;
  };
  decode(ptr: unknown, type: string, len?: number): unknown;
  view(ptr: unknown, len: number): ArrayBuffer;
  address(value: unknown): bigint;
}

let koffiModule: KoffiModule | undefined;

/**
 * The koffi module, required on first call. Throws PT_ERR_NOT_SUPPORTED when
 * koffi or its prebuilt native package cannot be loaded on this platform.
 */
export function loadKoffiForIokit(): KoffiModule {
  if (koffiModule !== undefined) return koffiModule;
  try {
    koffiModule = createRequire(import.meta.url)('koffi') as KoffiModule;
  } catch (cause) {
    throw new PassthroughError(
      'PT_ERR_NOT_SUPPORTED',
      'the IOKit backend needs koffi, which failed to load; run "npm install" on this platform',
      {},
      { cause },
    );
  }
  return koffiModule;
}

const cache = new Map<string, IokitBindings>();

function ptr(value: unknown): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  throw new PassthroughError('PT_ERR_INTERNAL', `koffi returned a non-pointer value (${typeof value})`);
}

type KoffiLibrary = ReturnType<KoffiModule['load']>;

/** Opens a library. Throws PT_ERR_NOT_SUPPORTED (context: path) when it cannot be loaded. */
function openLibrary(koffi: KoffiModule, path: string): KoffiLibrary {
  try {
    return koffi.load(path);
  } catch (cause) {
    throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `cannot load ${path}`, { path }, { cause });
  }
}

/** Binds each C declaration (koffi syntax) of `lib`, keyed as given, in declaration order. */
function bindFunctions<K extends string>(lib: KoffiLibrary, declarations: Record<K, string>): Record<K, (...args: unknown[]) => unknown> {
  const out = {} as Record<K, (...args: unknown[]) => unknown>;
  for (const name of Object.keys(declarations) as K[]) out[name] = lib.func(declarations[name]);
  return out;
}

/**
 * Binds every prototype, once per set of paths per thread (each worker
 * thread loads its own copy: koffi handles are per isolate; dlopen returns
 * the same library, so native state is shared by the process).
 * Throws PT_ERR_NOT_SUPPORTED when a library cannot be opened.
 */
export function loadIokitBindings(paths: Readonly<IokitLibraryPaths> = MACOS_LIBRARY_PATHS): IokitBindings {
  const key = `${paths.iokit}\0${paths.coreFoundation}\0${paths.system}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const koffi = loadKoffiForIokit();
  const iokit = openLibrary(koffi, paths.iokit);
  const cf = paths.coreFoundation === paths.iokit ? iokit : openLibrary(koffi, paths.coreFoundation);
  const sys = paths.system === paths.iokit ? iokit : openLibrary(koffi, paths.system);

  // IOKitLib.h
  const io = bindFunctions(iokit, {
    IOServiceMatching: 'void *IOServiceMatching(const char *name)',
    IOServiceGetMatchingServices: 'int IOServiceGetMatchingServices(uint32_t mainPort, void *matching, _Out_ uint32_t *existing)',
    IOIteratorNext: 'uint32_t IOIteratorNext(uint32_t iterator)',
    IOObjectRelease: 'int IOObjectRelease(uint32_t object)',
    IORegistryEntryGetName: 'int IORegistryEntryGetName(uint32_t entry, _Out_ uint8_t *name)',
    IORegistryEntryGetChildIterator: 'int IORegistryEntryGetChildIterator(uint32_t entry, const char *plane, _Out_ uint32_t *iterator)',
    IORegistryEntryGetParentEntry: 'int IORegistryEntryGetParentEntry(uint32_t entry, const char *plane, _Out_ uint32_t *parent)',
    IOObjectGetClass: 'int IOObjectGetClass(uint32_t object, _Out_ uint8_t *className)',
    IORegistryEntryCreateCFProperty:
      'void *IORegistryEntryCreateCFProperty(uint32_t entry, void *key, void *allocator, uint32_t options)',
    IOServiceOpen: 'int IOServiceOpen(uint32_t service, uint32_t owningTask, uint32_t type, _Out_ uint32_t *connect)',
    IOServiceClose: 'int IOServiceClose(uint32_t connect)',
    IOConnectCallScalarMethod:
      'int IOConnectCallScalarMethod(uint32_t connection, uint32_t selector, const uint64_t *input, uint32_t inputCnt, ' +
      '_Inout_ uint64_t *output, _Inout_ uint32_t *outputCnt)',
    IOConnectCallMethod:
      'int IOConnectCallMethod(uint32_t connection, uint32_t selector, const uint64_t *input, uint32_t inputCnt, ' +
      'const void *inputStruct, size_t inputStructCnt, _Inout_ uint64_t *output, _Inout_ uint32_t *outputCnt, ' +
      'void *outputStruct, size_t *outputStructCnt)',
    IOConnectCallAsyncMethod:
      'int IOConnectCallAsyncMethod(uint32_t connection, uint32_t selector, uint32_t wake_port, ' +
      '_Inout_ uint64_t *reference, uint32_t referenceCnt, const uint64_t *input, uint32_t inputCnt, ' +
      'const void *inputStruct, size_t inputStructCnt, _Inout_ uint64_t *output, _Inout_ uint32_t *outputCnt, ' +
      'void *outputStruct, size_t *outputStructCnt)',
    IOConnectMapMemory64:
      'int IOConnectMapMemory64(uint32_t connect, uint32_t memoryType, uint32_t intoTask, ' +
      '_Inout_ uint64_t *atAddress, _Inout_ uint64_t *ofSize, uint32_t options)',
    IOConnectUnmapMemory64:
      'int IOConnectUnmapMemory64(uint32_t connect, uint32_t memoryType, uint32_t fromTask, uint64_t atAddress)',
    IONotificationPortCreate: 'void *IONotificationPortCreate(uint32_t mainPort)',
    IONotificationPortDestroy: 'void IONotificationPortDestroy(void *notify)',
    IONotificationPortGetMachPort: 'uint32_t IONotificationPortGetMachPort(void *notify)',
  });
  // CoreFoundation (CFIndex is `long`, 64-bit on macOS; Boolean is unsigned char).
  const cfFns = bindFunctions(cf, {
    CFStringCreateWithCString: 'void *CFStringCreateWithCString(void *alloc, const char *cStr, uint32_t encoding)',
    CFStringGetCString: 'uint8_t CFStringGetCString(void *theString, _Out_ uint8_t *buffer, long bufferSize, uint32_t encoding)',
    CFGetTypeID: 'unsigned long CFGetTypeID(void *cf)',
    CFStringGetTypeID: 'unsigned long CFStringGetTypeID()',
    CFDataGetTypeID: 'unsigned long CFDataGetTypeID()',
    CFDataGetLength: 'long CFDataGetLength(void *theData)',
    CFDataGetBytePtr: 'void *CFDataGetBytePtr(void *theData)',
    CFRelease: 'void CFRelease(void *cf)',
  });
  // libSystem: mach_msg(header, option, send_size, rcv_size, rcv_name, timeout, notify).
  const sysFns = bindFunctions(sys, {
    mach_msg:
      'int mach_msg(_Inout_ uint8_t *msg, int option, uint32_t send_size, uint32_t rcv_size, uint32_t rcv_name, ' +
      'uint32_t timeout, uint32_t notify)',
  });
  const taskSelfSymbol = sys.symbol('mach_task_self_');
  // SAFETY: mach_task_self_ is a process-lifetime global of libSystem (or the stand-in); read once.
  const taskSelf = Number(koffi.decode(taskSelfSymbol, 'uint32_t'));

  const u = (v: unknown) => Number(v) >>> 0;
  const b: IokitBindings = {
    paths: Object.freeze({ ...paths }),
    machTaskSelf: () => taskSelf,
    IOServiceMatching: (name) => ptr(io.IOServiceMatching(name)),
    // SAFETY: `existing` is a live Uint32Array(1) the call writes one io_iterator_t into.
    IOServiceGetMatchingServices: (main, matching, existing) => u(io.IOServiceGetMatchingServices(main, matching, existing)),
    IOIteratorNext: (it) => u(io.IOIteratorNext(it)),
    IOObjectRelease: (o) => u(io.IOObjectRelease(o)),
    // SAFETY: `name` is a live Uint8Array(128) (io_name_t); the call writes a NUL-terminated name.
    IORegistryEntryGetName: (e, name) => u(io.IORegistryEntryGetName(e, name)),
    // SAFETY: `iterator` is a live Uint32Array(1); `plane` is copied by koffi for the call.
    IORegistryEntryGetChildIterator: (e, plane, it) => u(io.IORegistryEntryGetChildIterator(e, plane, it)),
    // SAFETY: `parent` is a live Uint32Array(1); on success it holds a retained entry the caller releases.
    IORegistryEntryGetParentEntry: (e, plane, parent) => u(io.IORegistryEntryGetParentEntry(e, plane, parent)),
    // SAFETY: `className` is a live Uint8Array(128) (io_name_t); the call writes a NUL-terminated name.
    IOObjectGetClass: (o, name) => u(io.IOObjectGetClass(o, name)),
    // SAFETY: `key` is a CFString we own until we CFRelease it after this call; the result is
    // a new CF reference the caller owns and must CFRelease.
    IORegistryEntryCreateCFProperty: (e, key, alloc, options) => ptr(io.IORegistryEntryCreateCFProperty(e, key, alloc, options)),
    CFStringCreateWithCString: (alloc, s, enc) => ptr(cfFns.CFStringCreateWithCString(alloc, s, enc)),
    // SAFETY: `buffer` is a live Uint8Array of `bufferSize` bytes.
    CFStringGetCString: (s, buf, size, enc) => Number(cfFns.CFStringGetCString(s, buf, size, enc)) !== 0,
    CFGetTypeID: (o) => BigInt(cfFns.CFGetTypeID(o) as number | bigint),
    CFStringGetTypeID: () => BigInt(cfFns.CFStringGetTypeID() as number | bigint),
    CFDataGetTypeID: () => BigInt(cfFns.CFDataGetTypeID() as number | bigint),
    CFDataGetLength: (d) => Number(cfFns.CFDataGetLength(d)),
    // SAFETY: the returned pointer lives as long as the CFData the caller still holds.
    CFDataGetBytePtr: (d) => ptr(cfFns.CFDataGetBytePtr(d)),
    // SAFETY: callers release only references they own, exactly once.
    CFRelease: (o) => void cfFns.CFRelease(o),
    // SAFETY: `connect` is a live Uint32Array(1) the call writes the io_connect_t into.
    IOServiceOpen: (svc, task, type, connect) => u(io.IOServiceOpen(svc, task, type, connect)),
    IOServiceClose: (c) => u(io.IOServiceClose(c)),
    // SAFETY (the three call methods): `input` holds `inputCnt` u64 and `output` holds
    // `outputCnt[0]` u64; both are live typed arrays owned by the caller for the duration of
    // the synchronous call; the kernel (stand-in) writes outputs and the count back in place.
    IOConnectCallScalarMethod: (c, sel, input, inCnt, output, outCnt) =>
      u(io.IOConnectCallScalarMethod(c, sel, input, inCnt, output, outCnt)),
    IOConnectCallMethod: (c, sel, input, inCnt, inS, inSC, output, outCnt, outS, outSC) =>
      u(io.IOConnectCallMethod(c, sel, input, inCnt, inS, inSC, output, outCnt, outS, outSC)),
    // SAFETY: `reference` (asyncRef, up to 8 u64) is copied by IOKit during the call; nothing
    // is kept pointing at JS memory afterwards (the completion arrives as a mach message).
    IOConnectCallAsyncMethod: (c, sel, port, ref, refCnt, input, inCnt, inS, inSC, output, outCnt, outS, outSC) =>
      u(io.IOConnectCallAsyncMethod(c, sel, port, ref, refCnt, input, inCnt, inS, inSC, output, outCnt, outS, outSC)),
    // SAFETY: `atAddress`/`ofSize` are live BigUint64Array(1) outs. The mapping itself is owned
    // by the connection until IOConnectUnmapMemory64 or IOServiceClose.
    IOConnectMapMemory64: (c, type, task, addr, size, options) =>
      u(io.IOConnectMapMemory64(c, type, task, addr, size, options)),
    // SAFETY: callers unmap only an address this connection mapped, after dropping every view.
    IOConnectUnmapMemory64: (c, type, task, addr) => u(io.IOConnectUnmapMemory64(c, type, task, addr)),
    IONotificationPortCreate: (main) => ptr(io.IONotificationPortCreate(main)),
    // SAFETY: destroys a port this module created; nobody may be receiving on it any more.
    IONotificationPortDestroy: (n) => void io.IONotificationPortDestroy(n),
    IONotificationPortGetMachPort: (n) => u(io.IONotificationPortGetMachPort(n)),
    // SAFETY: `msg` is a live Uint8Array of at least max(sendSize, rcvSize) bytes owned by the
    // caller for the (finite, timeout-bounded) duration of the call.
    mach_msg: (msg, option, sendSize, rcvSize, rcvName, timeoutMs, notify) =>
      u(sysFns.mach_msg(msg, option, sendSize, rcvSize, rcvName, timeoutMs, notify)),
    // SAFETY: callers view only memory they mapped and keep mapped while the view is used.
    view: (address, lengthBytes) => koffi.view(address, lengthBytes),
    readBytes: (address, lengthBytes) => new Uint8Array(koffi.view(address, lengthBytes).slice(0)),
  };
  cache.set(key, b);
  return b;
}

/** True once any IOKit library set has been loaded in this thread (used by the lazy-load test). */
export function iokitBindingsLoaded(): boolean {
  return cache.size > 0;
}

/**
 * Binds extra C prototypes of a library by name → declaration (koffi
 * syntax). Used by the tests for the stand-in's control exports, so that
 * koffi stays imported only here. Throws PT_ERR_NOT_SUPPORTED when the
 * library cannot load.
 */
export function bindLibraryFunctions<K extends string>(
  path: string,
  declarations: Record<K, string>,
): Record<K, (...args: unknown[]) => unknown> {
  return bindFunctions(openLibrary(loadKoffiForIokit(), path), declarations);
}
