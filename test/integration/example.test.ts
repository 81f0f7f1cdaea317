import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

// The README's embedding example is a real program; this keeps it working.
describe('examples/embed.ts', () => {
  it('drives BAR, config, trapped registers and an interrupt from a vCPU thread, then exits', async () => {
    const script = fileURLToPath(new URL('../../dist/examples/embed.js', import.meta.url));
    const { stdout } = await run(process.execPath, [script], { timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({
      vendorDevice: '0x5a011234',
      bar2ReadBack: '0x1122334455667788',
      eduId: '0x10000ed',
      eduLiveness: '0xedcba987',
      vectors: [200],
    });
  });
});

// The README's guest-layer example is a real program too.
describe('examples/guest.ts', () => {
  it('a guest programs MSI-X through the layer and the host interrupt arrives as its MSI write, then exits', async () => {
    const script = fileURLToPath(new URL('../../dist/examples/guest.js', import.meta.url));
    const { stdout } = await run(process.execPath, [script], { timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({
      bar0Size: 65536,
      route: { bar: 0, offset: 64 },
      messages: [{ address: '0xfee01000', data: 0x4023 }],
    });
  });
});
