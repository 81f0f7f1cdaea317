/**
 * BarWindow: synchronous, width-exact MMIO on one BAR from any thread.
 *
 * Every access is one Atomics.load/store at the exact width on a view built
 * once (Uint8/16/32Array, BigUint64Array; never a byte-assembling view accessor, eco §3.4), after
 * three checks that stay cheap on the hot path:
 *  1. the lease epoch: one PLAIN load of the epoch word, compared with the
 *     epoch this window opened at. Not an Atomics.load: that costs as much as
 *     the MMIO access itself (~4 ns vs ~0.4 ns here, measured), which would put
 *     the window at 2× raw. A plain load is enough because the check does not
 *     carry the safety argument, the lease does (lease.ts): the revoker waits
 *     for the holders count, which this window decrements with an SC
 *     Atomics.sub only after its last access. An access that slips past a
 *     revocation still runs on mapped memory, under a counted lease. The
 *     check only decides how soon a busy holder notices and lets go; if the
 *     JIT ever hoisted it out of a hot loop, that loop would simply keep its
 *     lease and the revoker would time out (PT_ERR_TIMEOUT, BAR left mapped),
 *     never touch unmapped memory.
 *     A released window has epoch 0, which never matches, so release() costs
 *     the hot path nothing extra.
 *  2. bounds and natural alignment (two integer compares),
 *  3. the trap map: one byte per 16 KiB page saying "a trap range touches
 *     this page"; only those pages do the exact range test. A window without
 *     traps skips the map entirely.
 * Accesses inside a trap range (MSI-X table/PBA, a sim register file) go to
 * the {@link SlowPath} instead: a synchronous call to the device worker.
 */
import { argumentValue, invalidArgument, PassthroughError } from '../errors.js';
import { acquireLease, dropLease } from './lease.js';
import { barEpochIndex, controlWords, kLivenessIndex, kLivenessStateMask, Liveness } from './layout.js';
import { livenessError } from './liveness.js';

/** Granularity of the trap map: the host page (HVF maps and QEMU splits mmaps at 16 KiB). */
export const kTrapPageBytes = 16384;
const kTrapPageShift = 14;
/**
 * Largest BAR a window covers, in bytes. Offsets are checked with `>>> 0`
 * (one instruction that also rejects fractions and negatives), which is
 * exact below 4 GiB; larger BARs need a window per 4 GiB slice.
 */
export const kMaxWindowBytes = 0x1_0000_0000;

/** The slow path for trapped ranges: a synchronous call into the device worker. */
export interface SlowPath {
  /** Width-exact read of `width` bytes at `offsetBytes` of BAR `bar`, little endian. */
  read(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8): bigint;
  /** Width-exact write. */
  write(bar: number, offsetBytes: number, width: 1 | 2 | 4 | 8, value: bigint): void;
}

/** Everything a thread needs to open a window on a BAR. Structured-cloneable. */
export interface BarWindowDescriptor {
  /** BAR number 0–5. */
  bar: number;
  /** BAR size in bytes (accesses are bounds-checked against it). */
  sizeBytes: number;
  /** The shared backing store (sim backend). */
  buffer?: SharedArrayBuffer;
  /** Host address of the mapping (real backends); a view is rebuilt in each thread with `viewFactory`. */
  address?: bigint;
  /** Byte ranges with side effects: accesses inside go to the slow path. */
  trapRanges: { offsetBytes: number; lengthBytes: number }[];
  /** The device control block (holds the lease). */
  control: SharedArrayBuffer;
}

/** Dependencies of {@link BarWindow.open}. */
export interface BarWindowDeps {
  /** Where trapped accesses go. Required when the descriptor has trap ranges. */
  slowPath?: SlowPath;
  /** Builds a view of native memory in the calling thread (real backends pass `koffi.view`). */
  viewFactory?: (address: bigint, lengthBytes: number) => ArrayBuffer;
}

type Width = 1 | 2 | 4 | 8;

/** A window on one BAR. See the module comment for the access rules. */
export class BarWindow {
  /** BAR number. */
  readonly bar: number;
  /** BAR size in bytes. */
  readonly sizeBytes: number;

  readonly #u8: Uint8Array;
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  readonly #control: Int32Array;
  readonly #epochIndex: number;
  /** The odd lease epoch this window opened at; 0 once released (0 never matches the epoch word). */
  #epoch: number;
  /** Largest valid offset for each width (−1 when the BAR is smaller than the width). */
  readonly #max1: number;
  readonly #max2: number;
  readonly #max4: number;
  readonly #max8: number;
  /** One byte per 16 KiB page, nonzero when a trap range touches it; null when there are no traps. */
  readonly #trapPages: Uint8Array | null;
  /** Flattened [start, end) pairs of the trap ranges. */
  readonly #trapBounds: Float64Array;
  readonly #slowPath: SlowPath | undefined;

  private constructor(
    desc: BarWindowDescriptor,
    memory: ArrayBufferLike,
    control: Int32Array,
    epochIndex: number,
    epoch: number,
    slowPath: SlowPath | undefined,
  ) {
    this.bar = desc.bar;
    this.sizeBytes = desc.sizeBytes;
    const n = desc.sizeBytes;
    this.#u8 = new Uint8Array(memory, 0, n);
    this.#u16 = new Uint16Array(memory, 0, Math.floor(n / 2));
    this.#u32 = new Uint32Array(memory, 0, Math.floor(n / 4));
    this.#u64 = new BigUint64Array(memory, 0, Math.floor(n / 8));
    this.#control = control;
    this.#epochIndex = epochIndex;
    this.#epoch = epoch;
    this.#max1 = n - 1;
    this.#max2 = n - 2;
    this.#max4 = n - 4;
    this.#max8 = n - 8;
    this.#slowPath = slowPath;
    const traps = desc.trapRanges;
    this.#trapBounds = new Float64Array(traps.length * 2);
    if (traps.length === 0) {
      this.#trapPages = null;
    } else {
      const pages = new Uint8Array(Math.ceil(n / kTrapPageBytes));
      traps.forEach((r, i) => {
        this.#trapBounds[2 * i] = r.offsetBytes;
        this.#trapBounds[2 * i + 1] = r.offsetBytes + r.lengthBytes;
        const first = Math.floor(r.offsetBytes / kTrapPageBytes);
        const last = Math.floor((r.offsetBytes + r.lengthBytes - 1) / kTrapPageBytes);
        for (let p = first; p <= last && p < pages.length; p++) pages[p] = 1;
      });
      this.#trapPages = pages;
    }
  }

  /**
   * Opens a window on a BAR and takes a lease on it.
   * Throws PT_ERR_INVALID_ARGUMENT for a bad descriptor (no memory, memory smaller than
   * sizeBytes, trap ranges outside the BAR or without a slow path, bad control block),
   * PT_ERR_OUT_OF_RANGE for a BAR number outside 0–5,
   * PT_ERR_BAR_RELEASED when the BAR is revoked.
   */
  static open(desc: BarWindowDescriptor, deps: BarWindowDeps = {}): BarWindow {
    if (desc === null || typeof desc !== 'object') throw invalidArgument('desc', desc, 'a BAR window descriptor must be an object');
    if (deps === null || typeof deps !== 'object') throw invalidArgument('deps', deps, 'BAR window deps must be an object');
    const control = controlWords(desc.control);
    const ctx = { region: desc.bar, sizeBytes: desc.sizeBytes };
    if (!Number.isSafeInteger(desc.sizeBytes) || desc.sizeBytes <= 0 || desc.sizeBytes > kMaxWindowBytes) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'BAR window size must be an integer in 1..4 GiB', ctx);
    }
    let memory: ArrayBufferLike;
    if (desc.buffer !== undefined) {
      memory = desc.buffer;
    } else if (desc.address !== undefined) {
      if (deps.viewFactory === undefined) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'BAR window over a host address needs a viewFactory (open the fast path with loadFastPath(descriptor), which loads the descriptor\'s view factory)', ctx);
      }
      memory = deps.viewFactory(desc.address, desc.sizeBytes);
    } else {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'BAR window descriptor has neither buffer nor address', ctx);
    }
    if (memory.byteLength < desc.sizeBytes) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'BAR memory is smaller than the BAR', {
        ...ctx,
        memoryBytes: memory.byteLength,
      });
    }
    if (!Array.isArray(desc.trapRanges)) throw invalidArgument('trapRanges', desc.trapRanges, 'trapRanges must be an array', ctx);
    for (const r of desc.trapRanges) {
      if (r === null || typeof r !== 'object') throw invalidArgument('trapRanges', r, 'a trap range must be { offsetBytes, lengthBytes }', ctx);
      if (
        !Number.isSafeInteger(r.offsetBytes) ||
        !Number.isSafeInteger(r.lengthBytes) ||
        r.offsetBytes < 0 ||
        r.lengthBytes <= 0 ||
        r.offsetBytes + r.lengthBytes > desc.sizeBytes
      ) {
        throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'trap range lies outside the BAR', {
          ...ctx,
          offsetBytes: r.offsetBytes,
          lengthBytes: r.lengthBytes,
        });
      }
    }
    if (desc.trapRanges.length > 0 && deps.slowPath === undefined) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'BAR window with trap ranges needs a slow path', ctx);
    }
    const epoch = acquireLease(control, desc.bar);
    try {
      return new BarWindow(desc, memory, control, barEpochIndex(desc.bar), epoch, deps.slowPath);
    } catch (e) {
      dropLease(control, desc.bar);
      throw e;
    }
  }

  /** True once released (by {@link release} or by noticing a revocation). */
  get released(): boolean {
    return Atomics.load(this.#control, this.#epochIndex) !== this.#epoch;
  }

  /** Gives the lease back. Later accesses throw PT_ERR_BAR_RELEASED. Idempotent. */
  release(): void {
    if (this.#epoch === 0) return;
    this.#epoch = 0;
    dropLease(this.#control, this.bar);
  }

  /** 8-bit read. Throws PT_ERR_BAR_RELEASED, PT_ERR_OUT_OF_RANGE. */
  read8(offsetBytes: number): number {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || offsetBytes > this.#max1 || (offsetBytes >>> 0) !== offsetBytes) this.#throwBad(offsetBytes, 1);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 1)) return Number(this.#slow(offsetBytes, 1));
    return Atomics.load(this.#u8, offsetBytes);
  }

  /** 16-bit read (2-byte aligned). Throws PT_ERR_BAR_RELEASED, PT_ERR_OUT_OF_RANGE, PT_ERR_ALIGNMENT. */
  read16(offsetBytes: number): number {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max2 || (offsetBytes & 1) !== 0) this.#throwBad(offsetBytes, 2);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 2)) return Number(this.#slow(offsetBytes, 2));
    return Atomics.load(this.#u16, offsetBytes >>> 1);
  }

  /** 32-bit read (4-byte aligned). Throws PT_ERR_BAR_RELEASED, PT_ERR_OUT_OF_RANGE, PT_ERR_ALIGNMENT. */
  read32(offsetBytes: number): number {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max4 || (offsetBytes & 3) !== 0) this.#throwBad(offsetBytes, 4);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 4)) return Number(this.#slow(offsetBytes, 4));
    return Atomics.load(this.#u32, offsetBytes >>> 2);
  }

  /** 64-bit read (8-byte aligned). Throws PT_ERR_BAR_RELEASED, PT_ERR_OUT_OF_RANGE, PT_ERR_ALIGNMENT. */
  read64(offsetBytes: number): bigint {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max8 || (offsetBytes & 7) !== 0) this.#throwBad(offsetBytes, 8);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 8)) return this.#slow(offsetBytes, 8);
    return Atomics.load(this.#u64, offsetBytes >>> 3);
  }

  /**
   * 8-bit write (an integer in −2^31..2^32−1, truncated to 8 bits). Same
   * errors as {@link read8}, and PT_ERR_INVALID_ARGUMENT for another value
   * (bigint, NaN, a fraction, out of range, not a number).
   */
  write8(offsetBytes: number, value: number): void {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || offsetBytes > this.#max1 || (offsetBytes >>> 0) !== offsetBytes) this.#throwBad(offsetBytes, 1);
    if (typeof value !== 'number' || (value & 0xff) !== value) value = checkValue(value, 8, this.bar, offsetBytes);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 1)) return this.#slowWrite(offsetBytes, 1, BigInt(value & 0xff));
    Atomics.store(this.#u8, offsetBytes, value);
  }

  /** 16-bit write (truncated to 16 bits). Same errors as {@link read16}, and PT_ERR_INVALID_ARGUMENT as {@link write8}. */
  write16(offsetBytes: number, value: number): void {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max2 || (offsetBytes & 1) !== 0) this.#throwBad(offsetBytes, 2);
    if (typeof value !== 'number' || (value & 0xffff) !== value) value = checkValue(value, 16, this.bar, offsetBytes);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 2)) return this.#slowWrite(offsetBytes, 2, BigInt(value & 0xffff));
    Atomics.store(this.#u16, offsetBytes >>> 1, value);
  }

  /** 32-bit write (−2^31..2^32−1). Same errors as {@link read32}, and PT_ERR_INVALID_ARGUMENT as {@link write8}. */
  write32(offsetBytes: number, value: number): void {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max4 || (offsetBytes & 3) !== 0) this.#throwBad(offsetBytes, 4);
    if (typeof value !== 'number' || (value >>> 0) !== value) value = checkValue(value, 32, this.bar, offsetBytes);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 4)) return this.#slowWrite(offsetBytes, 4, BigInt(value >>> 0));
    Atomics.store(this.#u32, offsetBytes >>> 2, value);
  }

  /** 64-bit write of a bigint in −2^63..2^64−1. Same errors as {@link read64}, and PT_ERR_INVALID_ARGUMENT for another value. */
  write64(offsetBytes: number, value: bigint): void {
    if (this.#control[this.#epochIndex] !== this.#epoch) this.#throwReleased();
    if (typeof offsetBytes !== 'number' || (offsetBytes >>> 0) !== offsetBytes || offsetBytes > this.#max8 || (offsetBytes & 7) !== 0) this.#throwBad(offsetBytes, 8);
    if (typeof value !== 'bigint' || value > kMaxU64 || value < kMinI64) badValue(value, 64, this.bar, offsetBytes);
    if (this.#trapPages !== null && this.#trapped(offsetBytes, 8)) return this.#slowWrite(offsetBytes, 8, BigInt.asUintN(64, value));
    Atomics.store(this.#u64, offsetBytes >>> 3, value);
  }

  /** True when `[off, off+width)` overlaps a trap range. Only called for windows with traps. */
  #trapped(offsetBytes: number, width: Width): boolean {
    if (this.#trapPages![offsetBytes >>> kTrapPageShift] === 0) return false;
    const b = this.#trapBounds;
    for (let i = 0; i < b.length; i += 2) {
      if (offsetBytes < b[i + 1]! && offsetBytes + width > b[i]!) return true;
    }
    return false;
  }

  #slow(offsetBytes: number, width: Width): bigint {
    return this.#slowPath!.read(this.bar, offsetBytes, width);
  }

  #slowWrite(offsetBytes: number, width: Width, value: bigint): void {
    this.#slowPath!.write(this.bar, offsetBytes, width, value);
  }

  #throwReleased(): never {
    // A busy holder that sees the revocation lets go of its lease itself, so
    // the revoker is not kept waiting on a thread that will never call release().
    this.release();
    // Revoked because the device is gone for good: say why (a remap or restart stays PT_ERR_BAR_RELEASED).
    const live = Atomics.load(this.#control, kLivenessIndex);
    const state = live & kLivenessStateMask;
    if (state === Liveness.DETACHED || state === Liveness.DEVICE_GONE) {
      const e = livenessError(live, live, { region: this.bar });
      if (e !== undefined) throw e;
    }
    throw new PassthroughError('PT_ERR_BAR_RELEASED', `BAR${this.bar} has been released`, { region: this.bar });
  }

  #throwBad(offsetBytes: number, width: Width): never {
    if (typeof offsetBytes !== 'number' || Number.isNaN(offsetBytes)) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `BAR${this.bar} offset must be a number`, {
        region: this.bar,
        width,
        param: 'offsetBytes',
        value: argumentValue(offsetBytes),
        errno: 'EINVAL',
      });
    }
    // errno: what QEMU's region read/write returns for the same access (-EINVAL).
    const ctx = { region: this.bar, bar: this.bar, offsetBytes, width, sizeBytes: this.sizeBytes, errno: 'EINVAL' as const };
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes + width > this.sizeBytes) {
      throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `BAR${this.bar} access of ${width} byte(s) at ${offsetBytes} is out of range`, ctx);
    }
    throw new PassthroughError('PT_ERR_ALIGNMENT', `BAR${this.bar} access of ${width} byte(s) at ${offsetBytes} is misaligned`, ctx);
  }
}

const kMaxU64 = 0xffff_ffff_ffff_ffffn;
const kMinI64 = -0x8000_0000_0000_0000n;

/**
 * The slow branch of a write's value check (the value is not already in
 * 0..2^bits−1): any integer that fits 32 bits (−2^31..2^32−1) is accepted and
 * truncated to the width, as before (a register write of `~x` or of a wider
 * value is common); anything else (bigint, NaN, ±Infinity, a fraction, a
 * larger number, not a number) throws PT_ERR_INVALID_ARGUMENT.
 */
function checkValue(value: unknown, bits: 8 | 16 | 32, bar: number, offsetBytes: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= -0x8000_0000 && value <= 0xffff_ffff) return value;
  return badValue(value, bits, bar, offsetBytes);
}

function badValue(value: unknown, bits: number, bar: number, offsetBytes: number): never {
  const what = bits === 64 ? 'a bigint in −2^63..2^64−1' : 'an integer in −2^31..2^32−1 (truncated to the width)';
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `BAR${bar} write value must be ${what}`, {
    region: bar,
    offsetBytes,
    width: bits / 8,
    param: 'value',
    value: argumentValue(value),
    errno: 'EINVAL',
  });
}
