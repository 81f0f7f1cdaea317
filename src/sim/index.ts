/**
 * The simulated dext backend: a faithful in-process VFIOUserPCIDriver with
 * device models (edu, msix, dual, replay), fault injection and a simulated
 * host address space. See DEVIATIONS.md for where it differs from the real
 * dext on purpose.
 */
export { createSimDext, SIM_HOST_ROOT } from './dext.js';
export type { SimDext, SimDextOptions } from './dext.js';
export { DEFAULT_SIM_MACHINE, loadSimMachine, parseSimMachine } from './machine.js';
export type { SimMachineDescription } from './machine.js';
export { EduModel } from './models/edu.js';
export { MsixLayout } from './models/msix.js';
export { DoorbellReg } from './models/doorbell-regs.js';
export { NVME_SAMPLE_DUMP } from './models/nvme-dump.js';
export { kIOReturnVMError } from './dma-registry.js';
