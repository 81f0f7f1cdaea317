/**
 * Where passed-through functions go on an emulator's PCI bus 0, and where
 * their memory BARs go in guest-physical space, for emulators that cannot
 * follow a guest moving a memory BAR (v86). Pure: the caller says which
 * slots and address blocks are taken; nothing here knows an emulator.
 */
import { PassthroughError } from '../errors.js';
import { parseBdf } from '../types.js';

/** One function to place on bus 0. */
export interface SlotRequest {
  /** Host function (`DDDD:BB:SS.F`), used to keep a host slot's functions together. */
  hostBdf?: string;
  /** Guest slot 0–31 chosen by the caller (overrides the policy). */
  slot?: number;
  /** Guest function number 0–7 with `slot` (default 0). */
  function?: number;
}

/** Guest devfn (`slot << 3 | function`) of each request, in request order. */
export type SlotAssignment = number[];

/** Slots tried first for functions whose host slot cannot be kept (v86 leaves these free). */
const PREFERRED_SLOTS = [0x10, 0x11, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x02, 0x03, 0x04, 0x06, 0x08, 0x09, 0x0d, 0x0e, 0x0f];

/**
 * Assigns a guest devfn on bus 0 to every request.
 *
 * Functions of one host slot stay together in one guest slot with their
 * host function numbers, renumbered from 0 when function 0 is not among them
 * (a guest scans functions 1–7 only when function 0 exists). The guest slot
 * is the host slot when the host bus is 0 and the slot is free, else the
 * first free slot of {@link PREFERRED_SLOTS}, else any free slot.
 * Throws PT_ERR_INVALID_ARGUMENT for a bad or taken explicit slot,
 * PT_ERR_NO_SPACE when bus 0 is full.
 */
export function assignSlots(requests: readonly SlotRequest[], usedDevfns: ReadonlySet<number>): SlotAssignment {
  const usedSlots = new Set([...usedDevfns].map((d) => d >> 3));
  const out: number[] = new Array<number>(requests.length).fill(-1);
  const take = (slot: number): void => void usedSlots.add(slot);

  requests.forEach((r, i) => {
    if (r.slot === undefined) return;
    const fn = r.function ?? 0;
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot > 31 || !Number.isInteger(fn) || fn < 0 || fn > 7) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `guest slot must be 0–31 and function 0–7 (got ${r.slot}.${fn})`, { slot: r.slot, function: fn });
    }
    const devfn = (r.slot << 3) | fn;
    if (usedDevfns.has(devfn) || out.includes(devfn)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `guest slot ${hex2(r.slot)}.${fn} is already taken`, { slot: r.slot, function: fn });
    }
    out[i] = devfn;
  });
  for (const devfn of out) if (devfn >= 0) take(devfn >> 3);

  // Group the remaining requests by host slot (a request without a host BDF is a group of its own).
  const groups = new Map<string, { index: number; hostSlot: number | undefined; hostFn: number }[]>();
  requests.forEach((r, i) => {
    if (out[i]! >= 0) return;
    const p = r.hostBdf === undefined ? undefined : parseBdf(r.hostBdf);
    const key = p === undefined ? `#${i}` : `${p.domain}:${p.bus}:${p.device}`;
    const hostSlot = p !== undefined && p.domain === 0 && p.bus === 0 ? p.device : undefined;
    const list = groups.get(key) ?? [];
    list.push({ index: i, hostSlot, hostFn: p?.function ?? 0 });
    groups.set(key, list);
  });
  for (const members of groups.values()) {
    const want = members[0]!.hostSlot;
    const slot = want !== undefined && !usedSlots.has(want) ? want : freeSlot(usedSlots);
    take(slot);
    const keepNumbers = members.some((m) => m.hostFn === 0);
    const ordered = [...members].sort((a, b) => a.hostFn - b.hostFn);
    ordered.forEach((m, k) => {
      out[m.index] = (slot << 3) | (keepNumbers ? m.hostFn : k);
    });
  }
  return out;
}

function freeSlot(used: ReadonlySet<number>): number {
  for (const s of PREFERRED_SLOTS) if (!used.has(s)) return s;
  for (let s = 1; s < 32; s++) if (!used.has(s)) return s;
  throw new PassthroughError('PT_ERR_NO_SPACE', 'no free slot on the guest PCI bus 0');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** A guest-physical window that memory BARs may be placed in: [start, end). */
export interface AddressWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * Places memory BARs top-down in `window`, each naturally aligned and
 * covering whole blocks of `blockBytes` (the emulator's MMIO dispatch
 * granularity; v86: 128 KiB), on blocks `isFree` accepts and no earlier BAR
 * took. Returns the base address of each size, in order.
 * Throws PT_ERR_INVALID_ARGUMENT for a size that is not a power of two,
 * PT_ERR_NO_SPACE when a BAR does not fit.
 */
export function placeMemoryBars(
  sizesBytes: readonly number[],
  window: AddressWindow,
  blockBytes: number,
  isFree: (block: number) => boolean,
): number[] {
  const taken = new Set<number>();
  // Largest first packs best; results are returned in request order.
  const order = sizesBytes.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const out = new Array<number>(sizesBytes.length).fill(0);
  for (const { s, i } of order) {
    if (!Number.isSafeInteger(s) || s <= 0 || !Number.isInteger(Math.log2(s))) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `BAR size ${s} is not a power of two`, { sizeBytes: s });
    }
    const span = Math.max(s, blockBytes);
    let base = Math.floor((window.end - span) / span) * span;
    let placed = false;
    for (; base >= window.start; base -= span) {
      let ok = true;
      for (let a = base; a < base + span && ok; a += blockBytes) {
        const block = Math.floor(a / blockBytes);
        ok = !taken.has(block) && isFree(block);
      }
      if (!ok) continue;
      for (let a = base; a < base + span; a += blockBytes) taken.add(Math.floor(a / blockBytes));
      out[i] = base;
      placed = true;
      break;
    }
    if (!placed) {
      throw new PassthroughError('PT_ERR_NO_SPACE', `no free guest-physical range for a BAR of ${s} bytes in 0x${window.start.toString(16)}–0x${window.end.toString(16)}`, { sizeBytes: s });
    }
  }
  return out;
}
