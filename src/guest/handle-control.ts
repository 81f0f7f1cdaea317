/**
 * A {@link GuestHostControl} over a DeviceHandle: the guest layer's host
 * side on the supervisor's VFIO-level view, for every backend.
 *
 * - setIrqs puts the host function in the guest's mode with VFIO setIrqs
 *   (`handle.vfio.setIrqs`): on a mode switch the old mode is disabled first,
 *   as vfio_disable_interrupts does, then [0, vectors) of the new one are
 *   enabled; within a mode, missing vectors are added (never a gap); 'none'
 *   leaves the host enabled (the layer drops what the guest has turned off).
 *   The device worker programs what the host side owns: the MSI / MSI-X
 *   enable bits on the dext backends (sim, iokit), written past the guest
 *   write filter so a switch really leaves the old mode (apple DEVIATIONS
 *   #32); vfio-pci programs the real capability itself (linux). Between the
 *   two it calls `switched`, so the layer tells the old mode's vectors on the
 *   line from the new one's.
 * - reset is the handle's reset (FLR, or the hot reset the dext falls back
 *   to, which the supervisor passes on to the slot's other functions).
 * - dmaMap / dmaUnmap are the handle's DMA map.
 *
 * The calls go through the supervisor's control plane: use it where the
 * handle lives (the supervisor's thread), with the guest function in that thread.
 */
import type { DeviceHandle } from '../actors/supervisor/handle.js';
import { PassthroughError } from '../errors.js';
import { IrqIndex, type IrqIndexNumber } from '../vfio/device-io-ops.js';
import type { GuestHostControl, HostIrqMode } from './contract.js';

const MODE_INDEX: Record<Exclude<HostIrqMode, 'none'>, IrqIndexNumber> = { msix: IrqIndex.MSIX, msi: IrqIndex.MSI, intx: IrqIndex.INTX };

/** Builds the control. */
export function hostControlForHandle(handle: Pick<DeviceHandle, 'vfio' | 'reset' | 'dma' | 'bdf' | 'info'>): GuestHostControl {
  // VFIO_DEVICE_GET_IRQ_INFO's count is fixed by the function's capabilities: asked once per index,
  // so a mode switch costs its two setIrqs round trips, not three.
  const counts = new Map<IrqIndexNumber, number>();
  const countOf = async (index: IrqIndexNumber): Promise<number> => {
    let n = counts.get(index);
    if (n === undefined) counts.set(index, (n = (await handle.vfio.irqInfo(index)).count));
    return n;
  };
  return {
    async setIrqs(mode: HostIrqMode, vectors: number, switched?: () => void): Promise<void> {
      // 'none' leaves the host as it is: the guest layer drops what arrives while the guest has
      // interrupts off, and re-enabling then opens no window in which a host interrupt is lost.
      if (mode === 'none') return;
      const index = MODE_INDEX[mode];
      const count = await countOf(index);
      if (count === 0) {
        throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `host function ${handle.bdf} has no ${mode.toUpperCase()} vectors`, { bdf: handle.bdf, mode });
      }
      const want = mode === 'intx' ? 1 : Math.min(Math.max(1, vectors), count);
      if (handle.info.irqMode === mode) {
        switched?.();
        // Vectors are added incrementally (as QEMU adds MSI-X vectors): only what is missing, no gap.
        const have = handle.info.irqVectors;
        if (have < want) await handle.vfio.setIrqs({ index, action: 'trigger', start: have, count: want - have });
        return;
      }
      // A real mode switch: the old mode off first (vfio_disable_interrupts), then the new one.
      const old = handle.info.irqMode;
      if (old === 'msix' || old === 'msi' || old === 'intx') await handle.vfio.setIrqs({ index: MODE_INDEX[old], action: 'trigger', start: 0, count: 0 });
      // On sim the old mode's last raise happened in the device worker before this reply: the line now
      // holds only old-mode vectors. With a pump thread (linux, iokit) one the pump is still handing over
      // can land just after, and is read as the new mode's.
      switched?.();
      await handle.vfio.setIrqs({ index, action: 'trigger', start: 0, count: want });
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
