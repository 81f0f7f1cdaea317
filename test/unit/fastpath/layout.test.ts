import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { RegionIndex } from '../../../src/vfio/device-io-ops.js';
import { kConfigRegionIndex } from '../../../src/fastpath/config-port.js';
import * as L from '../../../src/fastpath/layout.js';

describe('control block layout', () => {
  it('puts the version in word 0 and has the declared size', () => {
    const sab = L.createDeviceControlBlock();
    expect(sab.byteLength).toBe(L.kControlBlockBytes);
    expect(new Int32Array(sab)[0]).toBe(L.kLayoutVersion);
    expect(() => L.checkLayout(sab)).not.toThrow();
  });

  it('keeps hot words on separate cache lines', () => {
    const lineOf = (index: number) => Math.floor((index * 4) / L.kCacheLineBytes);
    const hot = [
      L.kVersionIndex,
      L.kIrqSeqIndex,
      L.kIrqEnabledIndex,
      L.kIrqRaisedIndex,
      ...Array.from({ length: L.kBarCount }, (_, b) => L.barEpochIndex(b)),
      L.kMboxLockIndex,
      L.kMboxReqSeqIndex,
      L.kMboxRespSeqIndex,
      L.kMboxServerStateIndex,
      L.kMboxErrTextIndex,
    ].map(lineOf);
    expect(new Set(hot).size).toBe(hot.length);
    // ...except the pending bitmap, which rides on the doorbell's line (one line per raise)
    expect(lineOf(L.kIrqPendingIndex)).toBe(lineOf(L.kIrqSeqIndex));
    expect(L.kIrqPendingIndex).toBeGreaterThan(L.kIrqWaitersIndex);
    // the bitmaps fit in their line, the message area ends inside the block
    expect(lineOf(L.kIrqPendingIndex + L.kIrqBitmapWords - 1)).toBe(lineOf(L.kIrqPendingIndex));
    expect((L.kMboxErrTextIndex + 1 + L.kMboxErrTextMaxChars / 2) * 4).toBeLessThanOrEqual(L.kControlBlockBytes);
  });

  it('refuses a wrong size, a wrong version and a non-shared buffer', () => {
    const codeOf = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return (e as PassthroughError).code;
      }
      return 'none';
    };
    expect(codeOf(() => L.checkLayout(new SharedArrayBuffer(64)))).toBe('PT_ERR_INVALID_ARGUMENT');
    const sab = L.createDeviceControlBlock();
    new Int32Array(sab)[0] = L.kLayoutVersion + 1;
    expect(codeOf(() => L.checkLayout(sab))).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(codeOf(() => L.checkLayout(new ArrayBuffer(L.kControlBlockBytes)))).toBe('PT_ERR_INVALID_ARGUMENT');
  });

  it('starts with every BAR mapped and vectors enabled unless asked otherwise', () => {
    const w = new Int32Array(L.createDeviceControlBlock());
    for (let b = 0; b < L.kBarCount; b++) expect(w[L.barEpochIndex(b)]).toBe(1);
    expect(w[L.kIrqEnabledIndex]).toBe(-1);
    const off = new Int32Array(L.createDeviceControlBlock({ irqsEnabled: false }));
    expect(off[L.kIrqEnabledIndex]).toBe(0);
  });

  it('uses the VFIO config region index', () => {
    expect(kConfigRegionIndex).toBe(RegionIndex.CONFIG);
  });
});
