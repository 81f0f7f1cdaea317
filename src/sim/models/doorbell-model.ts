/**
 * The part the `msix` and `dual` test functions share: a {@link DoorbellRegisters}
 * file that answers every trapped BAR access, doorbells raised through the
 * {@link ModelHost}, and the same header identity (vendor 1234, class ff0000,
 * subsystem 1af4:1100, INTx pin A) with each model's own device id.
 * Subclasses supply the BARs, FLR support and the capabilities.
 */
import type { AccessWidth } from '../../types.js';
import type { SimConfigSpace } from '../config-space.js';
import { DoorbellRegisters } from './doorbell-regs.js';
import type { DeviceModel, ModelHost, SimBarSpec } from './types.js';

/** Register file geometry and identity of a doorbell model. */
export interface DoorbellModelInit {
  /** Value of the ID register (device id << 16 | function/version). */
  id: number;
  /** Interrupt vectors the function has (the VECTORS register; doorbells ≥ this are refused). */
  vectors: number;
  /** Offset of the scratch registers in BAR0, bytes. */
  scratchOffset: number;
  /** Size of the scratch registers, bytes. */
  scratchBytes: number;
}

/** Base of the doorbell test functions (msix, dual). */
export abstract class DoorbellModel implements DeviceModel {
  abstract readonly kind: string;
  abstract readonly flr: boolean;
  abstract readonly bars: readonly SimBarSpec[];
  readonly vectors: number;
  readonly regs: DoorbellRegisters;
  #host!: ModelHost;

  constructor(init: DoorbellModelInit) {
    this.vectors = init.vectors;
    this.regs = new DoorbellRegisters({ ...init, raise: (v) => this.#host.signal(v) });
  }

  abstract buildConfig(cfg: SimConfigSpace, barAddress: (index: number) => bigint): void;

  /** Writes the header both models share, with `deviceId` (revision 1). */
  protected writeHeader(cfg: SimConfigSpace, deviceId: number): void {
    cfg.header({
      vendorId: 0x1234,
      deviceId,
      revision: 0x01,
      classCode: 0xff0000,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      interruptPin: 1,
    });
  }

  attach(host: ModelHost): void {
    this.#host = host;
  }

  mmioRead(_bar: number, off: number, width: AccessWidth): bigint {
    return this.regs.read(off, width);
  }

  mmioWrite(_bar: number, off: number, width: AccessWidth, value: bigint): void {
    this.regs.write(off, width, value);
  }

  reset(): void {
    this.regs.reset();
  }
}
