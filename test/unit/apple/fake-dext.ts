/**
 * A tiny recording DextClient for the rules that need none of the sim's
 * device behaviour (config filter call sequences, table refcounts). Every
 * selector is recorded; unset behaviours throw NotReady-free defaults.
 */
import { IOReturn, type DextClient, type IrqWords } from '../../../src/dext/contract.js';
import { dextError } from '../../../src/dext/kern-return.js';
import { toBdf, type Bdf } from '../../../src/types.js';

/** One recorded selector call. */
export interface FakeCall {
  method: string;
  args: unknown[];
}

/** The fake plus its call log. */
export type FakeClient = DextClient & { calls: FakeCall[]; closed: number; config: Uint8Array };

/** Builds a recording client over a 4 KiB config space; `overrides` replace methods. */
export function createFakeClient(bdf: string = '0000:00:10.0', overrides: Partial<DextClient> = {}): FakeClient {
  const config = new Uint8Array(4096);
  const calls: FakeCall[] = [];
  let connected = true;
  const rec = (method: string, args: unknown[]) => calls.push({ method, args });
  const fail = (sel: number) => {
    throw dextError(IOReturn.Unsupported, sel, { bdf });
  };
  const client: FakeClient = {
    bdf: toBdf(bdf) as Bdf,
    get connected() {
      return connected;
    },
    calls,
    closed: 0,
    config,
    getIdentity: () => ({ bus: 0, device: 0, function: 0, vendorId: 0x1234, deviceId: 0x11e8, classCode: 0xff0000 }),
    claim: () => rec('claim', []),
    terminate: () => rec('terminate', []),
    allocateDmaBuffer: () => fail(3),
    freeDmaBuffer: () => rec('freeDmaBuffer', []),
    registerDmaRegion: (key, va, size) => {
      rec('registerDmaRegion', [key, va, size]);
      return { count: 1, busAddr: 0x8000_0000n + key, busLen: size };
    },
    unregisterDmaRegion: (key) => rec('unregisterDmaRegion', [key]),
    probeDmaRegion: () => fail(7),
    configRead: (off, width) => {
      rec('configRead', [off, width]);
      let v = 0;
      for (let i = width - 1; i >= 0; i--) v = v * 256 + (config[off + i] ?? 0xff);
      return v >>> 0;
    },
    configWrite: (off, width, value) => {
      rec('configWrite', [off, width, value]);
      for (let i = 0; i < width; i++) config[off + i] = (value >>> (8 * i)) & 0xff;
    },
    getBarInfo: () => fail(10),
    mmioRead: () => fail(11),
    mmioWrite: () => fail(12),
    setupInterrupts: () => {
      rec('setupInterrupts', []);
      return 1;
    },
    checkInterrupt: (): IrqWords => [0n, 0n, 0n, 0n],
    waitInterrupt: () => ({ completion: new Promise<number>(() => {}), cancel: () => {} }),
    setIrqMask: (mask) => rec('setIrqMask', [mask]),
    resetDevice: () => rec('resetDevice', []),
    mapMemory: () => fail(99),
    unmapMemory: () => rec('unmapMemory', []),
    close: () => {
      connected = false;
      client.closed++;
    },
    ...overrides,
  };
  return client;
}
