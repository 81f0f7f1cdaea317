/**
 * Real-hardware tier of the IOKit backend (macOS on Apple Silicon with the
 * VFIOUserPCIDriver dext installed and bound to a function). Skipped unless
 * PT_HARDWARE=1 on darwin. Optional:
 *   PT_HARDWARE_BDF=BB:DD.F   the function to use (default: the first dext-bound one)
 *   PT_HARDWARE_MMIO=1        also read BAR0 offset 0 through the mapping and through
 *                             MMIORead and compare (reads a device register!)
 * Leaves the device unclaimed: every connection is closed.
 */
import { describe, expect, test } from 'vitest';
import { IOReturn, MemoryType } from '../../src/dext/contract.js';
import { iokitDriverStatus, iokitListDevices } from '../../src/iokit/driver-status.js';
import { createIokitDextDriver, wakeInterruptWaiter, type IokitDextClient } from '../../src/iokit/dext-client.js';
import { toBdf } from '../../src/types.js';

const enabled = process.platform === 'darwin' && process.env.PT_HARDWARE === '1';
const why =
  process.platform !== 'darwin'
    ? `IOKit hardware tier skipped: needs macOS (this is ${process.platform})`
    : 'IOKit hardware tier skipped: set PT_HARDWARE=1 (and optionally PT_HARDWARE_BDF) to run it on this Mac';
if (!enabled) console.warn(why);

describe.skipIf(!enabled)('IOKit backend on real hardware', () => {
  test('driver-status and list-devices', () => {
    const st = iokitDriverStatus();
    expect(st.state).toBe('active');
    const devices = iokitListDevices();
    expect(devices.some((d) => d.bound)).toBe(true);
  });

  test('connect, identity, config, BARs, interrupts, close', () => {
    const driver = createIokitDextDriver();
    const services = driver.listServices();
    expect(services.length).toBeGreaterThan(0);
    const bdf = process.env.PT_HARDWARE_BDF ? toBdf(process.env.PT_HARDWARE_BDF) : services[0]!.bdf;
    const c = driver.connect(bdf) as IokitDextClient;
    try {
      const id = c.getIdentity();
      expect(c.configRead(0, 2)).toBe(id.vendorId);
      expect(c.configRead(2, 2)).toBe(id.deviceId);
      c.claim();
      for (let bar = 0; bar < 6; bar++) {
        let info;
        try {
          info = c.getBarInfo(bar);
        } catch {
          continue;
        }
        expect(c.configRead(0x10 + 4 * bar, 4)).toBe(info.sizeBytes === 0n ? 0 : info.type);
      }
      if (process.env.PT_HARDWARE_MMIO === '1') {
        const info = c.getBarInfo(0);
        const bar0 = c.mapMemory(MemoryType.Bar0);
        expect(bar0.read(0, 4)).toBe(c.mmioRead(info.memIdx, 0n, 4));
        c.unmapMemory(MemoryType.Bar0, bar0.address);
      }
      expect(c.setupInterrupts()).toBeGreaterThan(0);
      const page = c.mapMemory(MemoryType.IrqPage);
      expect(page.lengthBytes).toBe(16384);
      c.unmapMemory(MemoryType.IrqPage, page.address);
      const kr = c.waitInterruptBlocking(20);
      expect([IOReturn.Timeout, IOReturn.Success]).toContain(kr);
      expect(wakeInterruptWaiter(c.wakePort)).toBe(true);
      expect(c.waitInterruptBlocking(5000)).toBe(IOReturn.Aborted);
    } finally {
      c.close();
    }
  });
});
