/**
 * Guest physical memory as the DMA companion sees it: reads and writes by
 * GPA, and the host address of a GPA range when that range is contiguous
 * in the host (the dext registers host VAs). {@link SabGuestMemory} backs
 * it with SharedArrayBuffers exposed to the sim's host address space.
 */
import { PassthroughError } from '../errors.js';
import type { HostVa } from '../types.js';

/** Guest memory by guest physical address. */
export interface GuestMemory {
  /** `len` bytes at `gpa`, or undefined when any byte is not guest RAM. */
  read(gpa: bigint, len: number): Uint8Array | undefined;
  /** Writes `bytes` at `gpa`; false (nothing written) when any byte is not guest RAM. */
  write(gpa: bigint, bytes: Uint8Array): boolean;
  /** Host address of `[gpa, gpa+len)` when it is one contiguous host range, else undefined. */
  hostVa(gpa: bigint, len: number): HostVa | undefined;
}

/** One RAM slot: `lengthBytes` of `buffer` from `offsetBytes`, at guest `gpa` and host `hostVa`. */
export interface GuestRamSlot {
  gpa: bigint;
  buffer: SharedArrayBuffer;
  offsetBytes: number;
  lengthBytes: number;
  /** Where the slot's first byte is in the host (e.g. from the sim's hostMemory.expose). */
  hostVa: HostVa;
}

/** Guest RAM made of SAB slots (like QEMU RAM blocks). Slots must not overlap in GPA. */
export class SabGuestMemory implements GuestMemory {
  readonly #slots: GuestRamSlot[] = [];

  constructor(slots: GuestRamSlot[] = []) {
    for (const s of slots) this.addSlot(s);
  }

  /** Adds a slot. Throws PT_ERR_INVALID_ARGUMENT when it overlaps another or leaves its buffer. */
  addSlot(slot: GuestRamSlot): void {
    const end = slot.gpa + BigInt(slot.lengthBytes);
    if (slot.lengthBytes <= 0 || slot.offsetBytes < 0 || slot.offsetBytes + slot.lengthBytes > slot.buffer.byteLength) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'guest RAM slot outside its buffer', {
        offsetBytes: slot.offsetBytes,
        sizeBytes: slot.lengthBytes,
      });
    }
    for (const s of this.#slots) {
      if (slot.gpa < s.gpa + BigInt(s.lengthBytes) && s.gpa < end) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'guest RAM slots overlap', { iova: slot.gpa });
      }
    }
    this.#slots.push(slot);
    this.#slots.sort((a, b) => (a.gpa < b.gpa ? -1 : a.gpa > b.gpa ? 1 : 0));
  }

  #slotAt(gpa: bigint): GuestRamSlot | undefined {
    return this.#slots.find((s) => gpa >= s.gpa && gpa < s.gpa + BigInt(s.lengthBytes));
  }

  /** Visits the pieces of `[gpa, gpa+len)`; false when a byte is not RAM. */
  #pieces(gpa: bigint, len: number, fn: (slot: GuestRamSlot, slotOff: number, pos: number, n: number) => void): boolean {
    if (len < 0) return false;
    const plan: [GuestRamSlot, number, number, number][] = [];
    let pos = 0;
    while (pos < len) {
      const at = gpa + BigInt(pos);
      const slot = this.#slotAt(at);
      if (slot === undefined) return false;
      const slotOff = Number(at - slot.gpa);
      const n = Math.min(len - pos, slot.lengthBytes - slotOff);
      plan.push([slot, slotOff, pos, n]);
      pos += n;
    }
    for (const p of plan) fn(...p);
    return true;
  }

  read(gpa: bigint, len: number): Uint8Array | undefined {
    const out = new Uint8Array(len);
    const ok = this.#pieces(gpa, len, (slot, slotOff, pos, n) => {
      out.set(new Uint8Array(slot.buffer, slot.offsetBytes + slotOff, n), pos);
    });
    return ok ? out : undefined;
  }

  write(gpa: bigint, bytes: Uint8Array): boolean {
    return this.#pieces(gpa, bytes.length, (slot, slotOff, pos, n) => {
      new Uint8Array(slot.buffer, slot.offsetBytes + slotOff, n).set(bytes.subarray(pos, pos + n));
    });
  }

  hostVa(gpa: bigint, len: number): HostVa | undefined {
    const slot = this.#slotAt(gpa);
    if (slot === undefined || len <= 0) return undefined;
    const slotOff = gpa - slot.gpa;
    if (slotOff + BigInt(len) > BigInt(slot.lengthBytes)) return undefined;
    return ((slot.hostVa as bigint) + slotOff) as HostVa;
  }
}
