/**
 * pcipt public entry. Named exports only (the whole API on one screen).
 */
export { PassthroughError, ERROR_CODES, toPassthroughError } from './errors.js';
export type { ErrorCode, ErrorContext, Errno, SerializedError } from './errors.js';
export { parseBdf, formatBdf, toBdf, byteRange } from './types.js';
export type { Bdf, BdfParts, Iova, HostVa, BarIndex, AccessWidth, ByteRange } from './types.js';
