/**
 * Interrupt notification without a syscall per interrupt: an io_uring with
 * one multishot POLL_ADD per vector eventfd. Each eventfd_signal (one per
 * MSI/INTx that vfio-pci forwards) posts a completion into the CQ ring, which
 * is shared memory: the waiter sees it with an Atomics.load on a view of the
 * ring, with no read() of the eventfd and no poll() when it is already there.
 * The ring fd itself is pollable (readable while completions are queued), so
 * blocking waits still poll() it together with the wake eventfd.
 *
 * Opt-in with PCIPT_LINUX_IRQ_WAIT=io_uring. Needs io_uring (Linux 5.13+ for
 * multishot poll); {@link UringWatch.open} returns undefined when it is not
 * asked for or the kernel refuses, and the caller reads the eventfds instead.
 */
import { libc, type LibcBindings } from './libc.js';
import { getU32, Libc, putU32, putU64 } from './vfio-abi.js';

/** IORING_* constants (include/uapi/linux/io_uring.h). */
const Uring = {
  PARAMS_BYTES: 120,
  SQE_BYTES: 64,
  CQE_BYTES: 16,
  OFF_SQ_RING: 0n,
  OFF_SQES: 0x1000_0000n,
  FEAT_SINGLE_MMAP: 1 << 0,
  OP_POLL_ADD: 6,
  POLL_ADD_MULTI: 1 << 0,
  CQE_F_MORE: 1 << 1,
} as const;

/** True when PCIPT_LINUX_IRQ_WAIT=io_uring asks for io_uring interrupt waits. */
export function uringRequested(): boolean {
  return process.env.PCIPT_LINUX_IRQ_WAIT === 'io_uring';
}

/** A vector eventfd to watch; `token` comes back with each completion. */
export interface WatchedFd {
  fd: number;
  token: number;
}

/** An io_uring watching a fixed set of eventfds. */
export class UringWatch {
  readonly ringFd: number;
  readonly #lc: LibcBindings;
  readonly #ringAddr: bigint;
  readonly #ringBytes: number;
  readonly #sqesAddr: bigint;
  readonly #sqesBytes: number;
  readonly #u32: Uint32Array;
  readonly #sqes: Uint8Array;
  readonly #cqHead: number;
  readonly #cqTail: number;
  readonly #cqMask: number;
  readonly #cqes: number;
  readonly #sqTail: number;
  readonly #sqMask: number;
  readonly #sqArray: number;
  readonly #fds: readonly WatchedFd[];
  #closed = false;

  private constructor(lc: LibcBindings, ringFd: number, params: Uint8Array, fds: readonly WatchedFd[]) {
    this.#lc = lc;
    this.ringFd = ringFd;
    this.#fds = fds;
    const sqEntries = getU32(params, 0);
    const cqEntries = getU32(params, 4);
    // io_sqring_offsets at 40, io_cqring_offsets at 80 (each u32 fields).
    const sqOff = (i: number) => getU32(params, 40 + 4 * i);
    const cqOff = (i: number) => getU32(params, 80 + 4 * i);
    this.#ringBytes = Math.max(sqOff(6) + sqEntries * 4, cqOff(5) + cqEntries * Uring.CQE_BYTES);
    this.#sqesBytes = sqEntries * Uring.SQE_BYTES;
    const prot = Libc.PROT_READ | Libc.PROT_WRITE;
    const MAP_POPULATE = 0x8000;
    // SAFETY: maps the rings of our own io_uring fd; unmapped in close() after the views are dropped.
    this.#ringAddr = lc.mmap(this.#ringBytes, prot, Libc.MAP_SHARED | MAP_POPULATE, ringFd, Uring.OFF_SQ_RING);
    this.#sqesAddr = lc.mmap(this.#sqesBytes, prot, Libc.MAP_SHARED | MAP_POPULATE, ringFd, Uring.OFF_SQES);
    if (this.#ringAddr === Libc.MAP_FAILED || this.#sqesAddr === Libc.MAP_FAILED) throw new Error('io_uring mmap failed');
    this.#u32 = new Uint32Array(lc.view(this.#ringAddr, this.#ringBytes));
    this.#sqes = new Uint8Array(lc.view(this.#sqesAddr, this.#sqesBytes));
    this.#sqTail = sqOff(1) >> 2;
    this.#sqMask = this.#u32[sqOff(2) >> 2]!;
    this.#sqArray = sqOff(6) >> 2;
    this.#cqHead = cqOff(0) >> 2;
    this.#cqTail = cqOff(1) >> 2;
    this.#cqMask = this.#u32[cqOff(2) >> 2]!;
    this.#cqes = cqOff(5);
  }

  /**
   * Sets up a ring watching `fds` (each armed with a multishot poll).
   * Returns undefined when io_uring is unavailable (old kernel, disabled, seccomp).
   */
  static open(fds: readonly WatchedFd[], lc: LibcBindings = libc()): UringWatch | undefined {
    // Opt-in: in the TCG guest benchmarks it measured no faster than reading the eventfds
    // (the completion is posted by task_work in the waiter's context), so it is not the default.
    if (!uringRequested()) return undefined;
    const params = new Uint8Array(Uring.PARAMS_BYTES);
    const entries = Math.max(8, 1 << Math.ceil(Math.log2(Math.max(1, fds.length))));
    const ringFd = lc.ioUringSetup(entries, params);
    if (ringFd < 0) return undefined;
    // The shared SQ/CQ ring mapping needs IORING_FEAT_SINGLE_MMAP (5.4+).
    if ((getU32(params, 20) & Uring.FEAT_SINGLE_MMAP) === 0) {
      lc.close(ringFd);
      return undefined;
    }
    let w: UringWatch;
    try {
      w = new UringWatch(lc, ringFd, params, fds);
    } catch {
      lc.close(ringFd);
      return undefined;
    }
    if (!w.#armAll()) {
      w.close();
      return undefined;
    }
    return w;
  }

  /** Queues a multishot POLL_ADD for each fd (clearing the eventfd first) and submits. */
  #armAll(): boolean {
    const scratch = new Uint8Array(8);
    for (let i = 0; i < this.#fds.length; i++) {
      // An eventfd left readable would post a completion at arm time: clear it first. A signal
      // that lands between this read and the arm is seen by the arm's own check.
      this.#lc.read(this.#fds[i]!.fd, scratch, 8);
      this.#queuePoll(this.#fds[i]!, i);
    }
    if (this.#fds.length === 0) return true;
    return this.#lc.ioUringEnter(this.ringFd, this.#fds.length, 0, 0) === this.#fds.length;
  }

  #queuePoll(w: WatchedFd, slot: number): void {
    const tail = Atomics.load(this.#u32, this.#sqTail);
    const ring = tail & this.#sqMask;
    const sqeIndex = slot & this.#sqMask;
    const o = sqeIndex * Uring.SQE_BYTES;
    this.#sqes.fill(0, o, o + Uring.SQE_BYTES);
    this.#sqes[o] = Uring.OP_POLL_ADD;
    putU32(this.#sqes, o + 4, w.fd >>> 0);
    putU32(this.#sqes, o + 24, Uring.POLL_ADD_MULTI);
    putU32(this.#sqes, o + 28, Libc.POLLIN);
    putU64(this.#sqes, o + 32, BigInt(slot));
    this.#u32[this.#sqArray + ring] = sqeIndex;
    Atomics.store(this.#u32, this.#sqTail, (tail + 1) >>> 0);
  }

  /** True when completions are queued (one Atomics pair, no syscall). */
  pending(): boolean {
    if (this.#closed) return false;
    return Atomics.load(this.#u32, this.#cqHead) !== Atomics.load(this.#u32, this.#cqTail);
  }

  /**
   * Consumes every queued completion; sets `hit[token] = 1` for each. Re-arms a
   * poll the kernel ended (no CQE_F_MORE). Returns the number of completions.
   */
  drain(hit: Uint8Array): number {
    if (this.#closed) return 0;
    let head = Atomics.load(this.#u32, this.#cqHead);
    const tail = Atomics.load(this.#u32, this.#cqTail);
    if (head === tail) return 0;
    let n = 0;
    let rearm = 0;
    const u32 = this.#u32;
    while (head !== tail) {
      const o = (this.#cqes >> 2) + (head & this.#cqMask) * (Uring.CQE_BYTES >> 2);
      const slot = u32[o]!; // user_data low half (slots are small)
      const flags = u32[o + 3]!;
      const res = u32[o + 2]! | 0;
      if (slot < this.#fds.length) {
        if (res >= 0) hit[this.#fds[slot]!.token] = 1;
        if ((flags & Uring.CQE_F_MORE) === 0 && !this.#closed) {
          this.#queuePoll(this.#fds[slot]!, slot);
          rearm++;
        }
      }
      head = (head + 1) >>> 0;
      n++;
    }
    Atomics.store(u32, this.#cqHead, head);
    if (rearm > 0) this.#lc.ioUringEnter(this.ringFd, rearm, 0, 0);
    return n;
  }

  /** Tears the ring down (cancels every poll). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lc.munmap(this.#ringAddr, this.#ringBytes);
    this.#lc.munmap(this.#sqesAddr, this.#sqesBytes);
    this.#lc.close(this.ringFd);
  }
}
