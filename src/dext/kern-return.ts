/**
 * IOReturn → pcipt error code, the one table (as rust-vmm maps each ioctl
 * failure to one variant). Used by every DextClient implementation so the
 * same dext answer becomes the same typed error everywhere.
 */
import { PassthroughError, type ErrorCode, type ErrorContext } from '../errors.js';
import type { Bdf } from '../types.js';
import { IOReturn, SELECTOR_NAMES, ioReturnName } from './contract.js';

/** IOReturn value → error code. Anything not listed is PT_ERR_KERN_RETURN. */
export const KERN_RETURN_CODES: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [IOReturn.NoMemory, 'PT_ERR_NO_MEMORY'],
  [IOReturn.NoDevice, 'PT_ERR_DEVICE_GONE'],
  [IOReturn.BadArgument, 'PT_ERR_BAD_ARGUMENT'],
  [IOReturn.Unsupported, 'PT_ERR_UNSUPPORTED'],
  [IOReturn.NotOpen, 'PT_ERR_NOT_OPEN'],
  [IOReturn.NotAligned, 'PT_ERR_NOT_ALIGNED'],
  [IOReturn.StillOpen, 'PT_ERR_STILL_OPEN'],
  [IOReturn.Timeout, 'PT_ERR_TIMEOUT'],
  [IOReturn.NotReady, 'PT_ERR_NOT_READY'],
  [IOReturn.NotAttached, 'PT_ERR_NOT_ATTACHED'],
  [IOReturn.NoSpace, 'PT_ERR_NO_SPACE'],
  [IOReturn.NotPermitted, 'PT_ERR_PERMISSION'],
  [IOReturn.Overrun, 'PT_ERR_OVERRUN'],
  [IOReturn.Aborted, 'PT_ERR_CANCELLED'],
  [IOReturn.NotFound, 'PT_ERR_NOT_FOUND'],
]);

/** The error code for an IOReturn. */
export function codeForKernReturn(kr: number): ErrorCode {
  return KERN_RETURN_CODES.get(kr >>> 0) ?? 'PT_ERR_KERN_RETURN';
}

/**
 * The typed error for a failed selector: `<Name> failed: <IOReturnName> (0x…)`
 * with bdf, selector, selectorName and kernReturn in the context.
 */
export function dextError(kr: number, selector: number, context: ErrorContext = {}): PassthroughError {
  const selectorName = SELECTOR_NAMES[selector] ?? `selector ${selector}`;
  const u = kr >>> 0;
  return new PassthroughError(
    codeForKernReturn(u),
    `${selectorName} failed: ${ioReturnName(u)} (0x${u.toString(16)})`,
    { ...context, selector, selectorName, kernReturn: u },
  );
}

/**
 * The typed error for a failed IOConnectMapMemory64 / IOConnectUnmapMemory64
 * (`what` is `MapMemory` or `UnmapMemory`) of memory type `memoryType`:
 * `<what>(type <n>) failed: <IOReturnName> (0x…)` with bdf, memoryType and kernReturn.
 */
export function mapMemoryError(kr: number, what: 'MapMemory' | 'UnmapMemory', memoryType: number, bdf: Bdf): PassthroughError {
  const u = kr >>> 0;
  return new PassthroughError(codeForKernReturn(u), `${what}(type ${memoryType}) failed: ${ioReturnName(u)} (0x${u.toString(16)})`, {
    bdf,
    memoryType,
    kernReturn: u,
  });
}

/**
 * PT_ERR_CLOSED for a call on a closed dext connection. `selector` < 0 stands
 * for a memory map/unmap (named `MapMemory`, no selector in the context).
 */
export function closedConnectionError(selector: number, bdf: Bdf): PassthroughError {
  const selectorName = selector < 0 ? 'MapMemory' : (SELECTOR_NAMES[selector] ?? `selector ${selector}`);
  return new PassthroughError('PT_ERR_CLOSED', `${selectorName}: the dext connection is closed`, {
    bdf,
    ...(selector < 0 ? {} : { selector, selectorName }),
  });
}
