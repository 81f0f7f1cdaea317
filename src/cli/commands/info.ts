/**
 * `pcipt info <bdf>`: one function in QMP `query-pci` shape (ids, class,
 * BARs with type/size/prefetch/mem_type_64), its interrupt modes (INTx pin,
 * MSI/MSI-X vector counts from the capability list) and its capabilities.
 * Reads config space without claiming the function.
 */
import type { CommandContext } from '../context.js';
import { bdfArgument } from '../context.js';
import { deviceDisplayName, hex4, loadPciIds } from '../pci-names.js';
import { buildPciInfo, formatSize, type PciInfoRecord } from '../query-pci.js';

/** Runs info. Errors: PT_ERR_INVALID_BDF (exit 2), PT_ERR_NOT_FOUND (1), PT_ERR_PLATFORM (3). */
export async function infoCommand(ctx: CommandContext, bdfText: string): Promise<number> {
  const bdf = bdfArgument(bdfText);
  const record = await ctx.withBackend(async (host) => buildPciInfo(bdf, await host.readConfig(bdf), await host.regions(bdf)));
  if (ctx.output.json) ctx.output.emitJson(record);
  else printInfo(ctx, record);
  return 0;
}

function printInfo(ctx: CommandContext, r: PciInfoRecord): void {
  const { out, color: c } = ctx.output;
  const ids = loadPciIds(ctx.output.streams.env);
  const classCode = (r.class_info.class << 8) | r.prog_if;
  const name = deviceDisplayName(ids, r.id.vendor, r.id.device, classCode);
  out(
    `${c.bold(r.bdf)} ${r.class_info.desc} [${hex4(r.class_info.class)}]: ${name} [${hex4(r.id.vendor)}:${hex4(r.id.device)}] (rev ${r.revision.toString(16).padStart(2, '0')})`,
  );
  out(`  Subsystem: ${hex4(r.id['subsystem-vendor'])}:${hex4(r.id.subsystem)}`);
  const modes: string[] = [];
  if (r.irq.intx) modes.push(`INTx pin ${String.fromCharCode(64 + r.irq_pin)}`);
  if (r.irq.msi !== null) modes.push(`MSI ${r.irq.msi.vectors} vector${r.irq.msi.vectors === 1 ? '' : 's'}${r.irq.msi.is64 ? ' (64-bit)' : ''}`);
  if (r.irq.msix !== null) {
    const m = r.irq.msix;
    modes.push(`MSI-X ${m.vectors} vector${m.vectors === 1 ? '' : 's'} (table BAR${m.tableBar}+0x${m.tableOffset.toString(16)}, PBA BAR${m.pbaBar}+0x${m.pbaOffset.toString(16)})`);
  }
  out(`  Interrupts: ${modes.length === 0 ? 'none' : modes.join('; ')}`);
  for (const region of r.regions) {
    const kind = region.type === 'io' ? 'I/O ports' : 'Memory';
    const bits = region.type === 'io' ? '' : `, ${region.mem_type_64 ? '64-bit' : '32-bit'}, ${region.prefetch ? 'prefetchable' : 'non-prefetchable'}`;
    out(`  Region ${region.bar}: ${kind}, size ${formatSize(region.size)}${bits}`);
  }
  for (const cap of r.capabilities) {
    const at = cap.extended ? cap.offset.toString(16).padStart(3, '0') : cap.offset.toString(16).padStart(2, '0');
    out(`  Capabilities: [${at}] ${cap.name}`);
  }
}
