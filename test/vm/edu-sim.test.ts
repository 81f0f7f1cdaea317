/**
 * The shared edu behaviour tests against the simulated edu: the sim dext
 * (src/sim) under the apple container (src/iokit/apple-iommu-ops.ts), driven
 * directly in this thread (no workers). The same checks run against QEMU's
 * real edu through VFIO in test/vm/linux-vm.test.ts.
 */
import { createAppleContainer } from '../../src/iokit/apple-iommu-ops.js';
import { ConnectionTable } from '../../src/iokit/connection-table.js';
import { createSimDext, DEFAULT_SIM_MACHINE } from '../../src/sim/index.js';
import { toBdf, type Iova } from '../../src/types.js';
import { IrqIndex, RegionIndex } from '../../src/vfio/device-io-ops.js';
import { describeEduBehaviour, type EduAccess } from '../shared/edu-behaviour.js';

async function openSimEdu(): Promise<EduAccess> {
  const bdf = toBdf('0000:00:10.0');
  if (!DEFAULT_SIM_MACHINE.functions.some((f) => f.bdf === bdf && f.model === 'edu')) throw new Error('the default sim machine has no edu at 00:10.0');
  const dext = createSimDext();
  const container = createAppleContainer({ driver: dext, table: new ConnectionTable() });
  const dev = container.attachDevice(bdf);
  const region = dev.ops.regionMap(RegionIndex.BAR0);
  if (region === undefined) throw new Error('BAR0 not mapped');
  const mem = region.memory;
  const queue: number[] = [];
  dev.ops.setIrqs({ index: IrqIndex.MSI, action: 'trigger', start: 0, count: 1, sink: { deliver: (v) => queue.push(v) } });
  const src = dev.interrupts;
  return {
    read32: (off) => Number(mem.read(off, 4)),
    write32: (off, v) => mem.write(off, 4, BigInt(v >>> 0)),
    read64: (off) => mem.read(off, 8),
    write64: (off, v) => mem.write(off, 8, v),
    read8: (off) => Number(mem.read(off, 1)),
    read16: (off) => Number(mem.read(off, 2)),
    async waitIrq(timeoutMs) {
      if (queue.length > 0) return queue.splice(0);
      const timer = setTimeout(() => src.wake(), Math.max(1, timeoutMs));
      try {
        while (queue.length === 0) if ((await src.next()) === 0) break;
      } finally {
        clearTimeout(timer);
      }
      return queue.splice(0);
    },
    async dmaBuffer(sizeBytes) {
      const sab = new SharedArrayBuffer(sizeBytes);
      const va = dext.hostMemory.expose(sab);
      const m = container.dmaMap({ hostVa: va, sizeBytes: BigInt(sizeBytes) });
      return {
        bytes: new Uint8Array(sab),
        busAddr: BigInt(m.busAddr),
        async release() {
          container.dmaUnmap(m.key as Iova);
          dext.hostMemory.unexpose(va);
        },
      };
    },
    async close() {
      src.close();
      container.detachDevice(bdf);
      dext.close();
    },
  };
}

describeEduBehaviour('edu behaviour: simulated edu (sim dext + apple container)', openSimEdu);
