/**
 * The shared-memory fast path: per-device control block, BAR windows, the
 * IRQ line, the config mailbox (client side) and DMA mappings. The worker
 * side (IRQ pump, mailbox server) lives in src/actors/.
 */
export {
  kLayoutVersion,
  kControlBlockBytes,
  kCacheLineBytes,
  kBarCount,
  kIrqVectors,
  kIrqBitmapWords,
  ServerState,
  Liveness,
  createDeviceControlBlock,
  checkLayout,
} from './layout.js';
export type { ControlBlockOptions, LivenessState } from './layout.js';
export { livenessOf, markLiveness } from './liveness.js';
export { BarWindow, kTrapPageBytes, kMaxWindowBytes } from './bar-window.js';
export type { BarWindowDescriptor, BarWindowDeps, SlowPath } from './bar-window.js';
export { requestUnmap, requestUnmapAsync, reinstateBar, barHolders, isBarMapped } from './lease.js';
export { IrqLine } from './irq-line.js';
export type { IrqCounters, WaitSyncOptions } from './irq-line.js';
export { MailboxClient, MailboxOp, kDefaultMailboxTimeoutMs, markServerGone, markServerAlive } from './mailbox.js';
export type { MailboxOpCode, MailboxClientOptions } from './mailbox.js';
export {
  ConfigPort,
  createMailboxSlowPath,
  kConfigRegionIndex,
  kConfigSpaceBytes,
} from './config-port.js';
export { DmaMap } from './dma-map.js';
export type { DmaControl, DmaControlRequest, DmaMapEntry, DmaMapOptions, DmaMemory } from './dma-map.js';
export { openFastPath, loadFastPath } from './handle.js';
export type { DeviceHandleDescriptor, FastPath, OpenFastPathDeps } from './handle.js';
