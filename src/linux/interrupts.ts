/**
 * The linux interrupt source: one eventfd per enabled vector (VFIO_DEVICE_SET_IRQS
 * routes each vector to its eventfd), plus a wake eventfd so that every wait
 * can be ended from outside.
 *
 * - {@link LinuxInterruptSource.nextSync}: poll() on all of them (a pump thread).
 * - {@link LinuxInterruptSource.next}: a non-blocking drain first, then poll() on
 *   koffi's async worker with a bounded timeout, so the calling thread's event
 *   loop keeps running.
 * Draining reads each ready eventfd (clearing its counter) and delivers its
 * vector to the sink of its index, lowest index and vector first.
 *
 * The device worker does not wait here itself: it hands the vectors to a
 * dedicated IRQ pump thread ({@link LinuxInterruptSource.pumpDescriptor} →
 * {@link createLinuxPumpSource} in src/actors/irq-pump.worker.ts), which blocks
 * in the kernel (design §3). Eventfd numbers are process-wide, so the pump thread
 * waits on the same fds; after the hand-off this source never reads them again
 * (exactly one reader), and next() stays for direct callers (tests, benches).
 *
 * How the pump thread waits (the descriptor's `mode`): with one vector
 * ('read'), a blocking read() of that eventfd: one system call per interrupt,
 * the fewest instructions between the MSI and the IrqLine raise. Its wake-up is
 * a count of {@link PUMP_WAKE_COUNT} written to the same eventfd (a counter,
 * so it cannot be lost; the pump delivers the low 32 bits and returns on the
 * high ones). With several vectors ('poll'), poll() on them plus the wake
 * eventfd, then a read of each ready one.
 */
import type { IrqSink, InterruptSource } from '../vfio/device-io-ops.js';
import { IrqIndex } from '../vfio/device-io-ops.js';
import { PassthroughError } from '../errors.js';
import { trace, traceEnabled } from '../trace.js';
import { errnoError } from './errno.js';
import { libc, type LibcBindings } from './libc.js';
import { UringWatch, uringRequested } from './uring-watch.js';
import { Libc, packPollfds } from './vfio-abi.js';

/** Longest single async poll; next() re-polls after it, so closing never waits longer. */
const ASYNC_POLL_SLICE_MS = 250;
/** Up to this many vectors, nextSync tries a read of each eventfd before polling (not in a pump thread). */
const READ_FIRST_MAX_VECTORS = 4;
/**
 * What a wake adds to a 'read'-mode pump's eventfd: 2^32, so the count read
 * back splits into interrupts (low 32 bits) and wakes (high 32 bits).
 */
const PUMP_WAKE_COUNT = new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]);

interface VectorEntry {
  index: number;
  vector: number;
  fd: number;
  sink: IrqSink;
}

const MODE_NAMES = ['intx', 'msi', 'msix', 'err', 'req'];

/**
 * What a pump thread needs to wait on a linux device's vectors. Structured-
 * cloneable: fd numbers are valid in every thread of the process. The fds stay
 * owned by the device (its worker closes them after the pump thread ended).
 */
export interface LinuxIrqPumpDescriptor {
  /** `dddd:bb:ss.f` (trace payloads). */
  bdf: string;
  /** The wake eventfd: writing 8 bytes ends the pump's current poll. */
  wakeFd: number;
  /** One entry per enabled vector; `index` is the VFIO irq index (INTx is delivered as vector 0). */
  vectors: { fd: number; index: number; vector: number }[];
  /**
   * 'read': one vector, the pump blocks in read() on it and is woken through it;
   * 'poll' (default): poll() on the vectors and `wakeFd`.
   */
  mode?: 'read' | 'poll';
}

/** Creates a non-blocking, close-on-exec eventfd. Throws PT_ERR_IRQ_SETUP-flavoured errno errors. */
export function createEventfd(lc: LibcBindings = libc()): number {
  const fd = lc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
  if (fd < 0) throw errnoError('eventfd()', lc.errno());
  return fd;
}

/** The InterruptSource of one linux device. */
export class LinuxInterruptSource implements InterruptSource {
  readonly #lc: LibcBindings;
  readonly #bdf: string;
  readonly #wakeFd: number;
  /** False when the wake fd belongs to another source (a pump-thread source): close() leaves it open. */
  readonly #ownsWakeFd: boolean;
  /** Set by pumpDescriptor(): a pump thread reads the eventfds now, this source must not. */
  #handedOff = false;
  /** The vector eventfd a 'read'-mode pump blocks on (wake() writes to it too), else -1. */
  #pumpReadFd = -1;
  /** Pump-thread side: no read-first before a wait (it finds nothing: the pump just drained). */
  #pumpSide = false;
  /** Pump-thread side, 'read' mode: the one vector and the fd's flags to restore on close. */
  #blocking: { entry: VectorEntry; flags: number } | undefined;
  #entries: VectorEntry[] = [];
  /** io_uring completions for the vectors (no syscall per interrupt), when the kernel offers it. */
  #uring: UringWatch | undefined;
  #uringEntries: VectorEntry[] = [];
  #hit = new Uint8Array(0);
  /** Rings whose close waits for an in-flight async poll (it may be polling the ring fd). */
  #deferredRings: UringWatch[] = [];
  #pollfds: Uint8Array;
  #revents: Int16Array;
  #closed = false;
  #asyncInFlight = false;
  /** fds whose close waits for an in-flight async poll to return (fd numbers must not be reused under it). */
  #deferredClose: number[] = [];
  readonly #scratch = new Uint8Array(8);
  #fastHits = 0;
  #polls = 0;
  readonly #one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

  /**
   * @param bdf the device (trace payloads)
   * @param opts `wakeFd`: use this existing wake eventfd (not closed by close())
   *   instead of creating one — how a pump thread shares the device's wake path;
   *   `pumpSide`: the source waits in a pump thread (no read-first before a wait)
   */
  constructor(bdf: string, lc: LibcBindings = libc(), opts: { wakeFd?: number; pumpSide?: boolean } = {}) {
    this.#lc = lc;
    this.#pumpSide = opts.pumpSide ?? false;
    this.#bdf = bdf;
    this.#ownsWakeFd = opts.wakeFd === undefined;
    this.#wakeFd = opts.wakeFd ?? createEventfd(lc);
    this.#pollfds = packPollfds([this.#wakeFd]);
    this.#revents = new Int16Array(this.#pollfds.buffer);
  }

  /** The wake eventfd (process-wide number: any thread may write 8 bytes to it to wake a wait). */
  get wakeFd(): number {
    return this.#wakeFd;
  }

  /** Routes vectors [start, start+fds.length) of `index` to `sink` through `fds` (owned by the caller). */
  addVectors(index: number, start: number, fds: readonly number[], sink: IrqSink): void {
    this.#entries = this.#entries.filter((e) => !(e.index === index && e.vector >= start && e.vector < start + fds.length));
    fds.forEach((fd, i) => this.#entries.push({ index, vector: start + i, fd, sink }));
    this.#entries.sort((a, b) => a.index - b.index || a.vector - b.vector);
    this.#rebuild();
  }

  /** Stops watching every vector of `index`; returns their fds (the caller closes them through {@link closeFds}). */
  removeIndex(index: number): number[] {
    const gone = this.#entries.filter((e) => e.index === index).map((e) => e.fd);
    this.#entries = this.#entries.filter((e) => e.index !== index);
    this.#rebuild();
    return gone;
  }

  /** Closes eventfds now, or after the in-flight async poll returns. */
  closeFds(fds: readonly number[]): void {
    if (this.#asyncInFlight) this.#deferredClose.push(...fds);
    else for (const fd of fds) this.#lc.close(fd);
  }

  /**
   * Hands the vectors to a dedicated pump thread: returns what that thread
   * needs ({@link createLinuxPumpSource}) and stops this source from reading
   * the eventfds (its io_uring, if any, is closed; next()/nextSync() then throw
   * PT_ERR_INVALID_STATE). wake() keeps working: it writes the shared wake fd,
   * which ends the pump thread's poll. Take it after the vectors are set up;
   * vectors changed afterwards are not seen by the pump thread.
   */
  pumpDescriptor(): LinuxIrqPumpDescriptor {
    this.#handedOff = true;
    this.#rebuild();
    const mode = this.#entries.length === 1 && !uringRequested() ? 'read' : 'poll';
    this.#pumpReadFd = mode === 'read' ? this.#entries[0]!.fd : -1;
    return {
      bdf: this.#bdf,
      wakeFd: this.#wakeFd,
      vectors: this.#entries.map((e) => ({ fd: e.fd, index: e.index, vector: e.vector })),
      mode,
    };
  }

  /**
   * Pump-thread side ({@link createLinuxPumpSource}): makes the one vector's
   * eventfd blocking, so nextSync waits in read() on it (close() restores the
   * flags). Throws PT_ERR_INVALID_STATE with other than one vector or with
   * io_uring, errno errors when fcntl fails.
   */
  blockOnRead(): void {
    if (this.#entries.length !== 1 || this.#uring !== undefined) {
      throw new PassthroughError('PT_ERR_INVALID_STATE', 'a blocking-read wait needs exactly one vector and no io_uring', { bdf: this.#bdf, vectors: this.#entries.length });
    }
    const entry = this.#entries[0]!;
    const flags = this.#lc.fcntlInt(entry.fd, Libc.F_GETFL, 0);
    if (flags < 0 || this.#lc.fcntlInt(entry.fd, Libc.F_SETFL, flags & ~Libc.O_NONBLOCK) < 0) {
      throw errnoError('fcntl(eventfd, F_SETFL)', this.#lc.errno(), { bdf: this.#bdf });
    }
    this.#blocking = { entry, flags };
  }

  /** True once {@link pumpDescriptor} handed the vectors to a pump thread. */
  get handedOff(): boolean {
    return this.#handedOff;
  }

  #assertReader(): void {
    if (this.#handedOff) throw this.#readerError();
  }

  #readerError(): PassthroughError {
    return new PassthroughError('PT_ERR_INVALID_STATE', `the interrupts of ${this.#bdf} are read by a pump thread`, { bdf: this.#bdf });
  }

  /** Number of vectors watched. */
  get vectorCount(): number {
    return this.#entries.length;
  }

  #rebuild(): void {
    // The vectors change only while no pump runs; a later pump gets a new descriptor.
    this.#pumpReadFd = -1;
    if (this.#uring !== undefined) {
      if (this.#asyncInFlight) this.#deferredRings.push(this.#uring);
      else this.#uring.close();
      this.#uring = undefined;
    }
    if (this.#entries.length > 0 && !this.#handedOff) {
      this.#uring = UringWatch.open(this.#entries.map((e, i) => ({ fd: e.fd, token: i })), this.#lc);
      this.#uringEntries = this.#entries;
      this.#hit = new Uint8Array(this.#entries.length);
    }
    // A fresh array each time: an async poll may still be reading the old one.
    const watched = this.#uring !== undefined ? [this.#uring.ringFd] : this.#entries.map((e) => e.fd);
    this.#pollfds = packPollfds([this.#wakeFd, ...watched]);
    this.#revents = new Int16Array(this.#pollfds.buffer);
  }

  /** Wait counters: waits answered without poll() (`fastHits`) and poll() calls made (`polls`). */
  get waitCounters(): { fastHits: number; polls: number } {
    return { fastHits: this.#fastHits, polls: this.#polls };
  }

  /** True when interrupts are watched through io_uring (diagnostics). */
  get usesIoUring(): boolean {
    return this.#uring !== undefined;
  }

  /** Delivers one signalled vector to its sink (INTx as vector 0), tracing `pcipt:irq:deliver`. */
  #deliver(e: VectorEntry): void {
    if (traceEnabled('pcipt:irq:deliver')) {
      trace('pcipt:irq:deliver', { bdf: this.#bdf, vector: e.vector, mode: MODE_NAMES[e.index] ?? String(e.index) });
    }
    e.sink.deliver(e.index === IrqIndex.INTX ? 0 : e.vector);
  }

  /** After a poll: reads (resets) the wake eventfd when its pollfd (index 0; revents at Int16Array index 3) is readable. */
  #consumeWake(revents: Int16Array): void {
    if ((revents[3]! & Libc.POLLIN) !== 0) this.#lc.read(this.#wakeFd, this.#scratch, 8);
  }

  /** Consumes the ring's completions and delivers each vector once, lowest first. */
  #drainUring(): number {
    const u = this.#uring!;
    const hit = this.#hit;
    if (u.drain(hit) === 0) return 0;
    let delivered = 0;
    const entries = this.#uringEntries;
    for (let i = 0; i < entries.length; i++) {
      if (hit[i] === 0) continue;
      hit[i] = 0;
      const e = entries[i]!;
      delivered++;
      this.#deliver(e);
    }
    return delivered;
  }

  /** Reads every ready fd after a poll over `pollfds`/`revents`/`entries`; delivers; returns the count. */
  #drain(revents: Int16Array, entries: readonly VectorEntry[]): number {
    let delivered = 0;
    this.#consumeWake(revents);
    // revents of pollfd i is the i16 at byte 6 → Int16Array index 4i+3.
    for (let i = 0; i < entries.length; i++) {
      if ((revents[4 * (i + 1) + 3]! & Libc.POLLIN) === 0) continue;
      const e = entries[i]!;
      // Non-blocking: a concurrent reader may have taken the count already (read → -1 EAGAIN).
      if (this.#lc.read(e.fd, this.#scratch, 8) !== 8) continue;
      delivered++;
      this.#deliver(e);
    }
    return delivered;
  }

  /**
   * Blocking wait (poll) for up to `timeoutMs` (finite); returns the number of
   * vectors delivered, 0 on timeout/wake/close. In a 'read'-mode pump source
   * ({@link blockOnRead}) it is one blocking read() that only a wake or an
   * interrupt ends, and `timeoutMs` does not apply.
   */
  nextSync = (timeoutMs: number): number => {
    if (this.#closed) return 0;
    this.#assertReader();
    const b = this.#blocking;
    if (b !== undefined) return this.#readBlocking(b.entry);
    // poll() timeout: an infinite wait becomes slices (the wake fd ends it early).
    const t = Number.isFinite(timeoutMs) ? Math.max(0, Math.floor(timeoutMs)) : ASYNC_POLL_SLICE_MS;
    const u = this.#uring;
    if (u !== undefined) {
      // Completions already queued: shared memory only, no syscall.
      if (u.pending()) {
        this.#fastHits++;
        return this.#drainUring();
      }
      this.#polls++;
      const r = this.#lc.poll(this.#pollfds, 2, t);
      if (r <= 0 || this.#closed) return 0;
      this.#consumeWake(this.#revents);
      return this.#drainUring();
    }
    // Few vectors: try the (non-blocking) eventfds first. An interrupt that is already pending
    // then costs one read() instead of poll() + read().
    if (!this.#pumpSide && this.#entries.length <= READ_FIRST_MAX_VECTORS) {
      const n = this.#readFirst();
      if (n > 0) {
        this.#fastHits++;
        return n;
      }
    }
    this.#polls++;
    const pollfds = this.#pollfds;
    const revents = this.#revents;
    const entries = this.#entries;
    const r = this.#lc.poll(pollfds, pollfds.length >> 3, t);
    if (r <= 0 || this.#closed) return 0;
    return this.#drain(revents, entries);
  };

  /**
   * 'read' mode: one blocking read() (no timeout: the wake is a count on the
   * same eventfd, which cannot be lost). Delivers once when the low 32 bits
   * (interrupts) are non-zero; the high 32 bits count wakes.
   */
  #readBlocking(e: VectorEntry): number {
    this.#polls++;
    const s = this.#scratch;
    if (this.#lc.read(e.fd, s, 8) !== 8 || this.#closed) return 0;
    if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) return 0;
    this.#deliver(e);
    return 1;
  }

  #readFirst(): number {
    let delivered = 0;
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (this.#lc.read(e.fd, this.#scratch, 8) !== 8) continue;
      delivered++;
      this.#deliver(e);
    }
    return delivered;
  }

  /** Waits without blocking the thread; resolves with the number delivered (0 when woken or closed). */
  next(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    if (this.#handedOff) return Promise.reject(this.#readerError());
    const now = this.nextSync(0);
    if (now > 0) return Promise.resolve(now);
    return new Promise<number>((resolve) => {
      const step = (): void => {
        if (this.#closed) return resolve(0);
        const pollfds = this.#pollfds;
        const revents = this.#revents;
        const entries = this.#entries;
        this.#asyncInFlight = true;
        // SAFETY: pollfds stays referenced by this closure until the callback runs; #rebuild never mutates it.
        this.#lc.pollAsync(pollfds, pollfds.length >> 3, ASYNC_POLL_SLICE_MS, (err, r) => {
          this.#asyncInFlight = false;
          for (const ring of this.#deferredRings.splice(0)) ring.close();
          for (const fd of this.#deferredClose.splice(0)) this.#lc.close(fd);
          if (this.#closed) {
            if (this.#ownsWakeFd) this.#lc.close(this.#wakeFd);
            return resolve(0);
          }
          if (err !== null && err !== undefined) return resolve(0);
          if (r > 0) {
            const woke = (revents[3]! & Libc.POLLIN) !== 0;
            let n = 0;
            if (pollfds !== this.#pollfds) {
              // The vectors changed while polling: the revents describe old fds; poll again.
            } else if (this.#uring !== undefined) {
              this.#consumeWake(revents);
              n = this.#drainUring();
            } else {
              n = this.#drain(revents, entries);
            }
            if (n > 0 || woke) return resolve(n);
          }
          step();
        });
      };
      step();
    });
  }

  /** Wakes a pending wait (it returns 0), and the pump thread's read when it waits in 'read' mode. Idempotent. */
  wake(): void {
    if (this.#closed) return;
    this.#lc.write(this.#wakeFd, this.#one, 8);
    if (this.#pumpReadFd >= 0) this.#lc.write(this.#pumpReadFd, PUMP_WAKE_COUNT, 8);
  }

  /** Stops the source; pending and later waits return 0. Does not close the vector fds (the device does). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.wake();
    this.#closed = true;
    this.#pumpReadFd = -1;
    const b = this.#blocking;
    if (b !== undefined) {
      this.#blocking = undefined;
      this.#lc.fcntlInt(b.entry.fd, Libc.F_SETFL, b.flags);
    }
    if (this.#uring !== undefined) {
      if (this.#asyncInFlight) this.#deferredRings.push(this.#uring);
      else this.#uring.close();
      this.#uring = undefined;
    }
    if (!this.#asyncInFlight && this.#ownsWakeFd) this.#lc.close(this.#wakeFd);
  }
}

/**
 * Builds, in a pump thread, the blocking source over a descriptor taken by
 * {@link LinuxInterruptSource.pumpDescriptor} in the device worker: the same
 * eventfds and wake fd (process-wide numbers), every vector delivered to
 * `sink`, waiting as the descriptor's `mode` says. Its close() closes none of
 * those fds (the device worker owns them and closes them only after the pump
 * thread has ended); it restores a 'read'-mode eventfd's flags. Use its nextSync.
 * Throws PT_ERR_INVALID_ARGUMENT for a malformed descriptor.
 */
export function createLinuxPumpSource(desc: LinuxIrqPumpDescriptor, sink: IrqSink, lc: LibcBindings = libc()): LinuxInterruptSource {
  if (!Number.isInteger(desc.wakeFd) || desc.wakeFd < 0 || !Array.isArray(desc.vectors)) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'not a linux IRQ pump descriptor (needs wakeFd and vectors)', { bdf: desc.bdf });
  }
  const source = new LinuxInterruptSource(desc.bdf, lc, { wakeFd: desc.wakeFd, pumpSide: true });
  // Contiguous runs per index, so the source (and its io_uring) is rebuilt once per run, not per vector.
  const sorted = [...desc.vectors].sort((a, b) => a.index - b.index || a.vector - b.vector);
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i]!;
    const fds = [first.fd];
    let j = i + 1;
    while (j < sorted.length && sorted[j]!.index === first.index && sorted[j]!.vector === first.vector + (j - i)) fds.push(sorted[j++]!.fd);
    source.addVectors(first.index, first.vector, fds, sink);
    i = j;
  }
  if (desc.mode === 'read') source.blockOnRead();
  return source;
}
