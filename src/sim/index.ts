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
export { DEFAULT_SIM_MACHINE, loadSimMachine, parseSimMachine } from './machine.js';
export type { SimFunctionDescription, SimMachineDescription, SimModelName } from './machine.js';
export { sriovLayout, sriovMachine } from './sriov.js';
export type { SriovOptions, SriovPhysicalFunction } from './sriov.js';
export type { EduOptions } from './models/edu.js';
export type { MsixOptions } from './models/msix.js';
export type { DualOptions } from './models/dual.js';
export type { ReplayOptions } from './models/replay.js';
export { EduModel } from './models/edu.js';
export { MsixLayout } from './models/msix.js';
export { DoorbellReg } from './models/doorbell-regs.js';
export { NVME_SAMPLE_DUMP } from './models/nvme-dump.js';
export { kIOReturnVMError } from './dma-registry.js';
export type { DeviceModel, ModelHost, SimBarSpec, SimRange } from './models/types.js';
export type { SimConfigSpace, SimBarDecl } from './config-space.js';
