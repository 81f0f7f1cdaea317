/**
 * What to do next, for the errors an operator can fix from the shell: a
 * second line after `pcipt: <message>` (and `error.hint` under `--json`).
 * The library's messages already say why; these name the pcipt command or
 * the system step that fixes it.
 */
import type { PassthroughError } from '../errors.js';

/** A hint for `error`, or undefined when the message says all there is. */
export function hintFor(error: PassthroughError): string | undefined {
  const bdf = typeof error.context.bdf === 'string' ? error.context.bdf : '<bdf>';
  switch (error.code) {
    case 'PT_ERR_NOT_BOUND':
      return `hand it to vfio-pci with "sudo pcipt --backend linux bind ${bdf}"`;
    case 'PT_ERR_GROUP_NOT_VIABLE':
      return `bind the whole IOMMU group with "sudo pcipt --backend linux bind --group ${bdf}"`;
    case 'PT_ERR_PERMISSION':
      return typeof error.context.path === 'string' && error.context.path.startsWith('/sys/')
        ? 'sysfs writes need root: run the command with sudo'
        : 'run as root, or give your user the device nodes (/dev/vfio/vfio and /dev/vfio/<group>, e.g. with a udev rule)';
    case 'PT_ERR_VFIO_UNAVAILABLE':
      return '"pcipt --backend linux driver-status" shows what is missing (modules, /dev/vfio, the IOMMU)';
    case 'PT_ERR_DUPLICATE_OWNER':
      return 'another pcipt supervisor (or process) holds the function; detach it there first';
    default:
      return undefined;
  }
}
