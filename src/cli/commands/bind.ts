/**
 * `pcipt bind <bdf>` / `pcipt unbind <bdf>` (linux): hand a function to
 * vfio-pci through sysfs and back (src/cli/vfio-bind.ts), check its IOMMU
 * group and say which other functions must be bound before VFIO can open
 * it. `--dry-run` prints the writes; `--json` prints the plan and the
 * drivers after it ran.
 */
import { PassthroughError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { bdfArgument } from '../context.js';
import { usageError } from '../exit-codes.js';
import { applyPlan, planBind, planUnbind, type BindPlan } from '../vfio-bind.js';

/** Options of bind and unbind. */
export interface BindCliOptions {
  /** bind: also bind the IOMMU group's other functions that need it. */
  group?: boolean;
  /** Print the writes, do not make them. */
  dryRun?: boolean;
}

/** The `bind`/`unbind --json` document. */
export interface BindDocument extends BindPlan {
  dryRun: boolean;
  /** Each target's driver after the writes (before them, under --dry-run). */
  driverAfter: Record<string, string | null>;
  /** Group members that still keep the group from being viable. */
  mustAlsoBind: string[];
}

/** Runs bind or unbind. Errors: usage (2), PT_ERR_NOT_FOUND (3), PT_ERR_PLATFORM / PT_ERR_VFIO_UNAVAILABLE (4), PT_ERR_PERMISSION (5), PT_ERR_NOT_BOUND (6). */
export async function bindCommand(ctx: CommandContext, action: 'bind' | 'unbind', bdfText: string, opts: BindCliOptions): Promise<number> {
  const { backend, backendSource } = ctx.options;
  if (backend !== 'linux' && backendSource !== 'default') {
    throw usageError(`${action} works with the linux backend (vfio-pci through sysfs), not ${backend}`, { backend });
  }
  if (process.platform !== 'linux') {
    throw new PassthroughError('PT_ERR_PLATFORM', `${action} needs Linux sysfs (this is ${process.platform})`, { platform: process.platform });
  }
  const bdf = bdfArgument(bdfText);
  const plan = action === 'bind' ? planBind(bdf, { group: opts.group === true }) : planUnbind(bdf);
  const dryRun = opts.dryRun === true;
  const driverAfter = dryRun ? Object.fromEntries(plan.targets.map((t) => [t, t === plan.bdf ? plan.driverBefore : null])) : applyPlan(plan);
  const bound = new Set(Object.entries(driverAfter).filter(([, d]) => d === 'vfio-pci').map(([b]) => b));
  const mustAlsoBind = plan.group.filter((m) => m.blocksGroup && !bound.has(m.bdf)).map((m) => m.bdf);
  const doc: BindDocument = { ...plan, dryRun, driverAfter, mustAlsoBind };
  if (ctx.output.json) {
    ctx.output.emitJson(doc);
    return 0;
  }
  printPlan(ctx, doc);
  return 0;
}

function printPlan(ctx: CommandContext, doc: BindDocument): void {
  const { out, color: c } = ctx.output;
  if (doc.note !== undefined) out(doc.note);
  for (const w of doc.writes) {
    const line = `${JSON.stringify(w.value)} > ${w.path}`;
    out(doc.dryRun ? `would write ${line}  ${c.dim(`# ${w.why}`)}` : `wrote ${line}`);
  }
  if (!doc.dryRun) {
    for (const [bdf, driver] of Object.entries(doc.driverAfter)) out(`${c.bold(bdf)}: ${driver ?? 'no driver'}${driver === doc.driverBefore || bdf !== doc.bdf ? '' : ` (was ${doc.driverBefore ?? 'no driver'})`}`);
  }
  if (doc.iommuGroup !== null && doc.group.length > 0) {
    out(`IOMMU group ${doc.iommuGroup} also holds:`);
    for (const m of doc.group) {
      const driver = doc.driverAfter[m.bdf] !== undefined ? doc.driverAfter[m.bdf] : m.driver;
      const why = m.bridge ? 'a bridge: may keep its driver' : driver === 'vfio-pci' ? 'bound to vfio-pci' : m.blocksGroup && driver !== 'vfio-pci' ? c.yellow('must be bound to vfio-pci (or unbound) first') : 'no driver: fine; bind it to pass it through too';
      out(`  ${m.bdf} ${driver ?? 'no driver'}: ${why}`);
    }
  }
  if (doc.action === 'bind' && doc.mustAlsoBind.length > 0) {
    out(c.yellow(`VFIO cannot open ${doc.bdf} until ${doc.mustAlsoBind.join(', ')} ${doc.mustAlsoBind.length === 1 ? 'is' : 'are'} bound to vfio-pci: run "pcipt bind --group ${doc.bdf}"`));
  }
}
