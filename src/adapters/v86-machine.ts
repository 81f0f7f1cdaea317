/**
 * A headless v86 PC for Node, through v86's public API only (the internals
 * stay in v86.ts): SeaBIOS, a bzImage and an initramfs (or a saved state),
 * the serial console as lines, pcipt functions attached on `emulator-loaded`
 * before the guest runs or the state is restored (register first, restore
 * second: v86 restores a device's config only when the device exists).
 * Used by `pcipt guest`, the v86 test tier and the guest benchmark.
 *
 * v86 is an optional peer dependency, loaded when a machine is created.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PassthroughError } from '../errors.js';
import { attachToV86, V86_VERSION, type V86AdapterOptions, type V86Attachment, type V86FunctionSpec } from './v86.js';

/** Where Debian's seabios package puts the BIOS v86 boots with. */
export const DEFAULT_BIOS_PATH = '/usr/share/seabios/bios.bin';
/** The kernel command line used when none is given. */
export const DEFAULT_CMDLINE = 'console=ttyS0 tsc=reliable mitigations=off random.trust_cpu=on';

/** Options of {@link createV86Machine}. */
export interface V86MachineOptions {
  /** bzImage (path or bytes). Required unless `state` is given. */
  kernel?: string | ArrayBuffer;
  /** initramfs (path or bytes). */
  initrd?: string | ArrayBuffer;
  /** A state saved with {@link V86Machine.saveState} to resume instead of booting. */
  state?: ArrayBuffer;
  /** Kernel command line (default {@link DEFAULT_CMDLINE}). */
  cmdline?: string;
  /** Guest RAM in MiB (default 128). */
  memoryMiB?: number;
  /** BIOS image path (default {@link DEFAULT_BIOS_PATH}). */
  bios?: string;
  /** ACPI tables and the IO-APIC (add `acpiphp.disable=1` to the cmdline, see README). Default false. */
  acpi?: boolean;
  /** Functions to pass through. */
  functions?: readonly V86FunctionSpec[];
  /** Adapter options. */
  adapter?: V86AdapterOptions;
}

/** A created machine. Nothing runs until {@link V86Machine.start}. */
export interface V86Machine {
  /** The v86 `V86` instance. */
  readonly emulator: unknown;
  /** The adapter's attachment (undefined without functions). */
  readonly attachment: V86Attachment | undefined;
  /** Every serial line so far (without the newline). */
  readonly lines: readonly string[];
  /** Calls `cb` for each complete serial line; returns an unsubscribe function. */
  onLine(cb: (line: string) => void): () => void;
  /** Types text on the serial console. */
  send(text: string): void;
  /** Starts (or resumes) the guest. */
  start(): void;
  /** Stops the guest and returns its state (resume it with `state`). */
  saveState(): Promise<ArrayBuffer>;
  /** Detaches the functions and destroys the emulator. Idempotent. */
  close(): Promise<void>;
}

interface V86Like {
  add_listener(event: string, cb: (value: never) => void): void;
  run(): Promise<void> | void;
  stop(): Promise<void>;
  destroy(): Promise<void>;
  save_state(): Promise<ArrayBuffer>;
  restore_state(state: ArrayBuffer): Promise<void>;
  serial0_send(text: string): void;
}

/** The installed v86 version (package.json), or undefined when v86 is not installed. */
export function installedV86Version(): string | undefined {
  try {
    const req = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(req.resolve('v86/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

function bytes(input: string | ArrayBuffer, what: string): ArrayBuffer {
  if (typeof input !== 'string') return input;
  try {
    const b = readFileSync(input);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new PassthroughError('PT_ERR_NOT_FOUND', `cannot read the ${what} ${input}`, { path: input }, { cause: e });
  }
}

/**
 * Creates a v86 PC, waits until it is loaded, attaches `functions`, and
 * restores `state` when given. Throws PT_ERR_NOT_SUPPORTED (v86 not
 * installed, or its internals moved), PT_ERR_NOT_FOUND (a file),
 * PT_ERR_INVALID_ARGUMENT (options), and what the adapter throws.
 */
export async function createV86Machine(options: V86MachineOptions): Promise<V86Machine> {
  if (options.state === undefined && options.kernel === undefined) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', 'a kernel (bzImage) or a saved state is required');
  }
  const memoryMiB = options.memoryMiB ?? 128;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 16 || memoryMiB > 3072) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `memory must be 16–3072 MiB (got ${memoryMiB})`, { memoryMiB });
  }
  let mod: { V86: new (o: Record<string, unknown>) => V86Like };
  let wasmPath: string;
  try {
    mod = (await import('v86')) as unknown as typeof mod;
    wasmPath = createRequire(import.meta.url).resolve('v86/build/v86.wasm');
  } catch (e) {
    throw new PassthroughError('PT_ERR_NOT_SUPPORTED', `v86 is not installed: npm install v86@${V86_VERSION}`, { emulator: 'v86' }, { cause: e });
  }
  const bios = bytes(options.bios ?? DEFAULT_BIOS_PATH, 'BIOS');
  const boot =
    options.state === undefined
      ? { bzimage: { buffer: bytes(options.kernel!, 'kernel') }, ...(options.initrd === undefined ? {} : { initrd: { buffer: bytes(options.initrd, 'initrd') } }) }
      : {};
  const emulator = new mod.V86({
    wasm_path: wasmPath,
    memory_size: memoryMiB * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    bios: { buffer: bios },
    ...boot,
    cmdline: options.cmdline ?? DEFAULT_CMDLINE,
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    log_level: 0,
    acpi: options.acpi === true,
  });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = '';
  emulator.add_listener('serial0-output-byte', ((byte: number) => {
    if (byte === 10) {
      const line = partial;
      partial = '';
      lines.push(line);
      for (const cb of listeners) cb(line);
    } else if (byte !== 13) {
      partial += String.fromCharCode(byte);
    }
  }) as (value: never) => void);
  await new Promise<void>((resolve) => emulator.add_listener('emulator-loaded', resolve as (value: never) => void));

  let attachment: V86Attachment | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    attachment?.detach();
    await emulator.destroy().catch(() => undefined);
  };
  try {
    if (options.functions !== undefined && options.functions.length > 0) attachment = attachToV86(emulator, options.functions, options.adapter);
    if (options.state !== undefined) await emulator.restore_state(options.state);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    emulator,
    attachment,
    lines,
    onLine(cb) {
      listeners.add(cb);
      return () => void listeners.delete(cb);
    },
    send: (text) => emulator.serial0_send(text),
    start: () => void emulator.run(),
    async saveState() {
      await emulator.stop();
      return emulator.save_state();
    },
    close,
  };
}
