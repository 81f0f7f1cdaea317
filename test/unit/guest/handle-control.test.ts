/**
 * hostControlForHandle: the host function's interrupt mode switched through
 * its config space (the other modes disabled first, MSI-X function mask
 * cleared, MSI vector count rounded down to what the function offers,
 * COMMAND's INTx disable as the mode needs), reset and DMA passed to the
 * handle.
 */
import { describe, expect, it } from 'vitest';
import { hostControlForHandle } from '../../../src/guest/handle-control.js';
import { CapId, Msi, Msix } from '../../../src/pci/config-space.js';
import { fakeDevice } from './helpers/fake-device.js';

function setup() {
  const dev = fakeDevice({
    bars: [{ index: 0, sizeBytes: 0x4000, type: 0 }],
    msi: { vectors: 8 },
    msix: { vectors: 16, bar: 0, tableOffset: 0x2000, pbaOffset: 0x3000 },
  });
  const cfg = dev.port.cfg;
  // Host as the device worker left it at attach: MSI-X on (function mask set, as a reset may leave it).
  const msix = dev.capAt.get(CapId.MSIX)!;
  const msi = dev.capAt.get(CapId.MSI)!;
  cfg.setWmask(msix + Msix.FLAGS, 2, Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
  cfg.setWmask(msi + Msi.FLAGS, 2, Msi.FLAGS_ENABLE | Msi.FLAGS_QSIZE);
  cfg.set(msix + Msix.FLAGS, 2, 15 | Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
  const calls: string[] = [];
  const handle = {
    bdf: '0000:02:00.0',
    config: dev.port,
    reset: async () => void calls.push('reset'),
    dma: {
      map: async (mem: SharedArrayBuffer, opts: { iova?: bigint }) => {
        calls.push(`map ${mem.byteLength} @0x${opts.iova!.toString(16)}`);
        return { key: opts.iova!, busAddr: opts.iova! + 0x1000n, sizeBytes: BigInt(mem.byteLength) };
      },
      unmap: async (key: bigint) => void calls.push(`unmap 0x${key.toString(16)}`),
    },
  };
  const control = hostControlForHandle(handle as unknown as Parameters<typeof hostControlForHandle>[0]);
  const flags = () => ({
    msix: cfg.read(msix + Msix.FLAGS, 2) & (Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL),
    msi: cfg.read(msi + Msi.FLAGS, 2) & (Msi.FLAGS_ENABLE | Msi.FLAGS_QSIZE),
    intxDisable: (cfg.read(0x04, 2) & 0x400) !== 0,
  });
  return { control, flags, calls };
}

describe('hostControlForHandle', () => {
  it('switches the host between INTx, MSI, MSI-X and none through config space', async () => {
    const { control, flags } = setup();
    await control.setIrqs('intx', 1);
    expect(flags()).toEqual({ msix: Msix.FLAGS_MASKALL, msi: 0, intxDisable: false }); // MSI-X off (its function mask left as it was)
    await control.setIrqs('msi', 6); // 8 offered: 6 rounds down to 4 (MME 2)
    expect(flags()).toEqual({ msix: Msix.FLAGS_MASKALL, msi: Msi.FLAGS_ENABLE | (2 << 4), intxDisable: true });
    await control.setIrqs('msix', 16);
    expect(flags()).toEqual({ msix: Msix.FLAGS_ENABLE, msi: 2 << 4, intxDisable: true }); // function mask cleared
    await control.setIrqs('none', 0);
    expect(flags()).toEqual({ msix: 0, msi: 2 << 4, intxDisable: true });
  });

  it('refuses a mode the function does not have', async () => {
    const dev = fakeDevice({ msi: { vectors: 1 } });
    const control = hostControlForHandle({ bdf: '0000:00:10.0', config: dev.port } as unknown as Parameters<typeof hostControlForHandle>[0]);
    await expect(control.setIrqs('msix', 4)).rejects.toMatchObject({ code: 'PT_ERR_NOT_SUPPORTED' });
  });

  it('passes reset and DMA to the handle', async () => {
    const { control, calls } = setup();
    await control.reset('flr');
    expect(await control.dmaMap(new SharedArrayBuffer(0x2000), 0x10_0000n)).toEqual({ key: 0x10_0000n, busAddr: 0x10_1000n, sizeBytes: 0x2000n });
    await control.dmaUnmap(0x10_0000n);
    expect(calls).toEqual(['reset', 'map 8192 @0x100000', 'unmap 0x100000']);
  });
});
