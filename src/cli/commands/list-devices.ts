/**
 * `pcipt list-devices` (alias `ls`): every function the backend sees, bound
 * or not, in the original CLI's two-line layout:
 *
 *     [*] 00:10.0 1234:11e8 QEMU edu device
 *         Unclassified device · sim · model edu
 *
 * `[*]` = pcipt can attach it with this backend (bound to vfio-pci / the dext
 * / simulated); `!` after the address = another function has the same BDF
 * (macOS, several PCIe roots: pick one with host-root). Bridges are hidden unless `--all`, as in the original; `--json`
 * always lists every function.
 */
import type { FunctionSummary } from '../../vfio/backend.js';
import type { IokitPciDevice } from '../../iokit/driver-status.js';
import { parseBdf, shortBdf } from '../../types.js';
import type { CommandContext } from '../context.js';
import { hex4, isBridge, type PciIds } from '../pci-names.js';

/** One entry of `list-devices --json`. */
export interface DeviceListEntry {
  bdf: string;
  vendorId: number;
  deviceId: number;
  /** `vvvv:dddd`. */
  id: string;
  classCode: number;
  className: string;
  name: string;
  driver: string | null;
  attachable: boolean;
  details: Record<string, string | number | boolean>;
}

/** Builds the JSON entries, named from `ids` (lspci's names). */
export function deviceListEntries(functions: readonly FunctionSummary[], ids: PciIds): DeviceListEntry[] {
  return functions.map((f) => ({
    bdf: f.bdf,
    vendorId: f.vendorId,
    deviceId: f.deviceId,
    id: `${hex4(f.vendorId)}:${hex4(f.deviceId)}`,
    classCode: f.classCode,
    className: ids.className(f.classCode),
    name: ids.deviceName(f.vendorId, f.deviceId),
    driver: f.driver ?? null,
    attachable: f.attachable,
    details: f.details,
  }));
}

/**
 * The IORegistry walk (macOS) as function summaries: bound = the dext is a
 * child; `root` tells apart functions that share a BDF (`sharedBdf`, shown as
 * `!` after the address: use `host-root=` for those).
 */
export function functionsFromIokit(devices: readonly IokitPciDevice[]): FunctionSummary[] {
  return devices.map((d) => {
    const details: Record<string, string | number | boolean> = {};
    if (d.root !== undefined) details.root = d.root;
    if (d.sharedBdf) details.sharedBdf = true;
    if (d.name !== '') details.ioreg = d.name;
    return {
      bdf: d.bdf,
      vendorId: d.vendorId,
      deviceId: d.deviceId,
      classCode: d.classCode,
      driver: d.driver === '' ? undefined : d.driver,
      attachable: d.bound,
      details,
    };
  });
}

async function listFunctions(ctx: CommandContext): Promise<FunctionSummary[]> {
  if (ctx.options.backend === 'iokit' && process.platform === 'darwin') {
    // Every IOPCIDevice, bound or not (the backend host sees only dext-bound ones).
    const { iokitListDevices } = await import('../../iokit/driver-status.js');
    return functionsFromIokit(iokitListDevices({ includeBridges: true }));
  }
  return ctx.withBackend((host) => host.listFunctions());
}

/** Runs list-devices. */
export async function listDevicesCommand(ctx: CommandContext, opts: { all?: boolean }): Promise<number> {
  const functions = await listFunctions(ctx);
  const entries = deviceListEntries(functions, ctx.names());
  const { output } = ctx;
  if (output.json) {
    output.emitJson(entries);
    return 0;
  }
  const shown = opts.all === true ? entries : entries.filter((e) => !isBridge(e.classCode));
  if (shown.length === 0) {
    output.log(`no PCI functions visible to the ${ctx.options.backend} backend`);
    return 0;
  }
  const c = output.color;
  for (const e of shown) {
    const p = parseBdf(e.bdf);
    const addr = p.domain === 0 ? shortBdf(p) : e.bdf;
    const mark = e.attachable ? c.green('[*]') : '[ ]';
    const shared = e.details.sharedBdf === true ? c.yellow('!') : '';
    output.out(`${mark} ${c.bold(addr)}${shared} ${e.id} ${e.name}`);
    const extra = Object.entries(e.details)
      .filter(([k]) => k !== 'sharedBdf' && k !== 'ioreg')
      .map(([k, v]) => `${k} ${String(v)}`);
    output.out(c.dim(`    ${[e.className, e.driver ?? 'no driver', ...extra].join(' · ')}`));
  }
  const hidden = entries.length - shown.length;
  if (hidden > 0) output.log(`(${hidden} bridge${hidden === 1 ? '' : 's'} hidden; --all shows them)`);
  return 0;
}
