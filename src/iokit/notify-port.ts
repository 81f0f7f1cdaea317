/**
 * The interrupt notification port of one connection: an
 * IONotificationPort whose mach port receives the dext's one-shot
 * WaitInterrupt completion (IOConnectCallAsyncMethod selector 15). No GCD
 * queue and no JS callback (eco §2.3): the owner receives the completion
 * message itself with mach_msg, either blocking with a finite timeout (a
 * dedicated pump thread) or polling with timeout 0.
 *
 * Only two messages end a wait: an async completion (msgh_id
 * {@link ASYNC_COMPLETION_MSG_ID}, the id the kernel gives async results,
 * with the async-completion notification type) and a wake-up. Anything else
 * arriving on the port is dropped and the wait goes on until its deadline.
 *
 * Wake-up path: any thread of the process may send a small message with id
 * {@link WAKE_MSG_ID} to the port ({@link sendWake}); a receiver blocked in
 * mach_msg returns at once and reports "woken". Port names are per task,
 * so the number can be posted to other threads. A wake sent while nobody
 * waits stays queued and ends the next wait at once (so a supervisor's stop
 * request never races with the worker entering the wait).
 */
import { PassthroughError } from '../errors.js';
import { Mach, kIOMainPortDefault, type IokitBindings } from './bindings.js';

/** msgh_id of a wake-up message ('ptwk'). */
export const WAKE_MSG_ID = 0x7074776b;
/**
 * msgh_id of an IOKit async result: kOSNotificationMessageID (53), which the
 * kernel's IOUserClient::sendAsyncResult64 uses for the dext's
 * AsyncCompletion. (kOSAsyncCompleteMessageID, 57, is not what arrives.)
 */
export const ASYNC_COMPLETION_MSG_ID = 53;
/** OSNotificationHeader64.type of an async result (kIOAsyncCompletionNotificationType). */
export const ASYNC_COMPLETION_NOTIFICATION_TYPE = 150;
/** Byte offset of OSNotificationHeader64.type: after the header (24) and its size field (4). */
const NOTIFICATION_TYPE_OFFSET = 28;
/** Low bits of the notification type (kIOKitNoticationTypeMask); the high bits carry a size adjustment. */
const NOTIFICATION_TYPE_MASK = 0xfff;
/** Byte offset of IOAsyncCompletionContent.result: header (24) + OSNotificationHeader64 size/type (8) + reference[8] (64). */
export const COMPLETION_RESULT_OFFSET = 96;
const RCV_BYTES = 1024;

/** What one receive saw. */
export type PortEvent = { kind: 'completion'; result: number } | { kind: 'wake' } | { kind: 'timeout' };

/** One IONotificationPort, owned by one thread. */
export class NotifyPort {
  readonly #b: IokitBindings;
  #ref: bigint;
  /** The mach port name (per process; may be posted to other threads). */
  readonly name: number;
  readonly #buf = new Uint8Array(RCV_BYTES);
  readonly #words = new Uint32Array(this.#buf.buffer);
  #ignored = 0;

  constructor(b: IokitBindings) {
    this.#b = b;
    this.#ref = b.IONotificationPortCreate(kIOMainPortDefault);
    if (this.#ref === 0n) throw new PassthroughError('PT_ERR_IRQ_SETUP', 'IONotificationPortCreate failed');
    this.name = b.IONotificationPortGetMachPort(this.#ref);
  }

  /** Messages dropped because they were neither a completion nor a wake-up. */
  get ignored(): number {
    return this.#ignored;
  }

  /**
   * Receives one completion or wake-up, waiting up to `timeoutMs` (0 = poll);
   * other messages are dropped on the way. Throws
   * PT_ERR_KERN_RETURN on an unexpected mach_msg failure, PT_ERR_CLOSED after destroy.
   */
  receive(timeoutMs: number): PortEvent {
    if (this.#ref === 0n) throw new PassthroughError('PT_ERR_CLOSED', 'the notification port is destroyed');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      // SAFETY: #buf is owned by this object and outlives the synchronous, time-bounded call.
      const mr = this.#b.mach_msg(this.#buf, Mach.RCV_MSG | Mach.RCV_TIMEOUT, 0, RCV_BYTES, this.name, remaining, 0);
      if (mr === Mach.RCV_TIMED_OUT) return { kind: 'timeout' };
      if (mr === Mach.RCV_INTERRUPTED) continue;
      if (mr !== Mach.MSG_SUCCESS) {
        throw new PassthroughError('PT_ERR_KERN_RETURN', `mach_msg receive failed: 0x${mr.toString(16)}`, {
          kernReturn: mr,
          port: this.name,
        });
      }
      const size = this.#words[1]!;
      const id = this.#words[5]! | 0;
      if (id === WAKE_MSG_ID) return { kind: 'wake' };
      const type = size >= NOTIFICATION_TYPE_OFFSET + 4 ? this.#words[NOTIFICATION_TYPE_OFFSET / 4]! & NOTIFICATION_TYPE_MASK : -1;
      if (id !== ASYNC_COMPLETION_MSG_ID || type !== ASYNC_COMPLETION_NOTIFICATION_TYPE || size < COMPLETION_RESULT_OFFSET + 4) {
        this.#ignored++; // not ours: keep waiting (the loop recomputes the remaining time)
        continue;
      }
      return { kind: 'completion', result: this.#words[COMPLETION_RESULT_OFFSET / 4]! >>> 0 };
    }
  }

  /** IONotificationPortDestroy. Idempotent. Nobody may be blocked in {@link receive}. */
  destroy(): void {
    if (this.#ref === 0n) return;
    const ref = this.#ref;
    this.#ref = 0n;
    this.#b.IONotificationPortDestroy(ref);
  }
}

/**
 * Sends a wake-up message to `portName` (never blocks: MACH_SEND_TIMEOUT 0).
 * Returns true when sent or when the port's queue is already full (a
 * message is pending anyway); false when the port no longer exists.
 */
export function sendWake(b: IokitBindings, portName: number): boolean {
  const msg = new Uint8Array(Mach.HEADER_BYTES);
  const w = new Uint32Array(msg.buffer);
  w[0] = Mach.MSG_TYPE_MAKE_SEND; // MACH_MSGH_BITS(MAKE_SEND, 0): we hold the receive right
  w[1] = Mach.HEADER_BYTES;
  w[2] = portName; // msgh_remote_port: the destination
  w[3] = 0; // msgh_local_port: no reply
  w[4] = 0; // voucher
  w[5] = WAKE_MSG_ID;
  // SAFETY: `msg` is a live 24-byte header owned by this frame for the non-blocking call.
  const mr = b.mach_msg(msg, Mach.SEND_MSG | Mach.SEND_TIMEOUT, Mach.HEADER_BYTES, 0, 0, 0, 0);
  if (mr === Mach.MSG_SUCCESS || mr === Mach.SEND_TIMED_OUT) return true;
  return false;
}
