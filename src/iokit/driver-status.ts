/**
 * The data behind the `driver-status` and `list-devices` commands on macOS
 * (spec §8): the dext's system-extension state parsed from
 * `systemextensionsctl list`, and the PCI functions from the IORegistry
 * (IOPCIDevice, bound = a child that is the VFIOUserPCIDriver dext). Plain
 * records; the CLI formats them.
 *
 * Off macOS both throw PT_ERR_PLATFORM ("the dext backend is macOS-only");
 * `iokitListDevices({ libraries })` (TEST-ONLY) walks the C stand-in anywhere.
 */
import { execFileSync } from 'node:child_process';
import { PassthroughError } from '../errors.js';
import { formatBdf, type Bdf } from '../types.js';
import { MACOS_LIBRARY_PATHS, kIOMainPortDefault, loadIokitBindings, type IokitLibraryPaths } from './bindings.js';
import { IOReturn } from '../dext/contract.js';
import { DEXT_USER_CLASS } from './dext-client.js';
import { dataU32Property, entryName, forEachObject, stringProperty } from './registry.js';

/** The one state `driver-status` prints. */
export type DriverState = 'active' | 'waiting for user approval' | 'uninstalling' | 'staged' | 'not installed';

/** One row of `systemextensionsctl list`. */
export interface SystemExtensionEntry {
  enabled: boolean;
  active: boolean;
  teamId: string;
  bundleId: string;
  /** `short/bundle` version as printed, e.g. `1.0/1`. */
  version: string;
  name: string;
  /** The bracketed state, e.g. `activated enabled`. */
  rawState: string;
}

/** What `driver-status` reports. */
export interface IokitDriverStatus {
  state: DriverState;
  /** Bundle id of the entry that decided the state (undefined when not installed). */
  bundleId: string | undefined;
  version: string | undefined;
  /** Every VFIOUserPCIDriver entry, as listed. */
  entries: SystemExtensionEntry[];
}

const ROW_RE = /^\s*(\*?)\s+(\*?)\s+(\S+)\s+(\S+)\s+\(([^)]*)\)\s+(.*?)\s*\[([^\]]+)\]\s*$/;

/** Parses the rows of `systemextensionsctl list` (headers and category lines are skipped). */
export function parseSystemExtensionsList(text: string): SystemExtensionEntry[] {
  const out: SystemExtensionEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('---') || /^\s*enabled\s+active/.test(line)) continue;
    const m = ROW_RE.exec(line);
    if (m === null) continue;
    out.push({
      enabled: m[1] === '*',
      active: m[2] === '*',
      teamId: m[3]!,
      bundleId: m[4]!,
      version: m[5]!,
      name: m[6]!.trim(),
      rawState: m[7]!.trim(),
    });
  }
  return out;
}

function stateOf(raw: string): Exclude<DriverState, 'not installed'> {
  const s = raw.toLowerCase();
  if (s.includes('waiting for user')) return 'waiting for user approval';
  if (s.includes('uninstall') || s.startsWith('terminated')) return 'uninstalling';
  if (s.includes('activated') && s.includes('enabled')) return 'active';
  return 'staged';
}

const PRIORITY: DriverState[] = ['active', 'waiting for user approval', 'staged', 'uninstalling'];

/**
 * The dext's state from the parsed rows: entries whose bundle id ends in
 * `.VFIOUserPCIDriver` or whose name is VFIOUserPCIDriver; the best state
 * wins (active, then waiting for user approval, staged, uninstalling).
 */
export function driverStatusFromList(text: string): IokitDriverStatus {
  const entries = parseSystemExtensionsList(text).filter(
    (e) => e.bundleId.endsWith(`.${DEXT_USER_CLASS}`) || e.name === DEXT_USER_CLASS,
  );
  let best: { state: DriverState; entry: SystemExtensionEntry } | undefined;
  for (const entry of entries) {
    const state = stateOf(entry.rawState);
    if (best === undefined || PRIORITY.indexOf(state) < PRIORITY.indexOf(best.state)) best = { state, entry };
  }
  return {
    state: best?.state ?? 'not installed',
    bundleId: best?.entry.bundleId,
    version: best?.entry.version,
    entries,
  };
}

function requireDarwin(what: string): void {
  if (process.platform !== 'darwin') {
    throw new PassthroughError('PT_ERR_PLATFORM', `${what}: the dext backend is macOS-only (this is ${process.platform})`, {
      platform: process.platform,
    });
  }
}

/**
 * Runs `systemextensionsctl list` (10 s timeout) and reports the dext's state.
 * Throws PT_ERR_PLATFORM off macOS, PT_ERR_IO when the tool fails.
 */
export function iokitDriverStatus(): IokitDriverStatus {
  requireDarwin('driver-status');
  let text: string;
  try {
    text = execFileSync('systemextensionsctl', ['list'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (cause) {
    throw new PassthroughError('PT_ERR_IO', 'systemextensionsctl list failed', {}, { cause });
  }
  return driverStatusFromList(text);
}

/** One PCI function as `list-devices` shows it. */
export interface IokitPciDevice {
  /** From `pcidebug` (decimal b:d:f), domain 0. */
  bdf: Bdf;
  vendorId: number;
  deviceId: number;
  /** 24-bit class code. */
  classCode: number;
  /** IORegistry name of the IOPCIDevice. */
  name: string;
  /** True when a child is the VFIOUserPCIDriver dext. */
  bound: boolean;
  /** Registry name of the first child driver ('' when none). */
  driver: string;
  /** The `(seg:link)` part of pcidebug, when present (tells apart functions that share a BDF). */
  root: string | undefined;
  /** True when another listed function has the same BDF (then `host-root` is needed). */
  sharedBdf: boolean;
}

const PCIDEBUG_RE = /^(\d+):(\d+):(\d+)(?:\s*\(([^)]*)\))?/;

/**
 * Walks IOServiceMatching("IOPCIDevice"). Bridges (class 0x06) are hidden
 * unless `includeBridges`. Throws PT_ERR_PLATFORM off macOS without
 * `libraries` (TEST-ONLY: the stand-in), PT_ERR_KERN_RETURN when the walk fails.
 */
export function iokitListDevices(opts: { libraries?: IokitLibraryPaths; includeBridges?: boolean } = {}): IokitPciDevice[] {
  if (opts.libraries === undefined) requireDarwin('list-devices');
  const b = loadIokitBindings(opts.libraries ?? MACOS_LIBRARY_PATHS);
  const matching = b.IOServiceMatching('IOPCIDevice');
  const it = new Uint32Array(1);
  const kr = b.IOServiceGetMatchingServices(kIOMainPortDefault, matching, it);
  if (kr !== IOReturn.Success) {
    throw new PassthroughError('PT_ERR_KERN_RETURN', `IOServiceGetMatchingServices(IOPCIDevice) failed: 0x${kr.toString(16)}`, {
      kernReturn: kr,
    });
  }
  const devices: IokitPciDevice[] = [];
  forEachObject(b, it[0]!, (dev) => {
    const dbg = PCIDEBUG_RE.exec(stringProperty(b, dev, 'pcidebug') ?? '');
    if (dbg === null) return;
    const classCode = (dataU32Property(b, dev, 'class-code') ?? 0) & 0xffffff;
    if (!opts.includeBridges && classCode >> 16 === 0x06) return;
    let driver = '';
    let bound = false;
    const children = new Uint32Array(1);
    if (b.IORegistryEntryGetChildIterator(dev, 'IOService', children) === IOReturn.Success) {
      forEachObject(b, children[0]!, (child) => {
        const name = entryName(b, child);
        const bundle = stringProperty(b, child, 'CFBundleIdentifier') ?? '';
        if (driver === '') driver = name;
        if (name === DEXT_USER_CLASS || bundle.endsWith(`.${DEXT_USER_CLASS}`)) {
          bound = true;
          driver = name;
          return true;
        }
        return false;
      });
    }
    devices.push({
      bdf: formatBdf({ domain: 0, bus: Number(dbg[1]) & 0xff, device: Number(dbg[2]) & 0x1f, function: Number(dbg[3]) & 7 }),
      vendorId: (dataU32Property(b, dev, 'vendor-id') ?? 0xffff) & 0xffff,
      deviceId: (dataU32Property(b, dev, 'device-id') ?? 0xffff) & 0xffff,
      classCode,
      name: entryName(b, dev),
      bound,
      driver,
      root: dbg[4],
      sharedBdf: false,
    });
  });
  const seen = new Map<string, number>();
  for (const d of devices) seen.set(d.bdf, (seen.get(d.bdf) ?? 0) + 1);
  for (const d of devices) d.sharedBdf = (seen.get(d.bdf) ?? 0) > 1;
  return devices;
}
