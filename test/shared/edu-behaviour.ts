/**
 * ONE edu behaviour file, used against the simulated edu (test/vm/edu-sim.test.ts)
 * and, through the same check functions, against QEMU's real edu inside the
 * guest (test/fixtures/vm-linux-edu.ts runs them without vitest).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { EDU_CHECKS, eduCanRun, type EduAccess } from '../fixtures/vm-edu-checks.js';

export type { EduAccess } from '../fixtures/vm-edu-checks.js';

/**
 * Registers the edu behaviour tests under `label`.
 * @param open builds a fresh access to one edu (called once, before the tests)
 */
export function describeEduBehaviour(label: string, open: () => Promise<EduAccess>): void {
  describe(label, () => {
    let edu: EduAccess | undefined;
    beforeAll(async () => {
      edu = await open();
    });
    afterAll(async () => {
      await edu?.close();
    });
    for (const check of EDU_CHECKS) {
      it(check.name, async (ctx) => {
        if (!eduCanRun(edu!, check)) ctx.skip();
        await check.run(edu!);
      });
    }
  });
}
