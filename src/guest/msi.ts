/**
 * MSI in the guest's view (QEMU hw/pci/msi.c semantics over an emulated
 * capability, as vfio-pci exposes it): the whole capability is emulated and
 * never forwarded (the original's later rule). The guest programs address,
 * data, Multiple Message Enable and, when the function has per-vector
 * masking, the mask bits; the pending bits are the layer's.
 *
 * - Enable / disable and a change of the allocated vector count reach the
 *   host through `onModeChange` (the function calls GuestHostControl.setIrqs).
 * - Host vector v of an enabled function becomes one message: address, and
 *   data with its low log2(allocated) bits replaced by v.
 * - A vector the guest masked is latched in the pending bits and sent when
 *   the guest unmasks it (once). Disabling MSI drops what is pending.
 * - Multiple Message Enable above Multiple Message Capable is clamped to it.
 */
import { Msi } from '../pci/config-space.js';
import type { VirtualConfig } from './config-space.js';
import type { GuestConfigPort } from './device.js';

/** What MSI needs from the function. */
export interface MsiHost {
  /** Sends one message to the embedder. */
  send(address: bigint, data: number): void;
  /**
   * MSI is about to be enabled or disabled: host interrupts already on the
   * line are delivered now, under the mode they were raised in.
   */
  beforeModeChange(): void;
  /** MSI was enabled or disabled, or its allocation changed. */
  onModeChange(): void;
  /** Counts a host interrupt latched in the pending bits. */
  latched(): void;
  /** Counts a host interrupt with nowhere to go. */
  dropped(): void;
}

/** The emulated MSI capability of one function. */
export class MsiEmulation {
  readonly offset: number;
  /** Vectors the function can request (Multiple Message Capable). */
  readonly capable: number;
  readonly is64: boolean;
  readonly maskable: boolean;
  /** Bytes the capability occupies. */
  readonly sizeBytes: number;
  readonly #vc: VirtualConfig;
  readonly #host: MsiHost;
  readonly #dataAt: number;
  readonly #maskAt: number;
  readonly #pendingAt: number;
  readonly #initialFlags: number;
  #enabled = false;
  #allocated = 1;
  #address = 0n;
  #data = 0;

  constructor(vc: VirtualConfig, port: GuestConfigPort, offset: number, host: MsiHost) {
    this.#vc = vc;
    this.#host = host;
    this.offset = offset;
    const flags = port.read16(offset + Msi.FLAGS);
    this.capable = 1 << Math.min(5, (flags & Msi.FLAGS_QMASK) >> 1);
    this.is64 = (flags & Msi.FLAGS_64BIT) !== 0;
    this.maskable = (flags & Msi.FLAGS_MASKBIT) !== 0;
    this.#dataAt = offset + (this.is64 ? 0x0c : 0x08);
    this.#maskAt = this.#dataAt + 4;
    this.#pendingAt = this.#maskAt + 4;
    this.sizeBytes = (this.is64 ? 0x0e : 0x0a) + (this.maskable ? 0x0a : 0);
    this.#initialFlags = flags & (Msi.FLAGS_QMASK | Msi.FLAGS_64BIT | Msi.FLAGS_MASKBIT);
    // Whole capability emulated, nothing forwarded; id and next stay as the list set them.
    vc.emulate(offset, 1, port.read8(offset));
    vc.emulate(offset + Msi.FLAGS, 2, this.#initialFlags, { wmask: Msi.FLAGS_ENABLE | Msi.FLAGS_QSIZE });
    vc.emulate(offset + Msi.ADDRESS_LO, 4, 0, { wmask: 0xffff_fffc });
    if (this.is64) vc.emulate(offset + 8, 4, 0, { wmask: 0xffff_ffff });
    vc.emulate(this.#dataAt, 2, 0, { wmask: 0xffff });
    if (this.maskable) {
      vc.emulate(this.#dataAt + 2, 2, 0);
      const vectorBits = this.capable >= 32 ? 0xffff_ffff : (1 << this.capable) - 1;
      vc.emulate(this.#maskAt, 4, 0, { wmask: vectorBits });
      vc.emulate(this.#pendingAt, 4, 0);
    }
    vc.onWrite(offset + 2, offset + this.sizeBytes, () => this.#written());
  }

  /** MSI Enable as the guest set it. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Vectors allocated (1 << Multiple Message Enable). */
  get allocated(): number {
    return this.#allocated;
  }

  /** Pending bits (vectors latched while masked). */
  get pendingBits(): number {
    return this.maskable ? this.#vc.get32(this.#pendingAt) : 0;
  }

  /** A host interrupt on vector `v`. */
  deliver(v: number): void {
    if (!this.#enabled || v >= this.#allocated) {
      this.#host.dropped();
      return;
    }
    if (this.maskable && (this.#vc.get32(this.#maskAt) & (1 << v)) !== 0) {
      this.#vc.set(this.#pendingAt, 4, this.#vc.get32(this.#pendingAt) | (1 << v));
      this.#host.latched();
      return;
    }
    this.#send(v);
  }

  /** Back to power-on: disabled, no allocation, address / data / masks / pending zero. */
  reset(): void {
    const vc = this.#vc;
    vc.set(this.offset + Msi.FLAGS, 2, this.#initialFlags);
    vc.set(this.offset + Msi.ADDRESS_LO, 4, 0);
    if (this.is64) vc.set(this.offset + 8, 4, 0);
    vc.set(this.#dataAt, 2, 0);
    if (this.maskable) {
      vc.set(this.#maskAt, 4, 0);
      vc.set(this.#pendingAt, 4, 0);
    }
    this.#enabled = false;
    this.#allocated = 1;
    this.#address = 0n;
    this.#data = 0;
  }

  #send(v: number): void {
    const n = this.#allocated;
    this.#host.send(this.#address, n > 1 ? (this.#data & ~(n - 1)) | v : this.#data);
  }

  #written(): void {
    const vc = this.#vc;
    let flags = vc.get16(this.offset + Msi.FLAGS);
    const capableLog = Math.log2(this.capable);
    if (((flags & Msi.FLAGS_QSIZE) >> 4) > capableLog) {
      flags = (flags & ~Msi.FLAGS_QSIZE) | (capableLog << 4);
      vc.set(this.offset + Msi.FLAGS, 2, flags);
    }
    const lo = vc.get32(this.offset + Msi.ADDRESS_LO);
    const hi = this.is64 ? vc.get32(this.offset + 8) : 0;
    this.#address = (BigInt(hi) << 32n) | BigInt(lo);
    this.#data = vc.get16(this.#dataAt);
    const enabled = (flags & Msi.FLAGS_ENABLE) !== 0;
    const allocated = 1 << ((flags & Msi.FLAGS_QSIZE) >> 4);
    if (enabled !== this.#enabled) this.#host.beforeModeChange();
    const changed = enabled !== this.#enabled || (enabled && allocated !== this.#allocated);
    if (this.#enabled && !enabled && this.maskable) vc.set(this.#pendingAt, 4, 0);
    this.#enabled = enabled;
    this.#allocated = allocated;
    if (changed) this.#host.onModeChange();
    if (!enabled || !this.maskable) return;
    // Unmasked vectors with a latched interrupt fire now, once.
    const mask = vc.get32(this.#maskAt);
    let ready = vc.get32(this.#pendingAt) & ~mask;
    if (allocated < 32) ready &= (1 << allocated) - 1;
    if (ready === 0) return;
    vc.set(this.#pendingAt, 4, vc.get32(this.#pendingAt) & ~ready);
    while (ready !== 0) {
      const low = ready & -ready;
      this.#send(31 - Math.clz32(low));
      ready ^= low;
    }
  }
}
