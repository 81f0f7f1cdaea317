/**
 * The shared-memory fast path: per-device control block, BAR windows, the
 * IRQ line and pump, the config mailbox and DMA mappings.
 */
export {
  kLayoutVersion,
  kControlBlockBytes,
  kCacheLineBytes,
  kBarCount,
  kIrqVectors,
  kIrqBitmapWords,
  ServerState,
  createDeviceControlBlock,
  checkLayout,
} from './layout.js';
export type { ControlBlockOptions } from './layout.js';
export { BarWindow, kTrapPageBytes, kMaxWindowBytes } from './bar-window.js';
export type { BarWindowDescriptor, BarWindowDeps, SlowPath } from './bar-window.js';
export { requestUnmap, requestUnmapAsync, reinstateBar, barHolders, isBarMapped } from './lease.js';
export { IrqLine } from './irq-line.js';
export type { IrqCounters, WaitSyncOptions } from './irq-line.js';
export { startIrqPump, irqSinkFor } from './irq-pump.js';
export type { IrqPump, IrqPumpOptions, IrqPumpStats } from './irq-pump.js';
export {
  MailboxClient,
  MailboxOp,
  kDefaultMailboxTimeoutMs,
  serveMailbox,
  markServerGone,
  markServerAlive,
} from './mailbox.js';
export type {
  MailboxOpCode,
  MailboxClientOptions,
  MailboxHandler,
  MailboxServer,
  MailboxServerOptions,
} from './mailbox.js';
export {
  ConfigPort,
  createConfigServerHandler,
  createMailboxSlowPath,
  kConfigRegionIndex,
  kConfigSpaceBytes,
} from './config-port.js';
export { DmaMap } from './dma-map.js';
export type { DmaControl, DmaControlRequest, DmaMapEntry, DmaMapOptions, DmaMemory } from './dma-map.js';
export { openFastPath } from './handle.js';
export type { DeviceHandleDescriptor, FastPath, OpenFastPathDeps } from './handle.js';
