/**
 * Small IORegistry helpers over the bindings: create a CFString key, read a
 * string or little-endian data property, iterate an io_iterator_t. Every CF
 * reference created here is released here; every object an iterator hands
 * out is released by {@link forEachObject} after the visitor returns.
 */
import { kCFStringEncodingUTF8, type IokitBindings } from './bindings.js';

const NAME_BYTES = 128; // io_name_t

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8');
}

/** Visits every object of an iterator, releasing each object and then the iterator. */
export function forEachObject(b: IokitBindings, iterator: number, visit: (object: number) => boolean | void): void {
  try {
    for (let o = b.IOIteratorNext(iterator); o !== 0; o = b.IOIteratorNext(iterator)) {
      let stop: boolean | void;
      try {
        stop = visit(o);
      } finally {
        b.IOObjectRelease(o);
      }
      if (stop === true) break;
    }
  } finally {
    b.IOObjectRelease(iterator);
  }
}

/** Runs `fn` with a CFString key, released afterwards. */
export function withCFString<T>(b: IokitBindings, text: string, fn: (key: bigint) => T): T {
  const key = b.CFStringCreateWithCString(null, text, kCFStringEncodingUTF8);
  try {
    return fn(key);
  } finally {
    if (key !== 0n) b.CFRelease(key);
  }
}

/** A string registry property, or undefined when absent or not a string. */
export function stringProperty(b: IokitBindings, entry: number, name: string): string | undefined {
  return withCFString(b, name, (key) => {
    const value = b.IORegistryEntryCreateCFProperty(entry, key, null, 0);
    if (value === 0n) return undefined;
    try {
      if (b.CFGetTypeID(value) !== b.CFStringGetTypeID()) return undefined;
      const buf = new Uint8Array(256);
      // SAFETY: `buf` is live for the call; CFStringGetCString writes at most 256 bytes.
      return b.CFStringGetCString(value, buf, buf.length, kCFStringEncodingUTF8) ? cString(buf) : undefined;
    } finally {
      b.CFRelease(value);
    }
  });
}

/** A little-endian integer from a CFData property (first 4 bytes), or undefined. */
export function dataU32Property(b: IokitBindings, entry: number, name: string): number | undefined {
  return withCFString(b, name, (key) => {
    const value = b.IORegistryEntryCreateCFProperty(entry, key, null, 0);
    if (value === 0n) return undefined;
    try {
      if (b.CFGetTypeID(value) !== b.CFDataGetTypeID()) return undefined;
      const len = Math.min(4, b.CFDataGetLength(value));
      if (len <= 0) return undefined;
      // SAFETY: the byte pointer lives while we hold `value`; readBytes copies before CFRelease.
      const bytes = b.readBytes(b.CFDataGetBytePtr(value), len);
      let v = 0;
      for (let i = len - 1; i >= 0; i--) v = v * 256 + bytes[i]!;
      return v;
    } finally {
      b.CFRelease(value);
    }
  });
}

/** IORegistryEntryGetName. */
export function entryName(b: IokitBindings, entry: number): string {
  const buf = new Uint8Array(NAME_BYTES);
  return b.IORegistryEntryGetName(entry, buf) === 0 ? cString(buf) : '';
}

/** IOObjectGetClass ('' on failure). */
export function objectClass(b: IokitBindings, object: number): string {
  const buf = new Uint8Array(NAME_BYTES);
  return b.IOObjectGetClass(object, buf) === 0 ? cString(buf) : '';
}

/**
 * The host root of a dext instance, as the later original names it
 * ([G] `dext_root_name`): the registry name of the topmost IOPCIDevice
 * above `service` in the IOService plane (the root port, e.g.
 * "pcic0-bridge"). Undefined when there is none. Every parent taken on the
 * way up is released; `service` itself stays the caller's.
 */
export function hostRootName(b: IokitBindings, service: number): string | undefined {
  let root: string | undefined;
  let current = service;
  let owned = false;
  const out = new Uint32Array(1);
  try {
    for (let depth = 0; depth < 64; depth++) {
      if (objectClass(b, current) === 'IOPCIDevice') root = entryName(b, current) || root;
      out[0] = 0;
      const kr = b.IORegistryEntryGetParentEntry(current, 'IOService', out);
      if (kr !== 0 || out[0] === 0) break;
      if (owned) b.IOObjectRelease(current);
      current = out[0]!;
      owned = true;
    }
  } finally {
    if (owned) b.IOObjectRelease(current);
  }
  return root;
}
