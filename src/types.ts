/**
 * Domain values that are checked when they are built: PCI addresses (BDF),
 * byte ranges, and the branded numeric types used across the API.
 */
import { argumentValue, PassthroughError } from './errors.js';

/** A canonical PCI function address, `dddd:bb:ss.f` in lowercase hex (sysfs form). */
export type Bdf = string & { readonly __brand: 'Bdf' };

/** The parts of a {@link Bdf}. */
export interface BdfParts {
  /** PCI domain (segment), 0–0xffff. */
  domain: number;
  /** Bus, 0–0xff. */
  bus: number;
  /** Device (slot), 0–0x1f. */
  device: number;
  /** Function, 0–7. */
  function: number;
}

/** An I/O virtual address / DMA bus address as the device sees it. */
export type Iova = bigint & { readonly __brand: 'Iova' };
/** A host virtual address (or, on the sim backend, an address in its simulated host address space). */
export type HostVa = bigint & { readonly __brand: 'HostVa' };
/** A BAR number, 0–5. */
export type BarIndex = 0 | 1 | 2 | 3 | 4 | 5;
/** An MMIO/config access width in bytes. */
export type AccessWidth = 1 | 2 | 4 | 8;

const BDF_RE = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/**
 * Parses `DDDD:BB:SS.F` or `BB:SS.F` (domain 0). Throws PT_ERR_INVALID_BDF.
 */
export function parseBdf(text: string): BdfParts {
  if (typeof text !== 'string') {
    throw new PassthroughError('PT_ERR_INVALID_BDF', 'a PCI address must be a string (DDDD:BB:SS.F or BB:SS.F)', {
      param: 'bdf',
      value: argumentValue(text),
    });
  }
  const m = BDF_RE.exec(text.trim());
  if (m === null) {
    throw new PassthroughError('PT_ERR_INVALID_BDF', `invalid PCI address "${text}": expected DDDD:BB:SS.F or BB:SS.F`, {
      input: text,
    });
  }
  const parts: BdfParts = {
    domain: m[1] === undefined ? 0 : parseInt(m[1], 16),
    bus: parseInt(m[2]!, 16),
    device: parseInt(m[3]!, 16),
    function: parseInt(m[4]!, 10),
  };
  if (parts.device > 0x1f) {
    throw new PassthroughError('PT_ERR_INVALID_BDF', `invalid PCI address "${text}": device must be 00–1f`, {
      input: text,
    });
  }
  return parts;
}

/** Formats parts as the canonical `dddd:bb:ss.f`. */
export function formatBdf(p: BdfParts): Bdf {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(p.domain, 4)}:${h(p.bus, 2)}:${h(p.device, 2)}.${p.function}` as Bdf;
}

/** Normalises any accepted spelling to the canonical {@link Bdf}. Throws PT_ERR_INVALID_BDF. */
export function toBdf(text: string): Bdf {
  return formatBdf(parseBdf(text));
}

/** `bb:ss.f` without the domain (the dext identity has no domain). */
export function shortBdf(p: BdfParts): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `${h(p.bus)}:${h(p.device)}.${p.function}`;
}

/** A half-open byte range `[offsetBytes, offsetBytes + lengthBytes)` with lengthBytes > 0. */
export interface ByteRange {
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

/** Builds a range; refuses zero or negative length, negative offsets and overflow. */
export function byteRange(offsetBytes: number, lengthBytes: number): ByteRange {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `range offset must be a non-negative integer`, { offsetBytes });
  }
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0 || !Number.isSafeInteger(offsetBytes + lengthBytes)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `range length must be a positive integer`, {
      offsetBytes,
      sizeBytes: lengthBytes,
    });
  }
  return { offsetBytes, lengthBytes };
}

/** True when the two ranges share at least one byte. */
export function rangesOverlap(a: ByteRange, b: ByteRange): boolean {
  return a.offsetBytes < b.offsetBytes + b.lengthBytes && b.offsetBytes < a.offsetBytes + a.lengthBytes;
}
