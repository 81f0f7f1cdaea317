/**
 * A passed-through function as a guest sees it, in a tiny emulator loop: the
 * guest layer turns the sim's MSI-X function into a PCI function with BAR
 * registers at guest addresses and an MSI-X table the guest programs. The
 * "guest" here is a few config cycles and MMIO accesses, what a driver does:
 * size and place BAR0, enable memory decoding and bus mastering, enable
 * MSI-X, program and unmask vector 3, ring the device's doorbell; the host
 * interrupt then reaches the emulator as the MSI write the guest programmed.
 *
 *   npm run build && node dist/examples/guest.js
 */
import { createSupervisor, hostControlForHandle, openGuestFunction } from '../src/index.js';

const BAR0_GPA = 0xfe00_0000; // where this guest puts BAR0
const MSIX_DOORBELL = 0x08; // the sim MSI-X function's "raise vector N" register

const sup = await createSupervisor();
try {
  const h = await sup.attach('0000:02:00.0');
  const messages: { address: string; data: number }[] = [];
  const fn = openGuestFunction(h.descriptor(), {
    regions: h.info.regions, // sizes of BARs without a window, and of the ROM
    control: hostControlForHandle(h), // the host side, on the supervisor's VFIO-level view
    sink: { msi: (address, data) => messages.push({ address: `0x${address.toString(16)}`, data }) },
  });

  // The guest's PCI core: size BAR0 (all ones, read back the size mask), place it, decode memory, master the bus.
  fn.configWrite(0x10, 4, 0xffff_ffff);
  const bar0Size = (~(fn.configRead(0x10, 4) & ~0xf) >>> 0) + 1;
  fn.configWrite(0x10, 4, BAR0_GPA);
  fn.configWrite(0x04, 2, fn.configRead(0x04, 2) | 0x0006);

  // The driver: find MSI-X in the capability list, program entry 3, enable MSI-X, unmask entry 3.
  let cap = fn.configRead(0x34, 1);
  while (cap !== 0 && fn.configRead(cap, 1) !== 0x11) cap = fn.configRead(cap + 1, 1);
  const table = fn.configRead(cap + 4, 4);
  const entry3 = BAR0_GPA + (table & ~7) + 3 * 16; // the table is in BAR0 (BIR 0)
  fn.mmioWrite(entry3, 4, 0xfee0_1000); // message address
  fn.mmioWrite(entry3 + 4, 4, 0);
  fn.mmioWrite(entry3 + 8, 4, 0x4023); // message data
  fn.configWrite(cap + 2, 2, fn.configRead(cap + 2, 2) | 0x8000); // MSI-X enable
  fn.mmioWrite(entry3 + 12, 4, 0); // unmask
  await fn.whenIdle(); // the host side followed the guest's MSI-X enable

  // The device raises vector 3; the emulator loop polls (one Atomics.load when nothing is pending).
  fn.mmioWrite(BAR0_GPA + MSIX_DOORBELL, 4, 3);
  while (messages.length === 0) {
    if (fn.poll() === 0) await fn.waitAsync(1000);
  }
  console.log(JSON.stringify({ bar0Size, route: fn.route('memory', BAR0_GPA + 0x40), messages }, null, 2));
  fn.close();
} finally {
  await sup.close();
}
