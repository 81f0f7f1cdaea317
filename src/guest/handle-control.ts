/**
 * A {@link GuestHostControl} over a DeviceHandle, for the sim backend, whose
 * simulated functions take their interrupt mode from their own config space
 * and whose dext delivers whatever a function signals on the vectors
 * registered at attach. Not for real hardware: linux vfio-pci virtualizes the
 * MSI capability (modes switch with VFIO_DEVICE_SET_IRQS), and on the real
 * dext macOS owns the MSI capability (the original's later rule keeps guest
 * writes off it), so there the supervisor's VFIO-level view must switch modes
 * with the backend's own interrupt setup.
 *
 * - setIrqs switches the host function's capability enables (and COMMAND's
 *   INTx disable) through the handle's ConfigPort, which the device worker
 *   forwards (the original's filter lets capability writes through): the
 *   other modes are disabled first, as vfio_disable_interrupts does; MSI-X is
 *   enabled with its function mask clear, MSI with Multiple Message Enable
 *   for `vectors` (rounded down to a power of two the function offers). The
 *   host's message addresses and table entries stay as the worker programmed
 *   them at attach, so attach in the default (best) mode: its vectors are
 *   the ones registered.
 * - reset is the handle's reset (FLR, or the hot reset the dext falls back to).
 * - dmaMap / dmaUnmap are the handle's DMA map.
 *
 * It runs its config cycles in the calling thread: use it where the handle
 * lives (the supervisor's thread), with the guest function in that thread.
 */
import type { DeviceHandle } from '../actors/device-handle.js';
import { PassthroughError } from '../errors.js';
import { Cfg, Command, Msi, Msix } from '../pci/config-space.js';
import { parseInterruptCapabilities, type InterruptCapabilities } from '../vfio/pci-caps.js';
import type { GuestHostControl, HostIrqMode } from './contract.js';

/** Builds the control. The handle's config space is read on the first setIrqs. */
export function hostControlForHandle(handle: Pick<DeviceHandle, 'config' | 'reset' | 'dma' | 'bdf'>): GuestHostControl {
  const cfg = handle.config;
  let caps: InterruptCapabilities | undefined;
  const capsOf = (): InterruptCapabilities =>
    (caps ??= parseInterruptCapabilities((off, w) => (w === 4 ? cfg.read32(off) >>> 0 : w === 2 ? cfg.read16(off) : cfg.read8(off))));
  return {
    async setIrqs(mode: HostIrqMode, vectors: number): Promise<void> {
      const { msi, msix } = capsOf();
      if ((mode === 'msix' && msix === undefined) || (mode === 'msi' && msi === undefined)) {
        throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `host function has no ${mode.toUpperCase()} capability`, { bdf: handle.bdf, mode });
      }
      if (msix !== undefined && mode !== 'msix') {
        cfg.write16(msix.offset + Msix.FLAGS, cfg.read16(msix.offset + Msix.FLAGS) & ~Msix.FLAGS_ENABLE);
      }
      if (msi !== undefined && mode !== 'msi') {
        cfg.write16(msi.offset + Msi.FLAGS, cfg.read16(msi.offset + Msi.FLAGS) & ~Msi.FLAGS_ENABLE);
      }
      let command = cfg.read16(Cfg.COMMAND) | Command.INTX_DISABLE;
      if (mode === 'msix') {
        const at = msix!.offset + Msix.FLAGS;
        cfg.write16(at, (cfg.read16(at) | Msix.FLAGS_ENABLE) & ~Msix.FLAGS_MASKALL);
      } else if (mode === 'msi') {
        const at = msi!.offset + Msi.FLAGS;
        let mme = 0;
        while (1 << (mme + 1) <= Math.min(vectors, msi!.vectors)) mme++;
        cfg.write16(at, (cfg.read16(at) & ~Msi.FLAGS_QSIZE) | (mme << 4) | Msi.FLAGS_ENABLE);
      } else if (mode === 'intx') {
        command &= ~Command.INTX_DISABLE;
      }
      cfg.write16(Cfg.COMMAND, command);
    },
    async reset(): Promise<void> {
      await handle.reset();
    },
    async dmaMap(memory: SharedArrayBuffer, iova: bigint) {
      const e = await handle.dma.map(memory, { iova });
      return { key: e.key, busAddr: e.busAddr, sizeBytes: e.sizeBytes };
    },
    async dmaUnmap(key: bigint): Promise<void> {
      await handle.dma.unmap(key);
    },
  };
}
