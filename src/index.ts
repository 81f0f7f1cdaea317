/**
 * pcipt public entry. Named exports only (the whole API on one screen).
 */
export { PassthroughError, ERROR_CODES, toPassthroughError } from './errors.js';
export type { ErrorCode, ErrorContext, Errno, SerializedError } from './errors.js';
export { parseBdf, formatBdf, toBdf, byteRange } from './types.js';
export type { Bdf, BdfParts, Iova, HostVa, BarIndex, AccessWidth, ByteRange } from './types.js';

// The actor runtime: supervisor, device handles, restart policy.
export { createSupervisor, Supervisor } from './actors/supervisor/supervisor.js';
export type { SupervisorOptions, AttachOptions, SupervisorEvents, SupervisorInspection, TraceRecord } from './actors/supervisor/supervisor.js';
export type { ConnectionInfo } from './actors/supervisor/ownership.js';
export type {
  DeviceHandle,
  DeviceStats,
  DeviceSummary,
  VfioDeviceView,
  VfioIrqRequest,
  RemoteDextClient,
  CompanionRegisters,
} from './actors/supervisor/handle.js';
export type {
  AttachedDeviceInfo,
  DeviceCounters,
  DextMethod,
  DmaCompanionRequest,
  IrqMode,
  RegionSummaryInfo,
  IrqSummaryInfo,
} from './actors/protocol.js';
export { DEFAULT_RESTART_POLICY, decideRestart } from './actors/restart-policy.js';
export type { RestartPolicy, RestartDecision } from './actors/restart-policy.js';
export { createBackendHost, BACKEND_NAMES } from './backends/index.js';
export type { BackendHost, BackendName, BackendStatus, FunctionSummary, RegionSummary, WorkerBackendSpec } from './vfio/backend.js';

// The fast path, for embedding threads (vCPU loops) that receive a descriptor.
export { openFastPath, loadFastPath, BarWindow, IrqLine, ConfigPort, DmaMap } from './fastpath/index.js';

// The VFIO contract the view speaks (region/IRQ indexes and flags).
export { RegionIndex, IrqIndex, RegionFlags, IrqFlags, DeviceFlags } from './vfio/device-io-ops.js';
export type { DeviceInfo, RegionInfo, IrqInfo, IrqIndexNumber } from './vfio/device-io-ops.js';
export type { DeviceHandleDescriptor, BarWindowDescriptor } from './fastpath/index.js';

// Advanced: the raw dext client (the original's apple-dext-client), for tools like the
// original's CLI: a simulated dext, or the real one through IOKit (koffi loads on first use).
export { createSimDext } from './sim/index.js';
export type { SimDext, SimDextOptions, SimFaults, SimHostMemory, SimFunction, DeviceModel, ModelHost, SimBarSpec, SimRange, SimConfigSpace, SimBarDecl } from './sim/index.js';
export { createIokitDextDriver } from './iokit/dext-client.js';
export type { IokitDextDriverOptions } from './iokit/dext-client.js';
export type { IokitLibraryPaths } from './iokit/bindings.js';
export { Selector, IOReturn, MemoryType } from './dext/contract.js';
export type {
  DextClient,
  DextDriver,
  DextService,
  DextIdentity,
  DextConnectOptions,
  BarInfo,
  MappedMemory,
  DmaLimits,
  DmaBufferInfo,
  DmaRegionInfo,
  IrqWords,
  InterruptWait,
} from './dext/contract.js';

// The simulated machine (the default backend) and its description format.
export { DEFAULT_SIM_MACHINE, parseSimMachine, loadSimMachine } from './sim/index.js';
// An SR-IOV adapter's PFs and VFs, at the addresses real SR-IOV gives them.
export { sriovMachine, sriovLayout } from './sim/index.js';
export type { SriovOptions, SriovPhysicalFunction } from './sim/index.js';
export type { SimMachineDescription, SimFunctionDescription, SimModelName, EduOptions, MsixOptions, DualOptions, ReplayOptions } from './sim/index.js';

// Trace points and their sinks, filters, histograms and counter trees (README "trace").
export {
  TRACE_POINTS,
  TRACE_POINT_NAMES,
  traceChannel,
  traceEnabled,
  createTraceSink,
  createJsonLinesTraceWriter,
  createTextTraceWriter,
  compileTraceFilter,
  selectTracePoints,
  formatTraceLine,
  formatTraceText,
  createLatencyHistogram,
  recordLatency,
  mergeHistograms,
  summarizeHistogram,
  mergeCounters,
} from './trace.js';
export type { TracePoint, TraceEvent, TraceSink, TraceSinkOptions, LineWritable, HistogramSummary, CounterTree } from './trace.js';

// The guest-facing PCI function (for emulators): emulated config space, MSI/MSI-X/INTx, gpa routing.
export { openGuestFunction, createGuestFunction, hostControlForHandle } from './guest/index.js';
export type {
  GuestFunction,
  GuestFunctionOptions,
  OpenGuestFunctionOptions,
  GuestPciFunction,
  GuestBar,
  GuestFunctionSink,
  GuestHostControl,
  GuestDmaMapping,
  GuestFunctionStats,
  HostIrqMode,
  RomSource,
} from './guest/index.js';

// Emulator adapters: v86 (pinned v86 0.5.462, an optional peer dependency loaded on use).
export { attachToV86, checkV86Internals, V86_VERSION } from './adapters/v86.js';
export type { V86AdapterOptions, V86Attachment, V86AttachedFunction, V86FunctionSpec, V86AdapterCounters } from './adapters/v86.js';
export { createV86Machine } from './adapters/v86-machine.js';
export type { V86Machine, V86MachineOptions } from './adapters/v86-machine.js';
