/**
 * A {@link GuestHostControl} over a DeviceHandle: the guest layer's host
 * side on the supervisor's VFIO-level view, for every backend.
 *
 * - setIrqs puts the host function in the guest's mode with VFIO setIrqs
 *   (`handle.vfio.setIrqs`): the other modes are disabled first, as
 *   vfio_disable_interrupts does, then [0, vectors) of the mode are enabled.
 *   The device worker programs what the host side owns (on the sim, the
 *   simulated function's capability enables; vfio-pci and the dext program
 *   the real MSI capability themselves).
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
  return {
    async setIrqs(mode: HostIrqMode, vectors: number): Promise<void> {
      if (mode !== 'none') {
        const { count } = await handle.vfio.irqInfo(MODE_INDEX[mode]);
        if (count === 0) {
          throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `host function ${handle.bdf} has no ${mode.toUpperCase()} vectors`, { bdf: handle.bdf, mode });
        }
        vectors = Math.min(Math.max(1, vectors), count);
      }
      for (const m of ['msix', 'msi', 'intx'] as const) {
        if (m !== mode && handle.info.irqMode === m) await handle.vfio.setIrqs({ index: MODE_INDEX[m], action: 'trigger', start: 0, count: 0 });
      }
      if (mode === 'none') return;
      const index = MODE_INDEX[mode];
      // Vectors are enabled incrementally: start from none so the count is exactly `vectors`.
      if (handle.info.irqMode === mode) await handle.vfio.setIrqs({ index, action: 'trigger', start: 0, count: 0 });
      await handle.vfio.setIrqs({ index, action: 'trigger', start: 0, count: mode === 'intx' ? 1 : vectors });
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
