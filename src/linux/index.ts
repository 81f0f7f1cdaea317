/**
 * The linux VFIO backend (koffi over libc). Importing this module never loads
 * koffi: libc is bound on first use, so it imports cleanly on machines
 * without /dev/vfio (or off Linux).
 */
export { createLinuxBackendHost, leaseToOptions, parseSysfsResource, type LinuxHostOptions, type LinuxWorkerOptions } from './host.js';
export { createLinuxWorkerBackend, leaseFromSpec, LINUX_VIEW_FACTORY_MODULE } from './worker.js';
export { createLinuxIommuOps, fixedProvider, tableProvider, type GroupProvider, type LinuxIommuOps } from './iommu.js';
export { VfioGroupTable, sharedGroupTable, IOVA_BASE, IOVA_WINDOW_BYTES, type GroupLease } from './container.js';
export { createLinuxDevice, enableBusMaster, getDeviceInfo, LINUX_PAGE_BYTES, type LinuxDevice } from './device.js';
export { LinuxInterruptSource } from './interrupts.js';
export { NativeMappedMemory, viewAt } from './mapped-bar.js';
export { listSysfsFunctions, readFunction, requireVfioBound, type SysfsFunction } from './sysfs.js';
export { codeForErrno, errnoError, errnoName, LinuxErrno } from './errno.js';
export * as vfioAbi from './vfio-abi.js';
