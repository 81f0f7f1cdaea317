/**
 * Shared setup of the apple rule tests: a simulated dext, a connection
 * table, a container, and a spy that records every selector a client sees.
 */
import { createSimDext } from '../../../src/sim/index.js';
import { createAppleContainer, type AppleContainer } from '../../../src/apple/container.js';
import { ConnectionTable } from '../../../src/apple/connection-table.js';
import type { DextClient } from '../../../src/dext/contract.js';
import { toBdf } from '../../../src/types.js';

/** The default machine's functions. */
export const EDU = toBdf('0000:00:10.0');
export const EDU2 = toBdf('0000:00:11.0');
export const MSIX = toBdf('0000:02:00.0');
export const DUAL0 = toBdf('0000:03:00.0');
export const DUAL1 = toBdf('0000:03:00.1');
export const MISSING = toBdf('0000:09:00.0');

/** The simulated dext type. */
export type Sim = ReturnType<typeof createSimDext>;

/** A recorded call. */
export interface SpyCall {
  method: string;
  args: unknown[];
}

/** Wraps `client` so every method call is recorded (the client's own behaviour is kept). */
export function spyClient(client: DextClient): { client: DextClient; calls: SpyCall[]; names: () => string[] } {
  const calls: SpyCall[] = [];
  const proxy = new Proxy(client, {
    get(target, key) {
      const v = Reflect.get(target, key, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push({ method: String(key), args });
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client: proxy, calls, names: () => calls.map((c) => c.method) };
}

/** A fresh sim, table and container (dmaRouting default 'container'). */
export function rig(dmaRouting: 'container' | 'companion' = 'container'): {
  sim: Sim;
  table: ConnectionTable;
  container: AppleContainer;
  newContainer: () => AppleContainer;
} {
  const sim = createSimDext();
  const table = new ConnectionTable();
  const newContainer = () => createAppleContainer({ driver: sim, table, dmaRouting });
  return { sim, table, container: newContainer(), newContainer };
}

/** The error `fn` throws (fails the test when it does not throw). */
export { thrown } from '../../shared/thrown.js';
