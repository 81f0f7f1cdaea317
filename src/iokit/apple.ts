/**
 * The apple backend in one import: the device table, the container, the
 * shared connection table and the DMA companion, all over a DextClient.
 */
export { createAppleDeviceIoOps, irqMaskWords, unmapAllBars, APPLE_REGION_SHIFT } from './apple-device-io-ops.js';
export type { AppleDeviceIoOps } from './apple-device-io-ops.js';
export {
  appleDeviceName,
  createAppleDeviceState,
  prepareAppleDevice,
  BAR_COUNT,
  MAX_IRQ_VECTORS,
} from './apple-device-state.js';
export type { AppleDeviceState, AppleBarState, AppleBarMap, AppleIrqMode, AppleIrqState, AppleIrqStats } from './apple-device-state.js';
export { createAppleInterruptSource, deliverPending } from './apple-interrupt-source.js';
export type { BlockingInterruptWait } from './apple-interrupt-source.js';
export { createAppleContainer, APPLE_DEVICE_INFO, APPLE_ALLOCATED_KEY_BASE } from './apple-iommu-ops.js';
export type { AppleContainer, AppleContainerOptions, AppleAttachedDevice } from './apple-iommu-ops.js';
export { ConnectionTable } from './connection-table.js';
export type { ConnectionHandle } from './connection-table.js';
export {
  DmaCompanion,
  DmaCompanionRegistry,
  DmaCmd,
  DmaCmdPage,
  DmaEntry,
  DmaReg,
  DmaStatus,
  DMA_COMPANION_BAR_BYTES,
  DMA_COMPANION_DEFAULT_MAX_ENTRIES,
  DMA_COMPANION_PCI_ID,
  DMA_COMPANION_VERSION,
} from './dma-companion.js';
export type { DmaCompanionConnection, DmaCompanionEntry, DmaCompanionHost, DmaCompanionOptions } from './dma-companion.js';
export { SabGuestMemory } from './guest-memory.js';
export type { GuestMemory, GuestRamSlot } from './guest-memory.js';
