/**
 * INTx with vfio-pci's level semantics (QEMU vfio_intx_interrupt /
 * vfio_intx_eoi), over a host line that the dext delivers as an edge:
 *
 * - a host INTx (vector 0 while the guest uses INTx) makes the function
 *   `pending`: the line is asserted to the embedder and the host line counts
 *   as masked: further host INTx are absorbed until the end of interrupt;
 * - EOI (the embedder's interrupt controller, or the guest's next BAR access
 *   while pending, as vfio's BAR handlers do) deasserts, unmasks the host
 *   line (GuestHostControl.unmaskIntx where the host automasks) and samples
 *   the device's level: STATUS's interrupt bit, read through the config port.
 *   A device still asserting makes the function pending again at once (the
 *   re-fire vfio gets from unmasking a line that is still high);
 * - COMMAND's INTx disable (the guest's own bit) gates the line; clearing it
 *   samples the device's level too;
 * - while the guest uses MSI or MSI-X the line is inactive (deasserted, not
 *   pending).
 *
 * The guest's STATUS interrupt bit reads as the device's, ORed with
 * `pending` when a host INTx made it pending: a device that pulses INTx (or
 * has lowered it by the time the guest looks) still shows the interrupt to a
 * driver that checks STATUS before claiming it (Linux's
 * pci_check_and_mask_intx). When `pending` came from sampling the device's
 * level instead, a STATUS read that finds the level low ends it: the level
 * is gone (acknowledged without a BAR access, e.g. through config space).
 */
import { Cfg, Status } from '../pci/config-space.js';
import type { GuestConfigPort } from './device.js';

/** What INTx needs from the function. */
export interface IntxHost {
  /** Level change to the embedder. */
  setLevel(asserted: boolean): void;
  /** Re-enables an automasked host line (optional; GuestHostControl.unmaskIntx). */
  unmaskHost?(): void;
  /** Sampling the device's level failed (the level counts as low). */
  sampleFailed(e: unknown): void;
}

/** The INTx state of one function. */
export class IntxEmulation {
  /** The function has an interrupt pin (1–4); without one nothing ever asserts. */
  readonly pin: number;
  readonly #port: GuestConfigPort;
  readonly #host: IntxHost;
  #pending = false;
  /** `pending` came from sampling the device's level (not from a host INTx). */
  #sampled = false;
  #disabled = false;
  #active: boolean;
  #asserted = false;

  constructor(port: GuestConfigPort, pin: number, host: IntxHost) {
    this.#port = port;
    this.pin = pin >= 1 && pin <= 4 ? pin : 0;
    this.#host = host;
    this.#active = this.pin !== 0;
  }

  /** A host INTx fired and has not been ended. */
  get pending(): boolean {
    return this.#pending;
  }

  /** The level the embedder was last given. */
  get asserted(): boolean {
    return this.#asserted;
  }

  /** A host INTx. Absorbed while one is pending (the host line counts as masked). */
  fire(): void {
    if (!this.#active || this.#pending) return;
    this.#pending = true;
    this.#sampled = false;
    this.#update();
  }

  /** End of interrupt: deassert, unmask the host line, resample the device's level. */
  eoi(): void {
    if (!this.#pending) return;
    this.#pending = false;
    this.#update();
    this.#host.unmaskHost?.();
    this.#resample();
  }

  /** The guest wrote COMMAND's INTx disable bit. */
  setDisabled(disabled: boolean): void {
    if (disabled === this.#disabled) return;
    this.#disabled = disabled;
    if (!disabled && !this.#pending) this.#resample();
    this.#update();
  }

  /** The guest left (false) or came back to (true) INTx: MSI or MSI-X was enabled or disabled. */
  setActive(active: boolean): void {
    active &&= this.pin !== 0;
    if (active === this.#active) return;
    this.#active = active;
    this.#pending = false;
    this.#update();
    if (active) this.#resample();
  }

  /** Power-on: not pending, INTx disable clear, active when the function has a pin. */
  reset(): void {
    this.#pending = false;
    this.#disabled = false;
    this.#active = this.pin !== 0;
    this.#update();
  }

  /** The guest's STATUS (interrupt bit merged) from the device's STATUS value. */
  overlayStatus(status: number): number {
    if (!this.#pending) return status;
    if (this.#sampled && (status & Status.INTERRUPT) === 0) {
      this.#pending = false;
      this.#update();
      return status;
    }
    return status | Status.INTERRUPT;
  }

  #resample(): void {
    if (!this.#active) return;
    let status: number;
    try {
      status = this.#port.read16(Cfg.STATUS);
    } catch (e) {
      // A device (or worker) gone: its line counts as low, the guest's access goes on.
      this.#host.sampleFailed(e);
      return;
    }
    if ((status & Status.INTERRUPT) === 0) return;
    this.#pending = true;
    this.#sampled = true;
    this.#update();
  }

  #update(): void {
    const level = this.#pending && this.#active && !this.#disabled;
    if (level === this.#asserted) return;
    this.#asserted = level;
    this.#host.setLevel(level);
  }
}
