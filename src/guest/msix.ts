/**
 * MSI-X in the guest's view (QEMU hw/pci/msix.c semantics, as vfio-pci
 * exposes it): the capability's Message Control is emulated (Enable,
 * Function Mask; table size, table and PBA locations read as the device's),
 * and the table and PBA inside their BARs are the layer's own memory: guest
 * accesses there never reach the device. The host's own table stays as the
 * device worker programmed it; host vectors are enabled as a whole when the
 * guest enables MSI-X (`onModeChange` → GuestHostControl.setIrqs).
 *
 * A host interrupt on vector v:
 * - MSI-X disabled, or v outside the table: dropped (counted);
 * - masked (function mask, or the entry's mask bit): its PBA bit is set;
 * - else one message with the entry's address and data.
 * When a vector becomes unmasked (entry or function mask cleared, or MSI-X
 * enabled) and its PBA bit is set, the bit clears and the message is sent:
 * every host interrupt reaches the guest once, none twice. Disabling MSI-X
 * clears the PBA. Entries power on masked; the PBA is read-only.
 */
import { CapId, Msix } from '../pci/config-space.js';
import type { MsixCapability } from '../vfio/pci-caps.js';
import { pbaBytes } from '../vfio/pci-caps.js';
import type { VirtualConfig } from './config-space.js';
import type { MsiHost } from './msi.js';

const kCtrlMasked = 1;

/** The emulated MSI-X capability, table and PBA of one function. */
export class MsixEmulation {
  readonly offset: number;
  readonly entries: number;
  readonly tableBar: number;
  readonly tableOffset: number;
  readonly tableBytes: number;
  readonly pbaBar: number;
  readonly pbaOffset: number;
  readonly pbaBytes: number;
  readonly #vc: VirtualConfig;
  readonly #host: MsiHost;
  /** 4 words per entry: address low, address high, data, vector control. */
  readonly #table: Uint32Array;
  readonly #tableBytes: Uint8Array;
  /** Pending bits, 32 per word (the PBA's 64-bit words, little endian). */
  readonly #pba: Uint32Array;
  readonly #pbaBytesView: Uint8Array;
  readonly #initialFlags: number;
  #enabled = false;
  #functionMasked = false;

  constructor(vc: VirtualConfig, cap: MsixCapability, host: MsiHost) {
    this.#vc = vc;
    this.#host = host;
    this.offset = cap.offset;
    this.entries = cap.tableSize;
    this.tableBar = cap.tableBar;
    this.tableOffset = cap.tableOffset;
    this.tableBytes = cap.tableSize * Msix.ENTRY_BYTES;
    this.pbaBar = cap.pbaBar;
    this.pbaOffset = cap.pbaOffset;
    this.pbaBytes = pbaBytes(cap.tableSize);
    this.#table = new Uint32Array(this.entries * 4);
    this.#tableBytes = new Uint8Array(this.#table.buffer);
    this.#pba = new Uint32Array(this.pbaBytes / 4);
    this.#pbaBytesView = new Uint8Array(this.#pba.buffer);
    this.#initialFlags = (cap.tableSize - 1) & Msix.FLAGS_QSIZE;
    vc.emulate(cap.offset, 1, CapId.MSIX);
    vc.emulate(cap.offset + Msix.FLAGS, 2, this.#initialFlags, { wmask: Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL });
    vc.emulate(cap.offset + Msix.TABLE, 4, (cap.tableOffset | cap.tableBar) >>> 0);
    vc.emulate(cap.offset + Msix.PBA, 4, (cap.pbaOffset | cap.pbaBar) >>> 0);
    vc.onWrite(cap.offset + Msix.FLAGS, cap.offset + Msix.FLAGS + 2, () => this.#flagsWritten());
    this.reset();
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get functionMasked(): boolean {
    return this.#functionMasked;
  }

  /** True when the guest has vector `v` masked (function or entry), or MSI-X is disabled. */
  isMasked(v: number): boolean {
    return !this.#enabled || this.#functionMasked || (this.#table[4 * v + 3]! & kCtrlMasked) !== 0;
  }

  /** True when PBA bit `v` is set. */
  isPending(v: number): boolean {
    return (this.#pba[v >>> 5]! & (1 << (v & 31))) !== 0;
  }

  /** A host interrupt on vector `v`. */
  deliver(v: number): void {
    if (!this.#enabled || v >= this.entries) {
      this.#host.dropped();
      return;
    }
    if (this.#functionMasked || (this.#table[4 * v + 3]! & kCtrlMasked) !== 0) {
      this.#pba[v >>> 5] = this.#pba[v >>> 5]! | (1 << (v & 31));
      this.#host.latched();
      return;
    }
    this.#send(v);
  }

  /** Guest read of `size` bytes at `off` inside the table (any width; little endian). */
  readTable(off: number, size: 1 | 2 | 4 | 8): bigint {
    return readLe(this.#tableBytes, off, size);
  }

  /** Guest read inside the PBA. */
  readPba(off: number, size: 1 | 2 | 4 | 8): bigint {
    return readLe(this.#pbaBytesView, off, size);
  }

  /** Guest write inside the table; an entry it unmasks fires if pending. */
  writeTable(off: number, size: 1 | 2 | 4 | 8, value: bigint): void {
    const first = Math.floor(off / Msix.ENTRY_BYTES);
    const last = Math.floor((off + size - 1) / Msix.ENTRY_BYTES);
    const wasMasked: boolean[] = [];
    for (let e = first; e <= last && e < this.entries; e++) wasMasked.push(this.isMasked(e));
    writeLe(this.#tableBytes, off, size, value);
    for (let e = first; e <= last && e < this.entries; e++) {
      // Reserved control bits read 0: only the mask bit is kept.
      this.#table[4 * e + 3] = this.#table[4 * e + 3]! & kCtrlMasked;
      if (wasMasked[e - first] && !this.isMasked(e)) this.#flush(e);
    }
  }

  /** Back to power-on: disabled, function unmasked, every entry masked and zero, PBA clear. */
  reset(): void {
    this.#table.fill(0);
    for (let e = 0; e < this.entries; e++) this.#table[4 * e + 3] = kCtrlMasked;
    this.#pba.fill(0);
    this.#vc.set(this.offset + Msix.FLAGS, 2, this.#initialFlags);
    this.#enabled = false;
    this.#functionMasked = false;
  }

  #send(v: number): void {
    const t = this.#table;
    this.#host.send((BigInt(t[4 * v + 1]!) << 32n) | BigInt(t[4 * v]!), t[4 * v + 2]!);
  }

  /** Sends vector `e` if it is pending (and clears its PBA bit). */
  #flush(e: number): void {
    const word = e >>> 5;
    const bit = 1 << (e & 31);
    if ((this.#pba[word]! & bit) === 0) return;
    this.#pba[word] = this.#pba[word]! & ~bit;
    this.#send(e);
  }

  #flagsWritten(): void {
    const flags = this.#vc.get16(this.offset + Msix.FLAGS);
    const enabled = (flags & Msix.FLAGS_ENABLE) !== 0;
    const wasEnabled = this.#enabled;
    if (enabled !== wasEnabled) this.#host.beforeModeChange();
    const wasFunctionMasked = this.#functionMasked;
    this.#enabled = enabled;
    this.#functionMasked = (flags & Msix.FLAGS_MASKALL) !== 0;
    if (wasEnabled && !enabled) this.#pba.fill(0);
    if (wasEnabled !== enabled) this.#host.onModeChange();
    const nowOpen = enabled && !this.#functionMasked;
    const wasOpen = wasEnabled && !wasFunctionMasked;
    if (!nowOpen || wasOpen) return;
    for (let w = 0; w < this.#pba.length; w++) {
      let bits = this.#pba[w]!;
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const e = 32 * w + 31 - Math.clz32(low);
        if ((this.#table[4 * e + 3]! & kCtrlMasked) === 0) this.#flush(e);
      }
    }
  }
}

function readLe(bytes: Uint8Array, off: number, size: number): bigint {
  if (size === 4 && (off & 3) === 0) {
    return BigInt((bytes[off]! | (bytes[off + 1]! << 8) | (bytes[off + 2]! << 16) | (bytes[off + 3]! << 24)) >>> 0);
  }
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i] ?? 0);
  return v;
}

function writeLe(bytes: Uint8Array, off: number, size: number, value: bigint): void {
  for (let i = 0; i < size; i++) {
    if (off + i < bytes.length) bytes[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
}
