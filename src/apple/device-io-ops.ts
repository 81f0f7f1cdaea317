/**
 * appleDeviceIoOps: the seed's apple_vfio_device_io_ops (hw/vfio/apple-device.c)
 * over a {@link DextClient}, rule by rule (spec §7 rules 2–10, 16). Every
 * member throws PassthroughError with `context.errno` set to the `-errno`
 * the original returns. Deviations from the original are listed in
 * src/apple/DEVIATIONS.md.
 */
import { PassthroughError, type ErrorContext } from '../errors.js';
import { PCIE_CONFIG_BYTES } from '../pci/config-space.js';
import { trace, traceEnabled } from '../trace.js';
import { planConfigWrite } from './config-filter.js';
import {
  IrqFlags,
  IrqIndex,
  NUM_REGIONS,
  RegionFlags,
  RegionIndex,
  type DeviceIoOps,
  type IrqInfo,
  type IrqSetRequest,
  type MappedRegion,
  type RegionInfo,
} from '../vfio/device-io-ops.js';
import { BAR_COUNT, MAX_IRQ_VECTORS, type AppleDeviceState, type AppleIrqMode } from './device-state.js';
import { memoryTypeForBar, type DextClient, type IrqWords } from '../dext/contract.js';

/** Region offsets in the (absent) device file: index << 20 (rule 2). */
export const APPLE_REGION_SHIFT = 20n;

function noConnection(state: AppleDeviceState, ctx: ErrorContext = {}): PassthroughError {
  return new PassthroughError('PT_ERR_NO_CONNECTION', `${state.name}: no dext connection`, {
    bdf: state.bdf,
    errno: 'ENODEV',
    ...ctx,
  });
}

function ioError(state: AppleDeviceState, what: string, cause: unknown, ctx: ErrorContext = {}): PassthroughError {
  const kr = PassthroughError.is(cause) ? cause.kernReturn : undefined;
  return new PassthroughError('PT_ERR_IO', `${state.name}: ${what}`, { bdf: state.bdf, errno: 'EIO', kernReturn: kr, ...ctx }, { cause });
}

function isBar(index: number): boolean {
  return Number.isInteger(index) && index >= RegionIndex.BAR0 && index <= RegionIndex.BAR5;
}

/** Little-endian bytes of the low `size` bytes of `value`. */
function leBytes(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = value;
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The value of up to 8 little-endian bytes. */
function leValue(bytes: Uint8Array, size: number): bigint {
  let v = 0n;
  for (let i = Math.min(size, bytes.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

const MODE_OF_INDEX: Record<number, AppleIrqMode | undefined> = {
  [IrqIndex.INTX]: 'intx',
  [IrqIndex.MSI]: 'msi',
  [IrqIndex.MSIX]: 'msix',
};

/** The SetIRQMask words for the current state (rule 6). */
export function irqMaskWords(state: AppleDeviceState): IrqWords {
  const mask: IrqWords = [0n, 0n, 0n, 0n];
  const irq = state.irq;
  if (irq.mode === 'msi' || irq.mode === 'msix') {
    const n = Math.min(irq.nrVectors, MAX_IRQ_VECTORS);
    for (let i = 0; i < n; i++) if (irq.inUse[i]) mask[i >> 6] |= 1n << BigInt(i & 63);
  } else if (irq.mode === 'intx') {
    mask[0] = 1n;
  }
  return mask;
}

/**
 * Records a setIrqs request in the state (QEMU's core does this before or
 * after set_irqs; here the request is applied first, see DEVIATIONS).
 * `trigger` count > 0 switches to the index's mode (clearing another mode's
 * vectors) and marks [start, start+count) in use with `sink`; `trigger`
 * count 0 disables the index when it is the current mode. mask/unmask do
 * not change the state: the dext does not latch masked interrupts, so the
 * original never masks through it (QEMU emulates the guest's masking).
 */
function applyIrqRequest(state: AppleDeviceState, req: IrqSetRequest): void {
  const mode = MODE_OF_INDEX[req.index];
  if (mode === undefined || req.action !== 'trigger') return;
  const irq = state.irq;
  if (req.count === 0) {
    if (irq.mode === mode) {
      irq.mode = 'none';
      irq.nrVectors = 0;
      irq.inUse.fill(false);
      irq.sinks.fill(undefined);
    }
    return;
  }
  if (irq.mode !== mode) {
    irq.mode = mode;
    irq.nrVectors = 0;
    irq.inUse.fill(false);
    irq.sinks.fill(undefined);
  }
  const start = Math.max(0, Math.trunc(req.start));
  const end = Math.min(MAX_IRQ_VECTORS, start + Math.max(0, Math.trunc(req.count)));
  if (mode === 'intx') {
    irq.nrVectors = 1;
    irq.inUse[0] = true;
    irq.sinks[0] = req.sink;
    return;
  }
  for (let v = start; v < end; v++) {
    irq.inUse[v] = true;
    irq.sinks[v] = req.sink;
  }
  irq.nrVectors = Math.max(irq.nrVectors, end);
}

/** Sends the current mask (apple_vfio_update_irq_mask). No connection: no call. Result ignored. */
function updateIrqMask(state: AppleDeviceState): void {
  const client = state.client;
  if (client === undefined) return;
  const mask = irqMaskWords(state);
  if (traceEnabled('pcipt:irq:mask')) trace('pcipt:irq:mask', { bdf: state.bdf, words: mask.map((w) => `0x${w.toString(16)}`) });
  try {
    client.setIrqMask(mask);
  } catch {
    // The original ignores selector 16's result (NotReady before setup, a gone device).
  }
}

function barAccessCheck(state: AppleDeviceState, index: number, offsetBytes: number, size: number, dir: 'read' | 'write') {
  const map = isBar(index) ? state.barMaps[index] : undefined;
  if (map === undefined || !Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + size > map.sizeBytes) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `vfio-apple: BAR${index} ${dir} out of range or unmapped`, {
      bdf: state.bdf,
      region: index,
      offsetBytes,
      width: size,
      errno: 'EINVAL',
    });
  }
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
    throw new PassthroughError('PT_ERR_BAD_WIDTH', `vfio-apple: BAR${index} ${dir} width ${size} not 1, 2, 4 or 8`, {
      bdf: state.bdf,
      region: index,
      offsetBytes,
      width: size,
      errno: 'EINVAL',
    });
  }
  return map;
}

function configRangeCheck(state: AppleDeviceState, offsetBytes: number, size: number): void {
  if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offsetBytes >= PCIE_CONFIG_BYTES || !Number.isInteger(size) || size < 0) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `${state.name}: config access at 0x${offsetBytes.toString(16)} outside 4096 bytes`, {
      bdf: state.bdf,
      region: RegionIndex.CONFIG,
      offsetBytes,
      sizeBytes: size,
      errno: 'EINVAL',
    });
  }
}

/** Block config read: dwords while 4 or more bytes remain, then single bytes (apple_dext_config_read_block). */
function configReadBlock(client: DextClient, offsetBytes: number, out: Uint8Array, len: number): void {
  let pos = 0;
  while (len - pos >= 4) {
    const v = client.configRead(offsetBytes + pos, 4) >>> 0;
    out[pos] = v & 0xff;
    out[pos + 1] = (v >>> 8) & 0xff;
    out[pos + 2] = (v >>> 16) & 0xff;
    out[pos + 3] = v >>> 24;
    pos += 4;
  }
  while (pos < len) {
    out[pos] = client.configRead(offsetBytes + pos, 1) & 0xff;
    pos++;
  }
}

function configRead(state: AppleDeviceState, offsetBytes: number, size: number): Uint8Array {
  configRangeCheck(state, offsetBytes, size);
  const client = state.client;
  if (client === undefined) throw noConnection(state, { region: RegionIndex.CONFIG, offsetBytes });
  const eff = Math.min(size, PCIE_CONFIG_BYTES - offsetBytes);
  const out = new Uint8Array(size); // bytes past eff stay zero
  try {
    if (eff === 1 || eff === 2 || eff === 4) {
      const v = client.configRead(offsetBytes, eff) >>> 0;
      for (let i = 0; i < eff; i++) out[i] = (v >>> (8 * i)) & 0xff;
    } else {
      configReadBlock(client, offsetBytes, out, eff);
    }
  } catch (e) {
    throw ioError(state, 'config read failed', e, { region: RegionIndex.CONFIG, offsetBytes, sizeBytes: size });
  }
  if (traceEnabled('pcipt:config:read')) trace('pcipt:config:read', { bdf: state.bdf, offsetBytes, width: size, value: Array.from(out) });
  return out;
}

/**
 * One config read of 1, 2 or 4 bytes as a number: one selector-8 read, or,
 * where the access runs past 4096, the bytes below 4096 with zeros above
 * (rule 4's zero fill, never an underflow).
 */
function configReadValue(state: AppleDeviceState, offsetBytes: number, width: 1 | 2 | 4): number {
  configRangeCheck(state, offsetBytes, width);
  const client = state.client;
  if (client === undefined) throw noConnection(state, { region: RegionIndex.CONFIG, offsetBytes });
  const eff = Math.min(width, PCIE_CONFIG_BYTES - offsetBytes);
  let value = 0;
  try {
    if (eff === width) value = client.configRead(offsetBytes, width) >>> 0;
    else for (let i = eff - 1; i >= 0; i--) value = (value << 8) | (client.configRead(offsetBytes + i, 1) & 0xff);
  } catch (e) {
    throw ioError(state, 'config read', e, { region: RegionIndex.CONFIG, offsetBytes, sizeBytes: width });
  }
  value >>>= 0;
  if (traceEnabled('pcipt:config:read')) trace('pcipt:config:read', { bdf: state.bdf, offsetBytes, width, value });
  return value;
}

/** A BAR slow-path load (rule 8): the range check first, then the width; a little-endian host load. */
function barRead(state: AppleDeviceState, index: number, offsetBytes: number, width: number): bigint {
  const map = barAccessCheck(state, index, offsetBytes, width, 'read');
  const value = map.memory.read(offsetBytes, width as 1 | 2 | 4 | 8);
  if (traceEnabled('pcipt:region:read')) trace('pcipt:region:read', { bdf: state.bdf, region: index, offsetBytes, width, value });
  return value;
}

/** A BAR slow-path store (rule 8). */
function barWrite(state: AppleDeviceState, index: number, offsetBytes: number, width: number, value: bigint): void {
  const map = barAccessCheck(state, index, offsetBytes, width, 'write');
  map.memory.write(offsetBytes, width as 1 | 2 | 4 | 8, BigInt.asUintN(64, value));
  if (traceEnabled('pcipt:region:write')) trace('pcipt:region:write', { bdf: state.bdf, region: index, offsetBytes, width, value });
}

/**
 * A config write (rule 5) of `size` bytes at `offsetBytes`; `byteAt(i)` is
 * byte i of the data (little endian). COMMAND bytes go one by one, STATUS
 * and BAR writes are dropped, the rest is forwarded at its effective width.
 */
function configWriteBytes(state: AppleDeviceState, offsetBytes: number, size: number, byteAt: (i: number) => number): number {
  configRangeCheck(state, offsetBytes, size);
  const plan = planConfigWrite(offsetBytes, size, state.writeGuards);
  const client = state.client;
  const ctx = { region: RegionIndex.CONFIG, offsetBytes, sizeBytes: size };
  if (plan.commandBytes !== undefined) {
    if (client === undefined) throw noConnection(state, ctx);
    for (let pos = plan.commandBytes.start; pos < plan.commandBytes.end; pos++) {
      try {
        client.configWrite(pos, 1, byteAt(pos - offsetBytes));
      } catch (e) {
        throw ioError(state, 'COMMAND write failed', e, { ...ctx, offsetBytes: pos, width: 1 });
      }
    }
    if (plan.insideCommand) {
      if (traceEnabled('pcipt:config:write')) trace('pcipt:config:write', { bdf: state.bdf, offsetBytes, width: size, forwarded: true });
      return size;
    }
  }
  if (plan.dropped) {
    if (traceEnabled('pcipt:config:write')) {
      trace('pcipt:config:write', { bdf: state.bdf, offsetBytes, width: size, forwarded: false, ...(plan.guarded ? { guarded: true } : {}) });
    }
    return size;
  }
  if (client === undefined) throw noConnection(state, ctx);
  if (!plan.effWidthValid) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${state.name}: config write of ${plan.effBytes} bytes is not 1, 2 or 4`, {
      bdf: state.bdf,
      ...ctx,
      width: plan.effBytes,
      errno: 'EINVAL',
    });
  }
  let value = 0;
  for (let i = plan.effBytes - 1; i >= 0; i--) value = (value << 8) | (byteAt(i) & 0xff);
  value >>>= 0;
  try {
    client.configWrite(offsetBytes, plan.effBytes, value);
  } catch (e) {
    throw ioError(state, 'config write failed', e, ctx);
  }
  if (traceEnabled('pcipt:config:write')) trace('pcipt:config:write', { bdf: state.bdf, offsetBytes, width: plan.effBytes, value, forwarded: true });
  return size;
}

/**
 * A config write by the host side (the device worker's interrupt-capability
 * enables), past the guest write filter: one selector-9 write of `width`,
 * as the dext's ConfigureInterrupts programs the capability (DEVIATIONS #32).
 */
function hostConfigWrite(state: AppleDeviceState, offsetBytes: number, width: 1 | 2 | 4, value: number): void {
  configRangeCheck(state, offsetBytes, width);
  const client = state.client;
  const ctx = { region: RegionIndex.CONFIG, offsetBytes, sizeBytes: width };
  if (client === undefined) throw noConnection(state, ctx);
  try {
    client.configWrite(offsetBytes, width, value >>> 0);
  } catch (e) {
    throw ioError(state, 'config write failed', e, ctx);
  }
  if (traceEnabled('pcipt:config:write')) trace('pcipt:config:write', { bdf: state.bdf, offsetBytes, width, value: value >>> 0, forwarded: true });
}

/**
 * The apple device I/O table over `state`. Needs {@link prepareAppleDevice}
 * for BAR types, windows, MSI-X size and the INTx pin (before it: no MSI-X
 * vectors, BARs unmappable).
 */
export function createAppleDeviceIoOps(state: AppleDeviceState) {
  return {
    getRegionInfo(index: number): RegionInfo {
      const info: RegionInfo = {
        index,
        flags: RegionFlags.READ | RegionFlags.WRITE,
        sizeBytes: 0n,
        offset: BigInt(Math.max(0, Math.trunc(index))) << APPLE_REGION_SHIFT,
      };
      if (isBar(index)) {
        let size = 0n;
        if (state.client !== undefined) {
          try {
            size = state.client.getBarInfo(index).sizeBytes;
          } catch {
            size = 0n;
          }
        }
        info.sizeBytes = size;
        info.flags |= RegionFlags.MMAP; // even at size 0, as the original
        return info;
      }
      if (index === RegionIndex.CONFIG) {
        info.sizeBytes = BigInt(PCIE_CONFIG_BYTES);
        return info;
      }
      if (index === RegionIndex.ROM || index === RegionIndex.VGA) return info;
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${state.name}: no region ${index} (last is ${NUM_REGIONS - 1})`, {
        bdf: state.bdf,
        region: index,
        errno: 'EINVAL',
      });
    },

    getIrqInfo(index: number): IrqInfo {
      switch (index) {
        case IrqIndex.MSI:
          return { index, flags: IrqFlags.EVENTFD, count: state.numIrqVectors };
        case IrqIndex.MSIX:
          return { index, flags: IrqFlags.EVENTFD | IrqFlags.NORESIZE, count: state.msix?.tableSize ?? 0 };
        case IrqIndex.INTX:
          return { index, flags: IrqFlags.EVENTFD, count: state.intxPin === 0 ? 0 : 1 };
        case IrqIndex.ERR:
        case IrqIndex.REQ:
          return { index, flags: 0, count: 0 };
        default:
          throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `${state.name}: no IRQ index ${index}`, {
            bdf: state.bdf,
            irqIndex: index,
            errno: 'EINVAL',
          });
      }
    },

    setIrqs(request: IrqSetRequest): void {
      applyIrqRequest(state, request);
      updateIrqMask(state);
    },

    deviceReset(): void {
      const client = state.client;
      if (client === undefined) throw noConnection(state);
      try {
        client.resetDevice();
      } catch (e) {
        trace('pcipt:device:reset', { bdf: state.bdf, ok: false });
        throw ioError(state, 'reset failed', e);
      }
      trace('pcipt:device:reset', { bdf: state.bdf, ok: true });
    },

    regionRead(index: number, offsetBytes: number, sizeBytes: number): Uint8Array {
      if (index === RegionIndex.CONFIG) return configRead(state, offsetBytes, sizeBytes);
      return leBytes(barRead(state, index, offsetBytes, sizeBytes), sizeBytes);
    },

    regionWrite(index: number, offsetBytes: number, data: Uint8Array): number {
      if (index === RegionIndex.CONFIG) return configWriteBytes(state, offsetBytes, data.length, (i) => data[i] ?? 0);
      barWrite(state, index, offsetBytes, data.length, leValue(data, data.length));
      return data.length;
    },

    configRead(offsetBytes: number, width: 1 | 2 | 4): number {
      return configReadValue(state, offsetBytes, width);
    },

    configWrite(offsetBytes: number, width: 1 | 2 | 4, value: number): void {
      configWriteBytes(state, offsetBytes, width, (i) => (value >>> (8 * i)) & 0xff);
    },

    hostConfigWrite(offsetBytes: number, width: 1 | 2 | 4, value: number): void {
      hostConfigWrite(state, offsetBytes, width, value);
    },

    barRead(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8): bigint {
      return barRead(state, bar, offsetBytes, width);
    },

    barWrite(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void {
      barWrite(state, bar, offsetBytes, width, value);
    },

    regionMap(index: number): MappedRegion | undefined {
      if (!isBar(index)) return undefined;
      const bar = state.bars[index]!;
      const client = state.client;
      if (client === undefined || bar.sizeBytes === 0 || bar.ioport) return undefined;
      if (index > 0 && state.bars[index - 1]!.mem64) return undefined;
      if (state.barMaps[index] !== undefined) return undefined;
      let memory;
      try {
        memory = client.mapMemory(memoryTypeForBar(index));
      } catch (e) {
        const kr = (PassthroughError.is(e) ? e.kernReturn : undefined) ?? 0;
        throw new PassthroughError(
          'PT_ERR_IO',
          `vfio-apple: BAR${index} map failed for ${state.name}: 0x${(kr >>> 0).toString(16)}`,
          { bdf: state.bdf, region: index, kernReturn: kr >>> 0, errno: 'EIO' },
          { cause: e },
        );
      }
      const sizeBytes = Math.min(memory.lengthBytes, bar.sizeBytes); // clamp to the BAR size
      state.barMaps[index] = { memory, sizeBytes };
      const windows = bar.windows
        .filter((w) => w.offsetBytes < sizeBytes)
        .map((w) => ({ offsetBytes: w.offsetBytes, lengthBytes: Math.min(w.lengthBytes, sizeBytes - w.offsetBytes) }));
      if (traceEnabled('pcipt:region:map')) trace('pcipt:region:map', { bdf: state.bdf, region: index, sizeBytes, windows });
      return { index, memory, sizeBytes, windows };
    },

    regionUnmap(index: number): void {
      if (!isBar(index)) return;
      const map = state.barMaps[index];
      state.barMaps[index] = undefined;
      if (map === undefined) return;
      if (state.client !== undefined) {
        try {
          state.client.unmapMemory(memoryTypeForBar(index), map.memory.address);
        } catch {
          // The original ignores unmap_bar's result; the mapping is gone with the connection anyway.
        }
      }
      if (traceEnabled('pcipt:region:unmap')) trace('pcipt:region:unmap', { bdf: state.bdf, region: index });
    },
  } satisfies DeviceIoOps;
}

/** The type of the apple device table. */
export type AppleDeviceIoOps = ReturnType<typeof createAppleDeviceIoOps>;

/** Unmaps every mapped BAR of `state` (vfio_bars_exit before detach). */
export function unmapAllBars(ops: DeviceIoOps): void {
  for (let bar = 0; bar < BAR_COUNT; bar++) ops.regionUnmap(bar);
}
