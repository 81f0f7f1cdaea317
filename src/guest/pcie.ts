/**
 * The PCI Express capability in the guest's view. The later rule of the
 * original (learned on real hardware): guest writes to Device Control and
 * Device Control 2 are virtualized, never forwarded. The layer applies the
 * same to Link Control and Link Control 2 (a guest's ASPM policy, link
 * disable or retrain must not reach the host's link). Those four registers
 * are emulated (initial value: the device's at open), everything else in
 * the capability reads live; writes are refused except the write-1-to-clear
 * error bits of Device Status, which are forwarded.
 *
 * Device Control bit 15, "Initiate Function Level Reset", is writable when
 * Device Capabilities advertises FLR; writing 1 runs `onFlr` and the bit
 * reads 0 (self-clearing).
 */
import type { VirtualConfig } from './config-space.js';
import type { GuestConfigPort } from './device.js';

/** Offsets inside the PCIe capability. */
export const PcieReg = {
  FLAGS: 0x02,
  DEVCAP: 0x04,
  DEVCTL: 0x08,
  DEVSTA: 0x0a,
  LNKCTL: 0x10,
  DEVCTL2: 0x28,
  LNKCTL2: 0x30,
} as const;

/** Device Capabilities: Function Level Reset capable. */
export const kDevCapFlr = 1 << 28;
/** Device Control: Initiate Function Level Reset. */
export const kDevCtlFlr = 0x8000;
/** Link Control: Retrain Link (self-clearing, reads 0). */
const kLnkCtlRetrain = 0x0020;

/** The emulated PCIe registers of one function. */
export interface PcieEmulation {
  /** Offset of the capability. */
  readonly offset: number;
  /** The function advertises FLR. */
  readonly flr: boolean;
  /** Back to the values read at open (a reset). */
  reset(): void;
}

/**
 * Sets up the emulated PCIe registers of the capability at `offset`
 * (`maxBytes` long at most) and calls `onFlr` when the guest initiates FLR.
 */
export function setupPcie(
  vc: VirtualConfig,
  port: GuestConfigPort,
  offset: number,
  maxBytes: number,
  onFlr: () => void,
): PcieEmulation {
  const version = port.read16(offset + PcieReg.FLAGS) & 0xf;
  const flr = (port.read32(offset + PcieReg.DEVCAP) & kDevCapFlr) !== 0;
  // Everything in the capability refuses writes but the DevSta error bits (W1C, forwarded).
  vc.refuse(offset, Math.min(maxBytes, 0x3c));
  for (let at = offset + PcieReg.DEVSTA; at < offset + PcieReg.DEVSTA + 2; at++) vc.fwd[at] = 0xff;
  const regs: { at: number; initial: number; wmask: number }[] = [
    { at: offset + PcieReg.DEVCTL, initial: port.read16(offset + PcieReg.DEVCTL) & ~kDevCtlFlr, wmask: 0x7fff | (flr ? kDevCtlFlr : 0) },
    { at: offset + PcieReg.LNKCTL, initial: port.read16(offset + PcieReg.LNKCTL) & ~kLnkCtlRetrain, wmask: 0xffff & ~kLnkCtlRetrain },
  ];
  // The v2 registers exist only in a version 2 capability that has room for them.
  if (version >= 2 && maxBytes >= PcieReg.LNKCTL2 + 2) {
    regs.push(
      { at: offset + PcieReg.DEVCTL2, initial: port.read16(offset + PcieReg.DEVCTL2), wmask: 0xffff },
      { at: offset + PcieReg.LNKCTL2, initial: port.read16(offset + PcieReg.LNKCTL2), wmask: 0xffff },
    );
  }
  for (const r of regs) vc.emulate(r.at, 2, r.initial, { wmask: r.wmask });
  const devctl = offset + PcieReg.DEVCTL;
  vc.onWrite(devctl, devctl + 2, () => {
    if ((vc.get16(devctl) & kDevCtlFlr) === 0) return;
    vc.set(devctl, 2, vc.get16(devctl) & ~kDevCtlFlr);
    onFlr();
  });
  return {
    offset,
    flr,
    reset(): void {
      for (const r of regs) vc.set(r.at, 2, r.initial);
    },
  };
}
