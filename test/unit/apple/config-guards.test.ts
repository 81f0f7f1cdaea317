/**
 * The later original's config-write safety rule through the apple ops over
 * the simulated dext: the realize-time parse finds the MSI and PCIe
 * capabilities, and writes that touch them never reach ConfigWrite.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppleAttachedDevice, AppleContainer } from '../../../src/apple/container.js';
import { RegionIndex } from '../../../src/vfio/device-io-ops.js';
import { toBdf } from '../../../src/types.js';
import { EDU, rig, spyClient, type Sim } from './harness.js';

const NVME = toBdf('0000:04:00.0'); // replayed NVMe: MSI (64-bit, 32 vectors, no masking) at 0x50, PCIe at 0x70, MSI-X at 0xb0

let sim: Sim;
let container: AppleContainer;
beforeEach(() => ({ sim, container } = rig()));
afterEach(() => {
  container.detachDevice(NVME);
  container.detachDevice(EDU);
  sim.close();
});

/** The ConfigWrite calls one regionWrite makes. */
function forwarded(dev: AppleAttachedDevice, off: number, data: number[]): [number, number, number][] {
  const real = dev.state.client!;
  const spy = spyClient(real);
  dev.state.client = spy.client;
  try {
    expect(dev.ops.regionWrite(RegionIndex.CONFIG, off, Uint8Array.from(data))).toBe(data.length);
  } finally {
    dev.state.client = real;
  }
  return spy.calls.filter((c) => c.method === 'configWrite').map((c) => c.args as [number, number, number]);
}

describe('config-write safety rule (apple ops over the sim)', () => {
  it('the parse records the guards: MSI 0x50 + 0x0e bytes, PCIe cap 0x70', () => {
    const dev = container.attachDevice(NVME);
    expect(dev.state.writeGuards).toEqual({ msi: { offset: 0x50, sizeBytes: 0x0e }, pcieCap: 0x70 });
  });

  it('refused: MSI control, address and data; PCIe DevCtl and DevCtl2 — the device keeps its values', () => {
    const dev = container.attachDevice(NVME);
    const cfg = sim.model(NVME).cfg;
    const before = cfg.snapshot();
    expect(forwarded(dev, 0x52, [0x01, 0x00])).toEqual([]); // MSI control (enable)
    expect(forwarded(dev, 0x54, [0x00, 0x10, 0xe0, 0xfe])).toEqual([]); // MSI address low
    expect(forwarded(dev, 0x5c, [0x41, 0x00])).toEqual([]); // MSI data (64-bit layout)
    expect(forwarded(dev, 0x5c, [0x41, 0x00, 0x00, 0x00])).toEqual([]); // a dword from the data register past the cap's end
    expect(forwarded(dev, 0x78, [0x00, 0x50])).toEqual([]); // DevCtl: MRRS 4096
    expect(forwarded(dev, 0x98, [0x05, 0x00])).toEqual([]); // DevCtl2
    expect(cfg.snapshot()).toEqual(before);
  });

  it('forwarded: the neighbours of the guarded ranges and MSI-X control', () => {
    const dev = container.attachDevice(NVME);
    expect(forwarded(dev, 0x5e, [0x12, 0x34])).toEqual([[0x5e, 2, 0x3412]]); // first byte past the MSI capability
    expect(forwarded(dev, 0x7a, [0x0f, 0x00])).toEqual([[0x7a, 2, 0x000f]]); // DevSta (W1C)
    expect(forwarded(dev, 0x94, [0, 0, 0, 0])).toEqual([[0x94, 4, 0]]); // DevCap2
    expect(forwarded(dev, 0xb2, [0x00, 0x80])).toEqual([[0xb2, 2, 0x8000]]); // MSI-X control
  });

  it('a function without a PCIe capability guards its MSI capability only (edu: 64-bit, 0x0e bytes at 0x40)', () => {
    const dev = container.attachDevice(EDU);
    expect(dev.state.writeGuards).toEqual({ msi: { offset: 0x40, sizeBytes: 0x0e } });
    expect(forwarded(dev, 0x4c, [0x01, 0x00])).toEqual([]);
    expect(forwarded(dev, 0x4e, [0x01, 0x00])).toEqual([[0x4e, 2, 1]]);
  });
});
