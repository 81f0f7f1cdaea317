/**
 * Numeric DeviceIoOps accessors (configRead/Write, barRead/Write) over plain
 * byte arrays, for fakes of a device in tests: region 7 is config space,
 * 0–5 the BARs. `space(index)` returns the bytes of a region (or throws).
 */
import { PassthroughError } from '../../src/errors.js';
import type { DeviceIoOps } from '../../src/vfio/device-io-ops.js';

type NumericOps = Pick<DeviceIoOps, 'configRead' | 'configWrite' | 'barRead' | 'barWrite'>;

function checked(space: (index: number) => Uint8Array, index: number, off: number, width: number): Uint8Array {
  const s = space(index);
  if (off < 0 || off + width > s.length) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', 'access past the end of the region', { region: index, offsetBytes: off, width });
  }
  return s;
}

function load(s: Uint8Array, off: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(s[off + i]!);
  return v;
}

function store(s: Uint8Array, off: number, width: number, value: bigint): void {
  let v = BigInt.asUintN(64, value);
  for (let i = 0; i < width; i++) {
    s[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Numeric accessors over the regions `space` returns (little endian). */
export function byteSpaceOps(space: (index: number) => Uint8Array): NumericOps {
  return {
    configRead: (off, width) => Number(load(checked(space, 7, off, width), off, width)),
    configWrite: (off, width, value) => store(checked(space, 7, off, width), off, width, BigInt(value >>> 0)),
    barRead: (bar, off, width) => load(checked(space, bar, off, width), off, width),
    barWrite: (bar, off, width, value) => store(checked(space, bar, off, width), off, width, value),
  };
}
