/**
 * ConfigPort: synchronous PCI config-space access for a vCPU thread (a vCPU
 * cannot await a promise mid-instruction), over the control block's mailbox
 * served by the device worker, and the BAR slow path over the same mailbox.
 * The worker-side handler lives in src/actors/mailbox-server.ts.
 */
import { argumentValue, PassthroughError } from '../errors.js';
import type { SlowPath } from './bar-window.js';
import { MailboxClient, MailboxOp, type MailboxClientOptions } from './mailbox.js';

/**
 * VFIO region index of config space (= RegionIndex.CONFIG; fastpath may only
 * import types from the vfio contracts, a unit test keeps the two equal).
 */
export const kConfigRegionIndex = 7;
/** Size of PCIe config space in bytes: the range a ConfigPort accepts. */
export const kConfigSpaceBytes = 4096;

type Width = 1 | 2 | 4;

/** Synchronous config-space reads and writes from any thread. */
export class ConfigPort {
  readonly #client: MailboxClient;

  /**
   * Throws PT_ERR_INVALID_ARGUMENT for a wrong control block or options.
   * @param opts timeoutMs per access (default 1000) and the client spin budget
   */
  constructor(control: SharedArrayBuffer, opts: MailboxClientOptions = {}) {
    this.#client = new MailboxClient(control, opts);
  }

  /**
   * Reads 1 byte of config space.
   * Throws PT_ERR_OUT_OF_RANGE (offset outside 0–4095; errno EINVAL), PT_ERR_TIMEOUT,
   * PT_ERR_WORKER_EXITED, PT_ERR_CLOSED, or the backend's error.
   */
  read8(offsetBytes: number): number {
    this.#check(offsetBytes, 1);
    return this.#client.call(MailboxOp.CONFIG_READ, offsetBytes, 1, 0);
  }

  /** Reads 2 bytes (2-byte aligned; PT_ERR_ALIGNMENT otherwise). Errors as {@link read8}. */
  read16(offsetBytes: number): number {
    this.#check(offsetBytes, 2);
    return this.#client.call(MailboxOp.CONFIG_READ, offsetBytes, 2, 0);
  }

  /** Reads 4 bytes (4-byte aligned). Errors as {@link read16}. */
  read32(offsetBytes: number): number {
    this.#check(offsetBytes, 4);
    return this.#client.call(MailboxOp.CONFIG_READ, offsetBytes, 4, 0);
  }

  /**
   * Writes 1 byte (an integer in −2^31..2^32−1, truncated to the width).
   * Errors as {@link read8}, and PT_ERR_INVALID_ARGUMENT for another value.
   */
  write8(offsetBytes: number, value: number): void {
    this.#check(offsetBytes, 1);
    if (typeof value !== 'number' || (value & 0xff) !== value) checkValue(value, offsetBytes, 1);
    this.#client.call(MailboxOp.CONFIG_WRITE, offsetBytes, 1, value & 0xff);
  }

  /** Writes 2 bytes. Errors as {@link read16}. */
  write16(offsetBytes: number, value: number): void {
    this.#check(offsetBytes, 2);
    if (typeof value !== 'number' || (value & 0xffff) !== value) checkValue(value, offsetBytes, 2);
    this.#client.call(MailboxOp.CONFIG_WRITE, offsetBytes, 2, value & 0xffff);
  }

  /** Writes 4 bytes. Errors as {@link read32}. */
  write32(offsetBytes: number, value: number): void {
    this.#check(offsetBytes, 4);
    if (typeof value !== 'number' || (value >>> 0) !== value) checkValue(value, offsetBytes, 4);
    this.#client.call(MailboxOp.CONFIG_WRITE, offsetBytes, 4, value >>> 0);
  }

  #check(offsetBytes: number, width: Width): void {
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes + width > kConfigSpaceBytes) {
      if (typeof offsetBytes !== 'number' || Number.isNaN(offsetBytes)) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'config offset must be a number', {
          region: kConfigRegionIndex,
          width,
          param: 'offsetBytes',
          value: argumentValue(offsetBytes),
          errno: 'EINVAL',
        });
      }
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `config access of ${width} byte(s) at ${offsetBytes} is out of range`, {
        region: kConfigRegionIndex,
        offsetBytes,
        width,
        sizeBytes: kConfigSpaceBytes,
        errno: 'EINVAL',
      });
    }
    if ((offsetBytes & (width - 1)) !== 0) {
      throw new PassthroughError('PT_ERR_ALIGNMENT', `config access of ${width} byte(s) at ${offsetBytes} is misaligned`, {
        region: kConfigRegionIndex,
        offsetBytes,
        width,
        errno: 'EINVAL',
      });
    }
  }
}

/** The slow branch of a write's value check: an integer that fits 32 bits passes (truncated), anything else throws. */
function checkValue(value: unknown, offsetBytes: number, width: Width): void {
  if (typeof value === 'number' && Number.isInteger(value) && value >= -0x8000_0000 && value <= 0xffff_ffff) return;
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'config write value must be an integer in −2^31..2^32−1 (truncated to the width)', {
    region: kConfigRegionIndex,
    offsetBytes,
    width,
    param: 'value',
    value: argumentValue(value),
    errno: 'EINVAL',
  });
}

/**
 * The BAR slow path over the mailbox: trapped BarWindow accesses become
 * REGION_READ/REGION_WRITE calls served by the device worker.
 */
export function createMailboxSlowPath(control: SharedArrayBuffer, opts: MailboxClientOptions = {}): SlowPath {
  const client = new MailboxClient(control, opts);
  return {
    read(bar, offsetBytes, width) {
      return client.callBig(MailboxOp.REGION_READ, bar | (width << 8), offsetBytes, 0);
    },
    write(bar, offsetBytes, width, value) {
      const v = BigInt.asUintN(64, value);
      client.call(
        MailboxOp.REGION_WRITE,
        bar | (width << 8),
        offsetBytes,
        Number(v & 0xffff_ffffn),
        client.timeoutMs,
        Number(v >> 32n),
      );
    },
  };
}
