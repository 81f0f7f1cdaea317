/**
 * The shared edu behaviour tests against the simulated edu: the sim dext
 * (src/sim) under the apple container (src/apple/container.ts), driven
 * directly in this thread (no workers). The same checks run against QEMU's
 * real edu through VFIO in test/vm/linux-vm.test.ts.
 */
import { createAppleContainer } from '../../src/apple/container.js';
import { ConnectionTable } from '../../src/apple/connection-table.js';
import { createSimDext, DEFAULT_SIM_MACHINE } from '../../src/sim/index.js';
import { toBdf, type Iova } from '../../src/types.js';
import { attachedEduCore } from '../fixtures/vm-linux-access.js';
import { describeEduBehaviour, type EduAccess } from '../shared/edu-behaviour.js';

async function openSimEdu(): Promise<EduAccess> {
  const bdf = toBdf('0000:00:10.0');
  if (!DEFAULT_SIM_MACHINE.functions.some((f) => f.bdf === bdf && f.model === 'edu')) throw new Error('the default sim machine has no edu at 00:10.0');
  const dext = createSimDext();
  const container = createAppleContainer({ driver: dext, table: new ConnectionTable() });
  const dev = container.attachDevice(bdf);
  const core = attachedEduCore(dev);
  return {
    ...core,
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
      dev.interrupts.close();
      container.detachDevice(bdf);
      dext.close();
    },
  };
}

describeEduBehaviour('edu behaviour: simulated edu (sim dext + apple container)', openSimEdu);
