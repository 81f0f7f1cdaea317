/**
 * The linux VFIO backend (koffi over libc). Importing this module never loads
 * koffi: libc is bound on first use, so it imports cleanly on machines
 * without /dev/vfio (or off Linux). The backend registry (src/backends)
 * loads host.ts, worker.ts and interrupts.ts directly; this entry is for
 * programs that drive the backend's halves themselves (the VM tier's guest programs).
 */
export { createLinuxBackendHost, parseSysfsResource } from './host.js';
export { createLinuxWorkerBackend } from './worker.js';
export { VfioGroupTable } from './container.js';
export { viewAt } from './mapped-bar.js';
