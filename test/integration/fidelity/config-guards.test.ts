/**
 * Issue 14, point 4 through the public API: guest config writes to the MSI
 * capability and to PCIe Device Control / Device Control 2 are not
 * forwarded to the hardware (the later original's safety rule); one test per
 * refused range, each beside a forwarded neighbour.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor } from '../../../src/index.js';

const EDU = '0000:00:10.0'; // MSI (64-bit) at 0x40
const MSIX = '0000:02:00.0'; // PCIe at 0x40 (DevCtl 0x48, DevCtl2 0x68), MSI-X at 0x7c

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.close();
  sup = undefined;
});

describe('config-write safety rule (public API, sim)', () => {
  it('refused range 1: the MSI capability (the dext-programmed address survives a guest write)', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(EDU);
    const cfg = h.config;
    const address = cfg.read32(0x44);
    const control = cfg.read16(0x42);
    cfg.write32(0x44, 0xfee0_1000);
    cfg.write16(0x42, control & ~1); // the guest turning MSI off
    expect(cfg.read32(0x44)).toBe(address);
    expect(cfg.read16(0x42)).toBe(control);
    // The interrupt still arrives by MSI.
    const seq = h.irq.seq;
    h.bar(0)!.write32(0x60, 1);
    await h.irq.waitAsync(seq, 3000);
    expect(h.irq.drain()).toEqual([0]);
    // A forwarded neighbour: the interrupt line register (0x3c) is writable on the device.
    cfg.write8(0x3c, 0x05);
    expect(cfg.read8(0x3c)).toBe(0x05);
  });

  it('refused ranges 2 and 3: PCIe Device Control and Device Control 2', async () => {
    sup = await createSupervisor({ callTimeoutMs: 5000 });
    const h = await sup.attach(MSIX);
    const cfg = h.config;
    const devctl = cfg.read16(0x48);
    const devctl2 = cfg.read16(0x68);
    cfg.write16(0x48, 0x5000 | (devctl & 0x0fff)); // MRRS 4096
    cfg.write16(0x68, 0x0005); // completion timeout range
    expect(cfg.read16(0x48)).toBe(devctl);
    expect(cfg.read16(0x68)).toBe(devctl2);
    // A forwarded neighbour in the same function: MSI-X control (function mask).
    const msixCtl = cfg.read16(0x7e);
    cfg.write16(0x7e, msixCtl | 0x4000);
    expect(cfg.read16(0x7e)).toBe(msixCtl | 0x4000);
    cfg.write16(0x7e, msixCtl);
  });
});
