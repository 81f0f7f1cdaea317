/**
 * The simulated machine: which PCI functions exist and which device model
 * backs each, as JSON:
 *
 * ```json
 * { "functions": [ { "bdf": "0000:00:10.0", "model": "edu", "options": {} } ] }
 * ```
 *
 * parseSimMachine validates every field and reports the precise path of the
 * first problem (`functions[2].options.barSizes[1]: …`) as
 * PT_ERR_INVALID_ARGUMENT. A replay `dumpFile` is read (relative to the
 * machine file for loadSimMachine, else to the working directory) and
 * inlined as `dump`.
 *
 * Limits, checked before anything is built (a machine is untrusted input):
 * - at most {@link SIM_MAX_FUNCTIONS} functions, checked on the array length
 *   before any element is looked at, so a million-function file fails at once;
 * - each BAR at most {@link SIM_MAX_BAR_BYTES} and the machine's BARs together
 *   at most {@link SIM_MAX_TOTAL_BAR_BYTES}: the sim backs every BAR with a
 *   SharedArrayBuffer of its size (in the host half and in the worker);
 * - the machine file and a replay dump (file or inline text) are bounded in
 *   size, and files must be regular files, read with a deadline
 *   (bounded-file.ts: a FIFO is refused, not waited on).
 */
import { dirname, resolve } from 'node:path';
import { PassthroughError } from '../errors.js';
import { readBoundedTextFile } from './bounded-file.js';
import { parseLspciDump } from '../pci/dump.js';
import { parseBdf, toBdf } from '../types.js';
import type { DualOptions } from './models/dual.js';
import type { EduOptions } from './models/edu.js';
import type { MsixOptions } from './models/msix.js';
import { NVME_SAMPLE_BAR_SIZES, NVME_SAMPLE_DUMP } from './models/nvme-dump.js';
import type { ReplayOptions } from './models/replay.js';

/** Model names. */
export type SimModelName = 'edu' | 'msix' | 'dual' | 'replay';
/** Model names, for validation and help text. */
export const SIM_MODEL_NAMES: readonly SimModelName[] = ['edu', 'msix', 'dual', 'replay'];

/** One function of a simulated machine. */
export type SimFunctionDescription =
  | { bdf: string; model: 'edu'; options?: EduOptions }
  | { bdf: string; model: 'msix'; options?: MsixOptions }
  | { bdf: string; model: 'dual'; options?: DualOptions }
  | { bdf: string; model: 'replay'; options: ReplayOptions };

/** A simulated machine. BDFs are canonical (`dddd:bb:ss.f`) after parsing. */
export interface SimMachineDescription {
  functions: SimFunctionDescription[];
}

/**
 * The default machine: two edu devices (00:10.0, 00:11.0), the MSI-X test
 * function (02:00.0, 256 vectors, 1 MiB RAM BAR), a two-function slot
 * (03:00.0 and 03:00.1) and a replayed NVMe controller (04:00.0).
 */
export const DEFAULT_SIM_MACHINE: SimMachineDescription = Object.freeze({
  functions: [
    { bdf: '0000:00:10.0', model: 'edu' },
    { bdf: '0000:00:11.0', model: 'edu' },
    { bdf: '0000:02:00.0', model: 'msix', options: { vectors: 256, ramBarBytes: 1024 * 1024 } },
    { bdf: '0000:03:00.0', model: 'dual' },
    { bdf: '0000:03:00.1', model: 'dual' },
    { bdf: '0000:04:00.0', model: 'replay', options: { dump: NVME_SAMPLE_DUMP, barSizes: [...NVME_SAMPLE_BAR_SIZES] } },
  ],
}) as SimMachineDescription;

/**
 * Most functions in one machine: an SR-IOV host with 4 physical functions of
 * 256 virtual functions each is 1024, so 4096 leaves room for four such hosts
 * (or one PF per bus of a large tree) while keeping enumeration, the host
 * half's BAR stores and a machine file's validation far from minutes.
 */
export const SIM_MAX_FUNCTIONS = 4096;
/**
 * Largest sim BAR: 4 GiB. A BAR is a SharedArrayBuffer viewed through
 * typed arrays, and Node 20's typed arrays stop at 2^32 elements (a larger
 * one ends in a RangeError); real 64-bit BARs can be larger, a sim one cannot.
 */
export const SIM_MAX_BAR_BYTES = 2 ** 32;
/**
 * Largest total of a machine's BARs: 64 GiB. The stores are zero-filled
 * lazily by the OS, so this is address space more than RAM, but the host half
 * holds every function's BARs at once: the cap keeps a file from asking for
 * more than a 64-bit host will map.
 */
export const SIM_MAX_TOTAL_BAR_BYTES = 2 ** 36;
/** Largest machine file (16 MiB: 4096 functions with room for inline dumps). */
const MAX_MACHINE_FILE_BYTES = 16 * 2 ** 20;
/** Largest replay dump, file or inline (4 MiB: `lspci -xxxx` of ~250 functions). */
const MAX_DUMP_BYTES = 4 * 2 ** 20;
/** Deadline of reading one machine or dump file. */
const FILE_READ_TIMEOUT_MS = 10_000;
/** BAR bytes of each model apart from the sizes a machine sets (upper bounds, page-rounded). */
const FIXED_BAR_BYTES: Record<SimModelName, number> = { edu: 2 ** 20, msix: 0x20000, dual: 0x4000, replay: 0 };

function bad(path: string, why: string, context: Record<string, unknown> = {}): never {
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `invalid sim machine: ${path}: ${why}`, { path, ...context });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(path: string, o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

function optInt(path: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(path, `must be an integer from ${min} to ${max}`);
  return v;
}

const isPow2 = (n: number) => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/**
 * Validates a machine description (parsed JSON). `baseDir` resolves relative
 * replay `dumpFile` paths. Throws PT_ERR_INVALID_ARGUMENT naming the path.
 */
export function parseSimMachine(json: unknown, opts: { baseDir?: string } = {}): SimMachineDescription {
  if (!isObject(json)) bad('$', 'must be an object');
  checkKeys('$', json, ['functions']);
  const fns = json.functions;
  if (!Array.isArray(fns) || fns.length === 0) bad('functions', 'must be a non-empty array');
  if (fns.length > SIM_MAX_FUNCTIONS) {
    bad('functions', `has ${fns.length} functions, more than the ${SIM_MAX_FUNCTIONS} a sim machine may have`, { count: fns.length, max: SIM_MAX_FUNCTIONS });
  }
  const seen = new Set<string>();
  const out: SimFunctionDescription[] = [];
  let totalBarBytes = 0;
  fns.forEach((f: unknown, i: number) => {
    const p = `functions[${i}]`;
    if (!isObject(f)) bad(p, 'must be an object');
    checkKeys(p, f, ['bdf', 'model', 'options']);
    if (typeof f.bdf !== 'string') bad(`${p}.bdf`, 'must be a string like "0000:00:10.0"');
    let bdf: string;
    try {
      bdf = toBdf(f.bdf);
    } catch {
      bad(`${p}.bdf`, `"${f.bdf}" is not a PCI address (DDDD:BB:SS.F)`);
    }
    if (seen.has(bdf)) bad(`${p}.bdf`, `duplicate function ${bdf}`);
    seen.add(bdf);
    if (typeof f.model !== 'string' || !SIM_MODEL_NAMES.includes(f.model as SimModelName)) {
      bad(`${p}.model`, `must be one of ${SIM_MODEL_NAMES.join(', ')}`);
    }
    const o = f.options ?? {};
    if (!isObject(o)) bad(`${p}.options`, 'must be an object');
    const op = `${p}.options`;
    switch (f.model as SimModelName) {
      case 'edu': {
        checkKeys(op, o, ['dmaMaskBits', 'msi']);
        const dmaMaskBits = optInt(`${op}.dmaMaskBits`, o.dmaMaskBits, 1, 64);
        if (o.msi !== undefined && typeof o.msi !== 'boolean') bad(`${op}.msi`, 'must be true or false');
        out.push({
          bdf,
          model: 'edu',
          options: { ...(dmaMaskBits === undefined ? {} : { dmaMaskBits }), ...(o.msi === undefined ? {} : { msi: o.msi as boolean }) },
        });
        break;
      }
      case 'msix': {
        checkKeys(op, o, ['vectors', 'ramBarBytes']);
        const vectors = optInt(`${op}.vectors`, o.vectors, 1, 2048);
        const ramBarBytes = optInt(`${op}.ramBarBytes`, o.ramBarBytes, 16384, SIM_MAX_BAR_BYTES);
        if (ramBarBytes !== undefined && !isPow2(ramBarBytes)) bad(`${op}.ramBarBytes`, 'must be a power of two');
        out.push({ bdf, model: 'msix', options: { ...(vectors && { vectors }), ...(ramBarBytes && { ramBarBytes }) } });
        break;
      }
      case 'dual': {
        checkKeys(op, o, ['vectors']);
        const vectors = optInt(`${op}.vectors`, o.vectors, 1, 32);
        if (vectors !== undefined && !isPow2(vectors)) bad(`${op}.vectors`, 'must be a power of two (1–32)');
        out.push({ bdf, model: 'dual', options: vectors === undefined ? {} : { vectors } });
        break;
      }
      case 'replay':
        out.push({ bdf, model: 'replay', options: parseReplayOptions(op, o, opts.baseDir) });
        break;
    }
    totalBarBytes += barBytesOf(out[out.length - 1]!);
    if (totalBarBytes > SIM_MAX_TOTAL_BAR_BYTES) {
      bad(p, `the machine's BARs add up to more than ${SIM_MAX_TOTAL_BAR_BYTES} bytes (64 GiB)`, { sizeBytes: totalBarBytes, maxBytes: SIM_MAX_TOTAL_BAR_BYTES });
    }
  });
  // PCI enumeration finds function N > 0 only through function 0 of the slot.
  for (const [i, f] of out.entries()) {
    const p = parseBdf(f.bdf);
    if (p.function === 0) continue;
    const fn0 = toBdf(`${p.domain.toString(16)}:${p.bus.toString(16)}:${p.device.toString(16)}.0`);
    if (!seen.has(fn0)) bad(`functions[${i}].bdf`, `function ${p.function} of a slot needs function 0 (${fn0})`);
  }
  return { functions: out };
}

/** BAR bytes one function asks for (an upper bound). */
function barBytesOf(f: SimFunctionDescription): number {
  let n = FIXED_BAR_BYTES[f.model];
  if (f.model === 'msix') n += f.options?.ramBarBytes ?? 2 ** 20;
  if (f.model === 'replay') for (const s of f.options.barSizes) n += s;
  return n;
}

function parseReplayOptions(op: string, o: Record<string, unknown>, baseDir: string | undefined): ReplayOptions {
  checkKeys(op, o, ['dump', 'dumpFile', 'dumpBdf', 'barSizes']);
  if ((o.dump === undefined) === (o.dumpFile === undefined)) bad(op, 'give exactly one of "dump" or "dumpFile"');
  let dump: string;
  if (o.dump !== undefined) {
    if (typeof o.dump !== 'string') bad(`${op}.dump`, 'must be lspci -x text');
    if (o.dump.length > MAX_DUMP_BYTES) bad(`${op}.dump`, `is longer than ${MAX_DUMP_BYTES} characters`, { sizeBytes: o.dump.length, maxBytes: MAX_DUMP_BYTES });
    dump = o.dump;
  } else {
    if (typeof o.dumpFile !== 'string' || o.dumpFile.length === 0) bad(`${op}.dumpFile`, 'must be a path');
    const file = resolve(baseDir ?? process.cwd(), o.dumpFile);
    try {
      dump = readBoundedTextFile(file, { what: 'replay dump', maxBytes: MAX_DUMP_BYTES, timeoutMs: FILE_READ_TIMEOUT_MS });
    } catch (e) {
      const pe = e as PassthroughError;
      // Not found / timed out / I/O keep their code; every refusal names the field.
      throw pe.prepend(`invalid sim machine: ${op}.dumpFile`, { path: `${op}.dumpFile`, file });
    }
  }
  const where = o.dump !== undefined ? `${op}.dump` : `${op}.dumpFile`;
  let devices: Map<string, Uint8Array>;
  try {
    devices = parseLspciDump(dump);
  } catch (e) {
    bad(where, (e as Error).message);
  }
  if (devices.size === 0) bad(where, 'no device header line ("BB:DD.F " or "DDDD:BB:DD.F ") found');
  let dumpBdf: string | undefined;
  if (o.dumpBdf !== undefined) {
    if (typeof o.dumpBdf !== 'string') bad(`${op}.dumpBdf`, 'must be a string');
    try {
      dumpBdf = toBdf(o.dumpBdf);
    } catch {
      bad(`${op}.dumpBdf`, `"${o.dumpBdf}" is not a PCI address`);
    }
    if (!devices.has(dumpBdf)) bad(`${op}.dumpBdf`, `${dumpBdf} is not in the dump`);
  }
  const config = dumpBdf === undefined ? devices.values().next().value! : devices.get(dumpBdf)!;
  if (config.length < 64) bad(where, 'the device has fewer than 64 bytes of config space');
  if (!Array.isArray(o.barSizes) || o.barSizes.length > 6) bad(`${op}.barSizes`, 'must be an array of at most 6 sizes');
  const barSizes = o.barSizes.map((s: unknown, j: number) => {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || (s !== 0 && (!isPow2(s) || s < 16))) {
      bad(`${op}.barSizes[${j}]`, 'must be 0 or a power of two ≥ 16');
    }
    if (s > SIM_MAX_BAR_BYTES) bad(`${op}.barSizes[${j}]`, `must be at most ${SIM_MAX_BAR_BYTES} (4 GiB, the largest sim BAR)`, { sizeBytes: s, maxBytes: SIM_MAX_BAR_BYTES });
    return s;
  });
  // A size for the upper half of a 64-bit BAR is meaningless.
  for (let j = 0; j < barSizes.length; j++) {
    const low = config[0x10 + 4 * j]! & 0x7;
    if ((low & 0x1) === 0 && (low & 0x6) === 0x4 && (barSizes[j + 1] ?? 0) !== 0) {
      bad(`${op}.barSizes[${j + 1}]`, `BAR${j} is 64-bit, so BAR${j + 1} is its upper half and must be 0`);
    }
    if ((low & 0x1) === 0 && (low & 0x6) === 0x4) j++;
  }
  return { dump, ...(dumpBdf !== undefined && { dumpBdf }), barSizes };
}

/**
 * Reads and validates a machine JSON file (a regular file of at most 16 MiB,
 * read within 10 s). PT_ERR_NOT_FOUND, PT_ERR_IO, PT_ERR_TIMEOUT,
 * PT_ERR_INVALID_ARGUMENT (not a regular file, too large, or invalid).
 */
export function loadSimMachine(path: string): SimMachineDescription {
  const text = readBoundedTextFile(path, { what: 'sim machine', maxBytes: MAX_MACHINE_FILE_BYTES, timeoutMs: FILE_READ_TIMEOUT_MS });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `invalid sim machine: ${path}: not JSON: ${(e as Error).message}`, {
      path,
    });
  }
  return parseSimMachine(json, { baseDir: dirname(resolve(path)) });
}
