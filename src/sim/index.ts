/**
 * The simulated dext backend: a faithful in-process VFIOUserPCIDriver with
 * device models (edu, msix, dual, replay), fault injection and a simulated
 * host address space. See DEVIATIONS.md for where it differs from the real
 * dext on purpose.
 */
export { createSimDext, SIM_HOST_ROOT } from './dext.js';
export type { SimDext, SimDextOptions } from './dext.js';
export type { SimFaults } from './faults.js';
export type { SimHostMemory } from './host-memory.js';
export type { SimFunction } from './function.js';
export { DEFAULT_SIM_MACHINE, SIM_MODEL_NAMES, loadSimMachine, parseSimMachine } from './machine.js';
export type { SimFunctionDescription, SimMachineDescription, SimModelName } from './machine.js';
export { EduModel } from './models/edu.js';
export type { EduOptions } from './models/edu.js';
export { MsixModel, MsixLayout } from './models/msix.js';
export type { MsixOptions } from './models/msix.js';
export { DualModel, DualLayout } from './models/dual.js';
export type { DualOptions } from './models/dual.js';
export { ReplayModel } from './models/replay.js';
export type { ReplayOptions } from './models/replay.js';
export { DoorbellReg } from './models/doorbell-regs.js';
export { NVME_SAMPLE_DUMP, NVME_SAMPLE_BAR_SIZES } from './models/nvme-dump.js';
export type { DeviceModel, ModelHost, SimBarSpec, SimRange } from './models/types.js';
export { kIOReturnVMError } from './dma-registry.js';
