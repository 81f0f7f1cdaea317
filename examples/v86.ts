/**
 * A guest nobody here wrote finds a passed-through function: Debian's Linux
 * boots in v86 and enumerates the sim's edu, which the supervisor attached
 * and the guest layer turned into a PCI function on v86's bus. Register the
 * function before the guest runs (after `emulator-loaded`), and detach it
 * before destroying the emulator.
 *
 *   sudo bash test/guest/harness/prepare.sh --setup /tmp/pcipt-guest   # kernel + initramfs, once
 *   npm run build && node dist/examples/v86.js [bzImage] [initrd]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { V86 } from 'v86';
import { attachToV86, createSupervisor, hostControlForHandle, openGuestFunction } from '../src/index.js';

const [kernel = '/tmp/pcipt-guest/vmlinuz', initrd = '/tmp/pcipt-guest/initrd.cpio.gz'] = process.argv.slice(2);
const image = (path: string) => {
  const b = readFileSync(path);
  return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer };
};

const sup = await createSupervisor();
try {
  const h = await sup.attach('0000:00:10.0'); // the sim's edu
  const emulator = new V86({
    wasm_path: createRequire(import.meta.url).resolve('v86/build/v86.wasm'),
    memory_size: 96 * 1024 * 1024,
    bios: image('/usr/share/seabios/bios.bin'),
    bzimage: image(kernel),
    initrd: image(initrd),
    cmdline: 'console=ttyS0 tsc=reliable mitigations=off',
    autostart: false,
  });
  // The kernel's PCI scan names the function: vendor 1234, device 11e8 (edu), at the host's BDF.
  let line = '';
  const enumerated = new Promise<string>((resolve) => {
    emulator.add_listener('serial0-output-byte', (byte: number) => {
      if (byte !== 10) return void (line += byte === 13 ? '' : String.fromCharCode(byte));
      if (/pci 0000:00:10\.0: \[1234:11e8\]/.test(line)) resolve(line.trim());
      line = '';
    });
  });
  await new Promise<void>((resolve) => emulator.add_listener('emulator-loaded', () => resolve()));
  const att = attachToV86(emulator, [
    {
      hostBdf: h.bdf,
      // open(sink): the guest layer's function over the handle's fast path; the adapter is its sink
      open: (sink) => openGuestFunction(h.descriptor(), { sink, control: hostControlForHandle(h), regions: h.info.regions }),
    },
  ]);
  void emulator.run();
  console.log(await enumerated);
  att.detach();
  await emulator.destroy();
} finally {
  await sup.close();
}
