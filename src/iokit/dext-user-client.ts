/**
 * One user client of the VFIOUserPCIDriver dext over IOKit (split from
 * dext-client.ts, which enumerates and connects): every selector is one
 * IOConnectCallMethod (scalars only), every memory type one
 * IOConnectMapMemory64, and the one-shot WaitInterrupt is armed with
 * IOConnectCallAsyncMethod on the connection's own notification port and
 * received with mach_msg (notify-port.ts), never through a JS callback.
 */
import { PassthroughError } from '../errors.js';
import { trace, traceEnabled } from '../trace.js';
import type { Bdf } from '../types.js';
import type { IokitBindings } from './bindings.js';
import {
  BarType,
  IOReturn,
  MemoryType,
  SELECTOR_NAMES,
  Selector,
  kIOMapAnywhere,
  kIOMapWriteCombineCache,
  type BarInfo,
  type DextClient,
  type DextIdentity,
  type DmaBufferInfo,
  type DmaRegionInfo,
  type InterruptWait,
  type IrqWords,
  type MappedMemory,
} from '../dext/contract.js';
import { closedConnectionError, dextError, mapMemoryError } from '../dext/kern-return.js';
import { NativeMappedMemory } from './mapped-memory.js';
import { NotifyPort, sendWake } from './notify-port.js';

/** asyncRef slots passed with selector 15 ([0] reserved for IOKit, [1] callback, [2] refcon). */
const ASYNC_REF_COUNT = 3;
/** Longest single blocking wait accepted, in ms (mach_msg_timeout_t is u32; keep it well inside). */
export const MAX_BLOCKING_WAIT_MS = 0x7fffffff;

/**
 * One user client (IOServiceOpen type 0) of the dext instance of one
 * function. Implements {@link DextClient} plus the blocking interrupt wait.
 */
export class IokitDextClient implements DextClient {
  #bdf: Bdf;
  readonly #b: IokitBindings;
  readonly #conn: number;
  readonly #owned: boolean;
  readonly #pollMs: number;
  #closed = false;
  #port: NotifyPort | undefined;
  #pending: { finish(kr: number): void } | undefined;
  readonly #maps = new Map<number, NativeMappedMemory[]>();
  // Scratch arrays for the synchronous calls (no allocation per selector).
  readonly #in = new BigUint64Array(4);
  readonly #out = new BigUint64Array(8);
  readonly #outCnt = new Uint32Array(1);
  readonly #asyncRef = new BigUint64Array(8);

  /** @internal Use {@link createIokitDextDriver} or {@link attachIokitConnection}. */
  constructor(b: IokitBindings, connection: number, bdf: Bdf, owned: boolean, pollIntervalMs = 1) {
    this.#b = b;
    this.#conn = connection;
    this.#bdf = bdf;
    this.#owned = owned;
    this.#pollMs = pollIntervalMs;
  }

  /** The function this connection reaches. */
  get bdf(): Bdf {
    return this.#bdf;
  }

  /** @internal Names the function once connect has matched it (probes open before they know). */
  rebind(bdf: Bdf): this {
    this.#bdf = bdf;
    return this;
  }

  /** True until {@link close}. */
  get connected(): boolean {
    return !this.#closed;
  }

  /** The io_connect_t (a per-process port name: another thread may {@link attachIokitConnection} to it). */
  get connection(): number {
    return this.#conn;
  }

  /**
   * The mach port name the interrupt completion arrives on. Created on first
   * use. Pass it to {@link wakeInterruptWaiter} from any thread to end a
   * {@link waitInterruptBlocking} early.
   */
  get wakePort(): number {
    return this.#notifyPort().name;
  }

  // ---------------------------------------------------------------- selectors

  /** One scalar selector: `inputs` in, `outCount` u64 out (a view of the scratch array). */
  #call(selector: number, inputs: readonly bigint[], outCount: number): BigUint64Array {
    this.#checkOpen(selector);
    for (let i = 0; i < inputs.length; i++) this.#in[i] = BigInt.asUintN(64, inputs[i]!);
    this.#outCnt[0] = outCount;
    // SAFETY: #in/#out/#outCnt are owned by this client and outlive the synchronous call;
    // #out holds 8 u64, more than the 6 the widest selector returns; no struct arguments.
    const kr = this.#b.IOConnectCallMethod(
      this.#conn,
      selector,
      inputs.length > 0 ? this.#in : null,
      inputs.length,
      null,
      0,
      outCount > 0 ? this.#out : null,
      outCount > 0 ? this.#outCnt : null,
      null,
      null,
    );
    if (traceEnabled('pcipt:dext:call')) {
      trace('pcipt:dext:call', { bdf: this.bdf, selector, selectorName: SELECTOR_NAMES[selector], kernReturn: kr });
    }
    if (kr !== IOReturn.Success) throw dextError(kr, selector, { bdf: this.bdf });
    if (outCount > 0 && this.#outCnt[0]! < outCount) {
      throw new PassthroughError(
        'PT_ERR_KERN_RETURN',
        `${SELECTOR_NAMES[selector]}: the dext returned ${this.#outCnt[0]} outputs, expected ${outCount}`,
        { bdf: this.bdf, selector, selectorName: SELECTOR_NAMES[selector], kernReturn: kr },
      );
    }
    return this.#out;
  }

  #checkOpen(selector: number): void {
    if (!this.#closed) return;
    throw closedConnectionError(selector, this.bdf);
  }

  /** Selector 0. */
  getIdentity(): DextIdentity {
    const o = this.#call(Selector.GetIdentity, [], 6);
    return {
      bus: Number(o[0]! & 0xffn),
      device: Number(o[1]! & 0xffn),
      function: Number(o[2]! & 0xffn),
      vendorId: Number(o[3]! & 0xffffn),
      deviceId: Number(o[4]! & 0xffffn),
      classCode: Number(o[5]! & 0xffffffn),
    };
  }

  /** Selector 1. */
  claim(): void {
    this.#call(Selector.Claim, [], 0);
  }

  /** Selector 2. */
  terminate(): void {
    this.#call(Selector.Terminate, [], 0);
  }

  /** Selector 3. */
  allocateDmaBuffer(sizeBytes: bigint, alignBytes: bigint): DmaBufferInfo {
    const o = this.#call(Selector.AllocateDMABuffer, [sizeBytes, alignBytes], 6);
    return {
      sizeBytes: o[0]!,
      dmaFlags: o[1]!,
      segmentCount: Number(o[2]!),
      seg0Addr: o[3]!,
      seg0Len: o[4]!,
      class: o[5]!,
    };
  }

  /** Selector 4. */
  freeDmaBuffer(): void {
    this.#call(Selector.FreeDMABuffer, [], 0);
  }

  /** Selector 5. `clientVa` must stay mapped until the region is unregistered. */
  registerDmaRegion(key: bigint, clientVa: bigint, sizeBytes: bigint): DmaRegionInfo {
    const o = this.#call(Selector.RegisterDMARegion, [key, clientVa, sizeBytes], 3);
    return { count: Number(o[0]!), busAddr: o[1]!, busLen: o[2]! };
  }

  /** Selector 6. */
  unregisterDmaRegion(key: bigint): void {
    this.#call(Selector.UnregisterDMARegion, [key], 0);
  }

  /** Selector 7. */
  probeDmaRegion(key: bigint, offsetBytes: bigint): bigint {
    return this.#call(Selector.ProbeDMARegion, [key, offsetBytes], 1)[0]!;
  }

  /** Selector 8. */
  configRead(offsetBytes: number, width: number): number {
    return Number(this.#call(Selector.ConfigRead, [BigInt(offsetBytes), BigInt(width)], 1)[0]! & 0xffffffffn);
  }

  /** Selector 9. */
  configWrite(offsetBytes: number, width: number, value: number): void {
    this.#call(Selector.ConfigWrite, [BigInt(offsetBytes), BigInt(width), BigInt(value >>> 0)], 0);
  }

  /** Selector 10. */
  getBarInfo(bar: number): BarInfo {
    const o = this.#call(Selector.GetBARInfo, [BigInt(bar)], 3);
    return { memIdx: Number(o[0]!), sizeBytes: o[1]!, type: Number(o[2]! & 0xffffffffn) };
  }

  /** Selector 11. */
  mmioRead(memIdx: number, offsetBytes: bigint, width: number): bigint {
    return this.#call(Selector.MMIORead, [BigInt(memIdx), offsetBytes, BigInt(width)], 1)[0]!;
  }

  /** Selector 12. */
  mmioWrite(memIdx: number, offsetBytes: bigint, width: number, value: bigint): void {
    this.#call(Selector.MMIOWrite, [BigInt(memIdx), offsetBytes, BigInt(width), value], 0);
  }

  /** Selector 13. */
  setupInterrupts(): number {
    return Number(this.#call(Selector.SetupInterrupts, [], 1)[0]!);
  }

  /** Selector 14. */
  checkInterrupt(): IrqWords {
    const o = this.#call(Selector.CheckInterrupt, [], 4);
    return [o[0]!, o[1]!, o[2]!, o[3]!];
  }

  /** Selector 16. */
  setIrqMask(mask: IrqWords): void {
    this.#call(Selector.SetIRQMask, mask, 0);
  }

  /** Selector 17. */
  resetDevice(): void {
    this.#call(Selector.ResetDevice, [], 0);
  }

  // --------------------------------------------------------------- interrupts

  #notifyPort(): NotifyPort {
    this.#checkOpen(Selector.WaitInterrupt);
    this.#port ??= new NotifyPort(this.#b);
    return this.#port;
  }

  /** Arms the one-shot WaitInterrupt on our notification port. Throws the dext's error (NotReady before setup). */
  #arm(port: NotifyPort): void {
    this.#asyncRef.fill(0n);
    this.#asyncRef[2] = BigInt(this.#conn); // refcon; [1] (callback) stays 0: we receive the message ourselves
    // SAFETY: #asyncRef is copied by IOKit during this synchronous call; no outputs or structs.
    const kr = this.#b.IOConnectCallAsyncMethod(
      this.#conn,
      Selector.WaitInterrupt,
      port.name,
      this.#asyncRef,
      ASYNC_REF_COUNT,
      null,
      0,
      null,
      0,
      null,
      null,
      null,
      null,
    );
    if (traceEnabled('pcipt:dext:call')) {
      trace('pcipt:dext:call', { bdf: this.bdf, selector: Selector.WaitInterrupt, selectorName: 'WaitInterrupt', kernReturn: kr });
    }
    if (kr !== IOReturn.Success) throw dextError(kr, Selector.WaitInterrupt, { bdf: this.bdf });
  }

  /**
   * Empties the port before arming: stale completions (of a wait that timed
   * out or was replaced) are dropped, because the fresh arm completes at once
   * while any pending word is non-zero (spec §4). Returns true when a wake
   * was queued: it is consumed and the wait ends as Aborted without arming.
   */
  #drain(port: NotifyPort): boolean {
    for (;;) {
      const ev = port.receive(0);
      if (ev.kind === 'timeout') return false;
      if (ev.kind === 'wake') return true;
    }
  }

  /**
   * Selector 15, blocking: arms the wait, then blocks this thread in
   * mach_msg up to `timeoutMs` (finite, 0–{@link MAX_BLOCKING_WAIT_MS}).
   * For a dedicated IRQ pump thread only; never on the main thread with a
   * long timeout.
   *
   * @returns `IOReturn.Success` (or the completion's status) when the dext
   *   completed the wait, `IOReturn.Timeout` on timeout, `IOReturn.Aborted`
   *   when woken by {@link wakeInterruptWaiter}.
   * Throws the arm's typed error (PT_ERR_NOT_READY before SetupInterrupts),
   * PT_ERR_INVALID_ARGUMENT for a bad timeout, PT_ERR_CLOSED after close.
   */
  waitInterruptBlocking(timeoutMs: number): number {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_BLOCKING_WAIT_MS) {
      throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `waitInterruptBlocking: timeout ${timeoutMs} ms must be finite`, {
        bdf: this.bdf,
        timeoutMs,
      });
    }
    this.#pending?.finish(IOReturn.Aborted); // the dext keeps one completion: a promise wait would steal ours
    const port = this.#notifyPort();
    if (this.#drain(port)) return IOReturn.Aborted;
    this.#arm(port);
    const ev = port.receive(Math.floor(timeoutMs));
    return ev.kind === 'timeout' ? IOReturn.Timeout : ev.kind === 'wake' ? IOReturn.Aborted : ev.result;
  }

  /** Alias of {@link waitInterruptBlocking} (the seed's BlockingInterruptWait hook). */
  waitInterruptSync(timeoutMs: number): number {
    return this.waitInterruptBlocking(timeoutMs);
  }

  /** Wakes a thread blocked on this client's port (the seed's BlockingInterruptWait hook). */
  wakeInterruptSync(): void {
    if (this.#port !== undefined) sendWake(this.#b, this.#port.name);
  }

  /**
   * Sends a wake to another waiter's port `portName` (a pump thread's
   * {@link wakePort}, reported to this thread) through this client's
   * bindings, like {@link wakeInterruptWaiter}. Never blocks; works after
   * close. Returns false when the port no longer exists.
   */
  wakePeer(portName: number): boolean {
    return sendWake(this.#b, portName);
  }

  /**
   * Selector 15 as a promise: arms the wait, then polls the port (mach_msg
   * with timeout 0) every `pollIntervalMs`. A new call cancels the previous
   * wait (the dext keeps one completion). Throws the arm's error at once.
   */
  waitInterrupt(): InterruptWait {
    this.#pending?.finish(IOReturn.Aborted);
    const port = this.#notifyPort();
    const woken = this.#drain(port);
    if (!woken) this.#arm(port);
    let settle!: (kr: number) => void;
    const completion = new Promise<number>((resolve) => (settle = resolve));
    let done = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const pending = {
      finish: (kr: number) => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearInterval(timer);
        if (this.#pending === pending) this.#pending = undefined;
        settle(kr);
      },
    };
    const poll = () => {
      if (done || this.#closed) return;
      let ev;
      try {
        ev = port.receive(0);
      } catch {
        pending.finish(IOReturn.Aborted);
        return;
      }
      if (ev.kind === 'completion') pending.finish(ev.result);
      else if (ev.kind === 'wake') pending.finish(IOReturn.Aborted);
    };
    this.#pending = pending;
    if (woken) pending.finish(IOReturn.Aborted);
    poll();
    if (!done) timer = setInterval(poll, this.#pollMs);
    return { completion, cancel: () => pending.finish(IOReturn.Aborted) };
  }

  // ------------------------------------------------------------------- memory

  /**
   * IOConnectMapMemory64 of `type` with kIOMapAnywhere, plus
   * kIOMapWriteCombineCache for a BAR whose type has the prefetch bit (the
   * original asks GetBARInfo first; its errors pass through).
   */
  mapMemory(type: number): MappedMemory {
    this.#checkOpen(-1);
    let options = kIOMapAnywhere;
    if (type >= MemoryType.Bar0 && type <= MemoryType.Bar5) {
      const info = this.getBarInfo(type - MemoryType.Bar0);
      if ((info.type & BarType.prefetch) !== 0) options |= kIOMapWriteCombineCache;
    }
    const addr = new BigUint64Array(1);
    const size = new BigUint64Array(1);
    // SAFETY: addr/size are live outs for the synchronous call; the mapping belongs to the
    // connection until IOConnectUnmapMemory64 or IOServiceClose (both release our views first).
    const kr = this.#b.IOConnectMapMemory64(this.#conn, type, this.#b.machTaskSelf(), addr, size, options);
    if (kr !== IOReturn.Success) throw mapMemoryError(kr, 'MapMemory', type, this.bdf);
    const lengthBytes = Number(size[0]!);
    if (addr[0] === 0n || !Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) {
      throw new PassthroughError('PT_ERR_KERN_RETURN', `MapMemory(type ${type}) returned an empty mapping`, {
        bdf: this.bdf,
        memoryType: type,
      });
    }
    // SAFETY: [addr, addr + size) is mapped into this task until unmapMemory/close.
    const view = this.#b.view(addr[0]!, lengthBytes);
    const mem = new NativeMappedMemory(type, addr[0]!, lengthBytes, (options & kIOMapWriteCombineCache) !== 0, view, this.bdf);
    const list = this.#maps.get(type) ?? [];
    list.push(mem);
    this.#maps.set(type, list);
    return mem;
  }

  /** IOConnectUnmapMemory64. Address 0 → PT_ERR_BAD_ARGUMENT (the kernel's BadArgument). */
  unmapMemory(type: number, address: bigint): void {
    this.#checkOpen(-1);
    const list = this.#maps.get(type) ?? [];
    const i = list.findIndex((m) => m.address === address);
    const mem = i >= 0 ? list[i] : undefined;
    mem?.release(); // views die before the memory does
    // SAFETY: the address came from mapMemory of this connection; our view is released above.
    const kr = this.#b.IOConnectUnmapMemory64(this.#conn, type, this.#b.machTaskSelf(), address);
    if (kr !== IOReturn.Success) throw mapMemoryError(kr, 'UnmapMemory', type, this.bdf);
    if (i >= 0) list.splice(i, 1);
  }

  // -------------------------------------------------------------------- close

  /**
   * IOServiceClose (only for a connection this client opened; an attached
   * client only drops its port). Releases every view and the pending wait
   * first. Idempotent. Nobody may be blocked in waitInterruptBlocking on
   * this client's port (wake it first).
   */
  close(): void {
    if (this.#closed) return;
    this.#pending?.finish(IOReturn.Aborted);
    for (const list of this.#maps.values()) for (const m of list) m.release();
    this.#maps.clear();
    this.#closed = true;
    this.#port?.destroy();
    this.#port = undefined;
    if (this.#owned) this.#b.IOServiceClose(this.#conn);
  }
}
