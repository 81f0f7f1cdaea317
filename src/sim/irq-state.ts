/**
 * The interrupt state of one user client (spec §4): the 16 KiB IRQ page
 * (`pending[4]` at 0x00 set by the dext and cleared by CheckInterrupt,
 * `enabled[4]` at 0x20 written by the client), the registered vector count,
 * and the one stored WaitInterrupt completion.
 *
 * InterruptOccurred(v) drops the interrupt when v ≥ numInterrupts or its
 * enable bit is clear: masked interrupts are NOT latched. Otherwise it ORs the
 * pending bit and completes the stored wait (one-shot: the client re-arms).
 * A vector raised twice before a check coalesces into one bit.
 */
import { IOReturn, IrqPage, type InterruptWait, type IrqWords } from '../dext/contract.js';

/** @internal A stored WaitInterrupt completion. */
interface StoredWait {
  settle(status: number): void;
}

/** @internal Interrupt state created by SetupInterrupts. */
export class SimIrqState {
  /** The IRQ page (memory type 7). */
  readonly page: SharedArrayBuffer;
  /** Vectors registered (dispatch sources created). */
  readonly numInterrupts: number;
  readonly #pending: BigUint64Array;
  readonly #enabled: BigUint64Array;
  #wait: StoredWait | undefined;
  /** Interrupts dropped because masked or out of range (introspection). */
  droppedCount = 0;
  /** Interrupts latched into the pending bitmap. */
  deliveredCount = 0;

  constructor(numInterrupts: number) {
    this.numInterrupts = numInterrupts;
    this.page = new SharedArrayBuffer(IrqPage.sizeBytes);
    this.#pending = new BigUint64Array(this.page, IrqPage.pendingOffsetBytes, IrqPage.words);
    this.#enabled = new BigUint64Array(this.page, IrqPage.enabledOffsetBytes, IrqPage.words);
    // Step 1 of SetupInterrupts: pending = 0, enabled = all ones.
    for (let w = 0; w < IrqPage.words; w++) Atomics.store(this.#enabled, w, ~0n & 0xffff_ffff_ffff_ffffn);
  }

  /** InterruptOccurred(v): latch if enabled and in range, then complete the stored wait. */
  occurred(vector: number): boolean {
    if (vector < 0 || vector >= this.numInterrupts) {
      this.droppedCount++;
      return false;
    }
    const w = vector >>> 6;
    const bit = 1n << BigInt(vector & 63);
    if ((Atomics.load(this.#enabled, w) & bit) === 0n) {
      this.droppedCount++;
      return false;
    }
    Atomics.or(this.#pending, w, bit);
    this.deliveredCount++;
    this.#complete(IOReturn.Success);
    return true;
  }

  /** Selector 14: swaps each pending word with 0. */
  check(): IrqWords {
    return [
      Atomics.exchange(this.#pending, 0, 0n),
      Atomics.exchange(this.#pending, 1, 0n),
      Atomics.exchange(this.#pending, 2, 0n),
      Atomics.exchange(this.#pending, 3, 0n),
    ];
  }

  /** Current pending words without clearing (introspection). */
  peekPending(): IrqWords {
    return [0, 1, 2, 3].map((w) => Atomics.load(this.#pending, w)) as IrqWords;
  }

  /** Current enable words (introspection). */
  peekEnabled(): IrqWords {
    return [0, 1, 2, 3].map((w) => Atomics.load(this.#enabled, w)) as IrqWords;
  }

  /** Selector 16: stores the enable mask. */
  setMask(mask: IrqWords): void {
    for (let w = 0; w < IrqPage.words; w++) Atomics.store(this.#enabled, w, BigInt.asUintN(64, mask[w]!));
  }

  /**
   * Selector 15: stores a new one-shot completion, releasing the older one
   * (which settles with Aborted, see DEVIATIONS.md), and completes it at once
   * if anything is pending (closes the drain/re-arm race).
   */
  wait(): InterruptWait {
    this.#complete(IOReturn.Aborted);
    let settled = false;
    let resolveFn!: (status: number) => void;
    const completion = new Promise<number>((resolve) => {
      resolveFn = resolve;
    });
    const stored: StoredWait = {
      settle: (status) => {
        if (settled) return;
        settled = true;
        resolveFn(status);
      },
    };
    this.#wait = stored;
    if (this.#anyPending()) this.#complete(IOReturn.Success);
    return {
      completion,
      cancel: () => {
        if (this.#wait === stored) this.#wait = undefined;
        stored.settle(IOReturn.Aborted);
      },
    };
  }

  /** True while a wait is stored. */
  get waiting(): boolean {
    return this.#wait !== undefined;
  }

  /** Client Stop: zero pending, drop the completion (settles Aborted). */
  teardown(): void {
    for (let w = 0; w < IrqPage.words; w++) Atomics.store(this.#pending, w, 0n);
    this.#complete(IOReturn.Aborted);
  }

  #anyPending(): boolean {
    for (let w = 0; w < IrqPage.words; w++) if (Atomics.load(this.#pending, w) !== 0n) return true;
    return false;
  }

  #complete(status: number): void {
    const w = this.#wait;
    if (w === undefined) return;
    this.#wait = undefined;
    w.settle(status);
  }
}
