/**
 * The guest-facing PCI function layer: what an emulator plugs into its PCI
 * bus for a passed-through function (QEMU's vfio-pci on top of the ops).
 * See README "Emulator integration" for what is virtualized and why.
 */
export type {
  GuestBar,
  GuestDmaMapping,
  GuestFunctionSink,
  GuestFunctionStats,
  GuestHostControl,
  GuestPciFunction,
  HostIrqMode,
} from './contract.js';
export type { GuestBarPort, GuestConfigPort, GuestDevice, GuestIrqPort } from './device.js';
export { slowBarPort } from './device.js';
export { createGuestFunction } from './function.js';
export type { GuestFunction, GuestFunctionOptions } from './function.js';
export { openGuestFunction } from './open.js';
export type { GuestRegionInfo, OpenGuestFunctionOptions } from './open.js';
export { hostControlForHandle } from './handle-control.js';
export { kDefaultHiddenCapabilities, kDefaultHiddenExtendedCapabilities } from './capabilities.js';
export { kRomIndex } from './bars.js';
export type { RomSource } from './rom.js';
