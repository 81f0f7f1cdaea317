/**
 * The apple interrupt source (spec §7 rule 7): the one-shot WaitInterrupt
 * (selector 15) stands in for the seed's GCD notification + EventNotifier,
 * CheckInterrupt (selector 14) reads and clears the pending words, and each
 * set bit, lowest first, is delivered by the current interrupt mode.
 *
 * Race note: a wake cancels the armed wait, so its completion may lose to an
 * interrupt that was already pending. Nothing is lost: the bits stay in the
 * dext's pending words and the next WaitInterrupt completes at once when any
 * word is non-zero (spec §4).
 */
import { PassthroughError } from '../errors.js';
import { trace, traceEnabled } from '../trace.js';
import type { InterruptSource } from '../vfio/device-io-ops.js';
import type { AppleDeviceState } from './device-state.js';
import { IOReturn, type DextClient, type InterruptWait, type IrqWords } from '../dext/contract.js';

/**
 * The hook for a backend whose client can block in a native wait (a
 * dedicated pump thread: mach_msg on the notification port). When the
 * client has this method, the source's nextSync is defined.
 */
export interface BlockingInterruptWait {
  /**
   * Arms WaitInterrupt and blocks up to `timeoutMs` (finite) for it.
   * @returns the completion status (IOReturn.Success when interrupts are
   *   pending), IOReturn.Timeout on timeout, IOReturn.Aborted on wake.
   */
  waitInterruptSync(timeoutMs: number): number;
  /** Interrupts a blocked waitInterruptSync from any thread. */
  wakeInterruptSync(): void;
}

function blockingWaitOf(client: DextClient | undefined): (DextClient & BlockingInterruptWait) | undefined {
  if (client === undefined) return undefined;
  const c = client as Partial<BlockingInterruptWait> & DextClient;
  return typeof c.waitInterruptSync === 'function' && typeof c.wakeInterruptSync === 'function'
    ? (c as DextClient & BlockingInterruptWait)
    : undefined;
}

/**
 * Delivers every set bit of `pending` (words 0–3, lowest bit first,
 * vector 64·w + b) by the current mode. Returns the number delivered.
 */
export function deliverPending(state: AppleDeviceState, pending: IrqWords): number {
  let delivered = 0;
  for (let w = 0; w < 4; w++) {
    const word = pending[w]!;
    if (word === 0n) continue;
    // Walk the two 32-bit halves with clz32 (the original's ctz loop) so a
    // drain allocates nothing per vector.
    for (let half = 0; half < 2; half++) {
      let bits = Number((half === 0 ? word : word >> 32n) & 0xffffffffn) | 0;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        delivered += deliverOne(state, w * 64 + half * 32 + bit);
      }
    }
  }
  return delivered;
}

/** Delivers one pending vector by mode; 1 when a sink got it, 0 when dropped. */
function deliverOne(state: AppleDeviceState, vector: number): number {
  const irq = state.irq;
  let sink;
  if (irq.mode === 'msi' || irq.mode === 'msix') {
    sink = vector < irq.nrVectors && irq.inUse[vector] ? irq.sinks[vector] : undefined;
  } else if (irq.mode === 'intx') {
    sink = irq.sinks[0]; // any pending vector raises the INTx line
  }
  if (sink === undefined) {
    state.stats.dropped++;
    return 0;
  }
  const out = irq.mode === 'intx' ? 0 : vector;
  if (traceEnabled('pcipt:irq:deliver')) trace('pcipt:irq:deliver', { bdf: state.bdf, vector: out, mode: irq.mode });
  sink.deliver(out);
  state.stats.delivered++;
  return 1;
}

/**
 * The apple source plus the hand-off to a dedicated IRQ pump thread
 * (src/iokit/pump-source.ts), which then owns the device's one dext
 * completion.
 */
export interface AppleInterruptSource extends InterruptSource {
  /**
   * Stops this source from arming or waiting (its pending wait is
   * cancelled, a pending next() resolves 0): the dext keeps ONE completion
   * per device, so from now on only the pump thread arms WaitInterrupt.
   * next()/nextSync() then throw PT_ERR_INVALID_STATE; wake()/close() stay
   * safe. Idempotent.
   */
  handOff(): void;
  /** True once {@link handOff} ran. */
  readonly handedOff: boolean;
  /**
   * Wakes the pump thread blocked on mach port `portName` (its reported
   * wake port) through this device's client. False when the client cannot
   * (no blocking wait, or the port is gone).
   */
  wakePump(portName: number): boolean;
}

/** A client that can send a wake message to another thread's port (IokitDextClient). */
interface PeerWake {
  wakePeer(portName: number): boolean;
}

/**
 * Builds the interrupt source of a device. Arms the first wait at once (the
 * original's notify_create arms on creation) and throws what that
 * WaitInterrupt throws (NotReady before SetupInterrupts); later re-arms that
 * fail leave the source idle until woken or closed.
 */
export function createAppleInterruptSource(state: AppleDeviceState): AppleInterruptSource {
  let armed: InterruptWait | undefined;
  let closed = false;
  /** Set when a pending wait completed without a connection: never re-armed (rule 7.1). */
  let stalled = false;
  let wakePending = false;
  let wakeResolve: (() => void) | undefined;
  /** Set by handOff(): a pump thread owns the completion; never arm again. */
  let handedOff = false;
  const readerError = (): PassthroughError =>
    new PassthroughError('PT_ERR_INVALID_STATE', `the interrupts of ${state.bdf} are waited for by a pump thread`, { bdf: state.bdf });

  const arm = (): void => {
    const client = state.client;
    if (closed || stalled || handedOff || client === undefined) return;
    try {
      armed = client.waitInterrupt();
      state.stats.rearms++;
      if (traceEnabled('pcipt:irq:rearm')) trace('pcipt:irq:rearm', { bdf: state.bdf });
    } catch {
      // The dext refused to arm (NotReady after its interrupts were torn
      // down, or the connection died). The pump sees 0 until woken or closed.
      armed = undefined;
    }
  };

  /** The body after a successful completion: drain, deliver, re-arm. */
  const drain = (): number => {
    const client = state.client;
    if (client === undefined || !client.connected) {
      stalled = true; // no connection: return without re-arming
      return 0;
    }
    let pending: IrqWords;
    try {
      pending = client.checkInterrupt();
    } catch {
      arm(); // selector 14 failed: re-arm and return
      return 0;
    }
    const delivered = deliverPending(state, pending);
    arm();
    return delivered;
  };

  // The first arm is strict: the original fails device setup when the async
  // notification cannot be created ("failed to create IRQ async notification").
  const first = state.client;
  if (first !== undefined) {
    armed = first.waitInterrupt();
    state.stats.rearms++;
  }

  const blocking = blockingWaitOf(state.client);

  return {
    get handedOff(): boolean {
      return handedOff;
    },
    handOff(): void {
      if (handedOff) return;
      handedOff = true;
      const wait = armed;
      armed = undefined;
      wait?.cancel();
      wakeResolve?.();
    },
    wakePump(portName: number): boolean {
      const c = state.client as (DextClient & Partial<PeerWake>) | undefined;
      return typeof c?.wakePeer === 'function' ? c.wakePeer(portName) : false;
    },
    async next(): Promise<number> {
      if (closed) return 0;
      if (handedOff) throw readerError();
      if (wakePending) {
        wakePending = false;
        return 0;
      }
      if (armed === undefined) arm();
      const wait = armed;
      const woken = new Promise<'wake'>((resolve) => {
        wakeResolve = () => resolve('wake');
      });
      const status = wait === undefined ? await woken : await Promise.race([wait.completion, woken]);
      wakeResolve = undefined;
      if (armed === wait) armed = undefined; // a one-shot wait is used up either way
      if (status === 'wake' || closed || handedOff) return 0;
      if (status !== IOReturn.Success) return 0; // cancelled: nothing to clear
      return drain();
    },
    nextSync:
      blocking === undefined
        ? undefined
        : (timeoutMs: number): number => {
            if (closed || stalled) return 0;
            if (handedOff) throw readerError();
            const status = blocking.waitInterruptSync(timeoutMs);
            if (closed || status !== IOReturn.Success) return 0;
            return drain();
          },
    wake(): void {
      if (handedOff) return; // nothing armed here; the pump thread is woken through wakePump
      const wait = armed;
      armed = undefined;
      wait?.cancel();
      blocking?.wakeInterruptSync();
      if (wakeResolve !== undefined) wakeResolve();
      else wakePending = true;
    },
    close(): void {
      if (closed) return;
      closed = true;
      const wait = armed;
      armed = undefined;
      wait?.cancel();
      blocking?.wakeInterruptSync();
      wakeResolve?.();
    },
  };
}
