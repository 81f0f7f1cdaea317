/**
 * The v86 tier's plumbing: the guest's files (prepared by prepare.sh), a
 * boot to the guest's shell saved as a snapshot, and commands run in a
 * restored guest with the output lines they print.
 *
 * Deadlines follow progress: a boot or a command fails when the serial
 * console stays silent for `idleMs`, never because the whole took longer
 * than a fixed budget (a loaded 2-core machine runs the guest slower, not
 * differently).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createV86Machine, DEFAULT_BIOS_PATH, type V86Machine, type V86MachineOptions } from '../../../src/adapters/v86-machine.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The harness's source folder (also when running compiled from dist/, e.g. the guest benchmark). */
const HARNESS = HERE.includes('/dist/') ? resolve(HERE, '../../../../test/guest/harness') : HERE;
/** Marker /init prints when the shell is up. */
export const READY_MARKER = '@@PCIPT_GUEST_READY@@';

/** Where the guest's files are. */
export interface GuestAssets {
  kernel: string;
  initrd: string;
}

/** The guest's files, prepared on first use; or why they cannot be (then the tier says so and what to install). */
export function guestAssets(): { assets: GuestAssets } | { missing: string } {
  const dir = process.env.PCIPT_GUEST_DIR ?? join(process.env.TMPDIR ?? '/tmp', 'pcipt-guest');
  if (!existsSync(DEFAULT_BIOS_PATH)) return { missing: `${DEFAULT_BIOS_PATH} (apt-get install seabios)` };
  const r = spawnSync('bash', [resolve(HARNESS, 'prepare.sh'), dir], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { missing: `the guest kernel and initramfs (test/guest/harness/prepare.sh said: ${(r.stderr || r.error?.message || '').trim()})` };
  return { assets: { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.cpio.gz') } };
}

/** Waits until `done(line)` returns a value, failing when no line arrives for `idleMs`. */
export function untilLine<T>(machine: V86Machine, done: (line: string) => T | undefined, idleMs: number, what: string): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    let timer: ReturnType<typeof setTimeout>;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        off();
        const tail = machine.lines.slice(-25).join('\n');
        reject(new Error(`${what}: the guest printed nothing for ${idleMs} ms; last lines:\n${tail}`));
      }, idleMs);
    };
    const off = machine.onLine((line) => {
      arm();
      const v = done(line);
      if (v !== undefined) {
        clearTimeout(timer);
        off();
        resolvePromise(v);
      }
    });
    arm();
  });
}

/** A booted guest's snapshot and how long the boot took. */
export interface BootedGuest {
  state: ArrayBuffer;
  bootMs: number;
  lines: readonly string[];
  /** The attached functions' names (`pcipt <hostBdf>` by default) and guest BDFs. */
  functions: { hostBdf: string | undefined; guestBdf: string }[];
}

/** Boots to the shell marker, saves the state, closes the machine. */
export async function bootAndSave(assets: GuestAssets, options: Omit<V86MachineOptions, 'kernel' | 'initrd' | 'state'>, idleMs = 120_000): Promise<BootedGuest> {
  const t0 = performance.now();
  const machine = await createV86Machine({ ...options, kernel: assets.kernel, initrd: assets.initrd });
  try {
    const ready = untilLine(machine, (l) => (l.includes(READY_MARKER) ? l : undefined), idleMs, 'boot to the shell');
    machine.start();
    await ready;
    const bootMs = performance.now() - t0;
    const state = await machine.saveState();
    const functions = (machine.attachment?.functions ?? []).map((f) => ({ hostBdf: f.hostBdf, guestBdf: f.guestBdf }));
    return { state, bootMs, lines: [...machine.lines], functions };
  } finally {
    await machine.close();
  }
}

/** What a command printed. */
export interface GuestRun {
  /** Lines between the command and its end marker. */
  lines: string[];
  /** The command's exit status in the guest. */
  status: number;
  /** From creating the machine (restore) to the end marker. */
  ms: number;
  machine: V86Machine;
}

/**
 * Restores `state` (functions attached first), runs a shell command in the
 * guest, and returns its output. The machine is left open for inspection;
 * close it (the tier does in afterEach).
 */
export async function runRestored(state: ArrayBuffer, command: string, options: Omit<V86MachineOptions, 'kernel' | 'initrd' | 'state'>, idleMs = 120_000): Promise<GuestRun> {
  const t0 = performance.now();
  const machine = await createV86Machine({ ...options, state });
  const from = machine.lines.length;
  const end = untilLine(machine, (l) => /@@DONE:(\d+)@@/.exec(l)?.[1], idleMs, `command "${command}"`);
  machine.start();
  machine.send(`${command}; echo "@@DONE:$?@@"\n`);
  let status: string;
  try {
    status = await end;
  } catch (e) {
    await machine.close();
    throw e;
  }
  const lines = machine.lines.slice(from).filter((l) => !l.includes('@@DONE:'));
  return { lines, status: Number(status), ms: performance.now() - t0, machine };
}

/** Runs a shell command in a running guest (at its shell prompt) and returns the lines it printed and its status. */
export async function runLive(machine: V86Machine, command: string, idleMs = 120_000): Promise<{ lines: string[]; status: number }> {
  const from = machine.lines.length;
  const end = untilLine(machine, (l) => /@@DONE:(\d+)@@/.exec(l)?.[1], idleMs, `command "${command}"`);
  machine.send(`${command}; echo "@@DONE:$?@@"\n`);
  const status = Number(await end);
  return { lines: machine.lines.slice(from).filter((l) => !l.includes('@@DONE:')), status };
}

/** `key=value` fields of the marker lines that start with `tag`. */
export function records(lines: readonly string[], tag: string): Record<string, string>[] {
  return lines
    .filter((l) => l.startsWith(tag))
    .map((l) => Object.fromEntries([...l.slice(tag.length).matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1]!, m[2]!])));
}
