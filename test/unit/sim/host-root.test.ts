/**
 * The sim's side of the host-root option ([G] host-root=): every simulated
 * function hangs under one root, "sim" (the sim tells functions apart by
 * domain); another root is refused with the later original's text.
 */
import { afterEach, expect, it } from 'vitest';
import { createSimDext, SIM_HOST_ROOT, type SimDext } from '../../../src/sim/index.js';
import { toBdf } from '../../../src/types.js';
import { thrown } from '../../shared/thrown.js';
import { EDU0 } from './helpers.js';

let dext: SimDext;
afterEach(() => dext?.close());

it('lists every function under the sim root; connect accepts it and refuses any other', () => {
  dext = createSimDext();
  expect(new Set(dext.listServices().map((s) => s.hostRoot))).toEqual(new Set([SIM_HOST_ROOT]));
  dext.connect(toBdf(EDU0), { hostRoot: SIM_HOST_ROOT }).close();
  const e = thrown(() => dext.connect(toBdf(EDU0), { hostRoot: 'pcic1-bridge' }));
  expect([e.code, e.message]).toEqual([
    'PT_ERR_CONNECT_FAILED',
    "no VFIOUserPCIDriver instance for 00:10.0 under root 'pcic1-bridge' (found under: sim)",
  ]);
  expect(e.context.hostRoots).toEqual(['sim']);
});
