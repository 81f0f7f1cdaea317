/**
 * pcipt public entry. Named exports only (the whole API on one screen).
 */
export { PassthroughError, ERROR_CODES, toPassthroughError } from './errors.js';
export type { ErrorCode, ErrorContext, Errno, SerializedError } from './errors.js';
export { parseBdf, formatBdf, toBdf, byteRange } from './types.js';
export type { Bdf, BdfParts, Iova, HostVa, BarIndex, AccessWidth, ByteRange } from './types.js';

// The actor runtime: supervisor, device handles, restart policy.
export { createSupervisor, Supervisor } from './actors/supervisor.js';
export type { SupervisorOptions, AttachOptions, SupervisorEvents, TraceRecord } from './actors/supervisor.js';
export type { DeviceHandle, DeviceStats, DeviceSummary } from './actors/device-handle.js';
export type { AttachedDeviceInfo, DeviceCounters, IrqMode, RegionSummaryInfo, IrqSummaryInfo } from './actors/protocol.js';
export { DEFAULT_RESTART_POLICY, decideRestart } from './actors/restart-policy.js';
export type { RestartPolicy, RestartDecision } from './actors/restart-policy.js';
export { createBackendHost, BACKEND_NAMES } from './backends/index.js';

// The fast path, for embedding threads (vCPU loops) that receive a descriptor.
export { openFastPath, BarWindow, IrqLine, ConfigPort, DmaMap } from './fastpath/index.js';
export type { DeviceHandleDescriptor, BarWindowDescriptor } from './fastpath/index.js';

// The simulated machine (the default backend) and its description format.
export { DEFAULT_SIM_MACHINE, parseSimMachine, loadSimMachine } from './sim/index.js';
export type { SimMachineDescription } from './sim/index.js';

// Trace points and their sinks.
export { TRACE_POINTS, TRACE_POINT_NAMES, traceChannel, createTraceSink, compileTraceFilter } from './trace.js';
export type { TracePoint } from './trace.js';

// Emulator adapters: v86 (pinned v86 0.5.462, an optional peer dependency loaded on use).
export { attachToV86, checkV86Internals, V86_VERSION } from './adapters/v86.js';
export type { V86AdapterOptions, V86Attachment, V86AttachedFunction, V86FunctionSpec, V86AdapterCounters } from './adapters/v86.js';
export { createV86Machine } from './adapters/v86-machine.js';
export type { V86Machine, V86MachineOptions } from './adapters/v86-machine.js';
