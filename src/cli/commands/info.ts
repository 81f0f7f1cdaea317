/**
 * `pcipt info <bdf>`: one function in QMP `query-pci` shape (ids, class,
 * BARs with address/type/size/prefetch/mem_type_64, irq, irq_pin, qdev_id),
 * plus its interrupt modes (INTx pin, MSI/MSI-X vector counts from the
 * capability list) and capabilities. Reads config space without claiming
 * the function. The human form reads like `lspci -vv`.
 */
import type { CommandContext } from '../context.js';
import { bdfArgument } from '../context.js';
import { hex4 } from '../pci-names.js';
import { buildPciInfo, formatSize, type PciInfoRecord } from '../query-pci.js';

/** Runs info. Errors: PT_ERR_INVALID_BDF (exit 2), PT_ERR_NOT_FOUND (3), PT_ERR_PLATFORM (4). */
export async function infoCommand(ctx: CommandContext, bdfText: string): Promise<number> {
  const bdf = bdfArgument(bdfText);
  const ids = ctx.names();
  const record = await ctx.withBackend(async (host) => buildPciInfo(bdf, await host.readConfig(bdf), await host.regions(bdf), ids));
  if (ctx.output.json) ctx.output.emitJson(record);
  else printInfo(ctx, record);
  return 0;
}

function printInfo(ctx: CommandContext, r: PciInfoRecord): void {
  const { out, color: c } = ctx.output;
  const ids = ctx.names();
  out(`${c.bold(r.bdf)} ${r.class_info.desc} [${hex4(r.class_info.class)}]: ${r.name} [${hex4(r.id.vendor)}:${hex4(r.id.device)}] (rev ${r.revision.toString(16).padStart(2, '0')})`);
  const sv = r.id['subsystem-vendor'];
  const sd = r.id.subsystem;
  if (sv !== undefined && sd !== undefined) {
    const vendor = ids.vendor(sv);
    const name = ids.subsystem(r.id.vendor, r.id.device, sv, sd);
    const text = vendor === undefined ? `Device ${hex4(sv)}:${hex4(sd)}` : `${vendor} ${name ?? `Device ${hex4(sd)}`}`;
    out(`  Subsystem: ${text} [${hex4(sv)}:${hex4(sd)}]`);
  }
  const m = r.interrupts;
  const modes: string[] = [];
  if (m.intx) modes.push(`INTx pin ${String.fromCharCode(64 + r.irq_pin)}${r.irq === undefined ? '' : ` (line ${r.irq})`}`);
  if (m.msi !== null) modes.push(`MSI ${m.msi.vectors} vector${m.msi.vectors === 1 ? '' : 's'}${m.msi.is64 ? ' (64-bit)' : ''}`);
  if (m.msix !== null) {
    const x = m.msix;
    modes.push(`MSI-X ${x.vectors} vector${x.vectors === 1 ? '' : 's'} (table BAR${x.tableBar}+0x${x.tableOffset.toString(16)}, PBA BAR${x.pbaBar}+0x${x.pbaOffset.toString(16)})`);
  }
  out(`  Interrupts: ${modes.length === 0 ? 'none' : modes.join('; ')}`);
  for (const region of r.regions) {
    const at = region.address === 0 ? '<unassigned>' : region.address.toString(16).padStart(region.type === 'io' ? 4 : 8, '0');
    const bits = region.type === 'io' ? '' : ` (${region.mem_type_64 === true ? '64-bit' : '32-bit'}, ${region.prefetch === true ? 'prefetchable' : 'non-prefetchable'})`;
    out(`  Region ${region.bar}: ${region.type === 'io' ? 'I/O ports' : 'Memory'} at ${at}${bits} [size=${formatSize(region.size)}]`);
  }
  for (const cap of r.capabilities) {
    const at = cap.extended ? cap.offset.toString(16).padStart(3, '0') : cap.offset.toString(16).padStart(2, '0');
    out(`  Capabilities: [${at}] ${cap.name}`);
  }
}
