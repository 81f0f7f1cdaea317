/** A GuestHostControl that records what the guest layer asks of the host. */
import type { GuestHostControl, HostIrqMode } from '../../../../src/guest/contract.js';
import { PassthroughError } from '../../../../src/errors.js';

/** The recording control and its log. */
export interface RecordingControl extends GuestHostControl {
  /** `setIrqs(mode, n)`, `reset(kind)`, `dmaMap(iova)`, `dmaUnmap(key)`, `unmaskIntx` in call order. */
  readonly calls: string[];
  /** The last mode asked for. */
  mode: HostIrqMode | undefined;
  /** Makes the next calls of `op` reject with PT_ERR_IO. */
  failNext(op: 'setIrqs' | 'reset'): void;
}

/**
 * @param busOffset the bus address the fake IOMMU hands out is iova + busOffset (0: identity)
 * @param withUnmask include unmaskIntx (a host that automasks INTx)
 */
export function recordingControl(busOffset = 0n, withUnmask = false): RecordingControl {
  const fail = new Set<string>();
  const failIf = (op: string) => {
    if (fail.delete(op)) throw new PassthroughError('PT_ERR_IO', `${op} failed (injected)`);
  };
  const c: RecordingControl = {
    calls: [],
    mode: undefined,
    failNext: (op) => void fail.add(op),
    async setIrqs(mode, vectors) {
      c.calls.push(`setIrqs(${mode}, ${vectors})`);
      failIf('setIrqs');
      c.mode = mode;
    },
    async reset(kind) {
      c.calls.push(`reset(${kind})`);
      failIf('reset');
    },
    async dmaMap(memory, iova) {
      c.calls.push(`dmaMap(0x${iova.toString(16)})`);
      return { key: iova, busAddr: iova + busOffset, sizeBytes: BigInt(memory.byteLength) };
    },
    async dmaUnmap(key) {
      c.calls.push(`dmaUnmap(0x${key.toString(16)})`);
    },
  };
  if (withUnmask) c.unmaskIntx = () => void c.calls.push('unmaskIntx');
  return c;
}
