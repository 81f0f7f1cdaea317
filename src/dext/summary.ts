/**
 * Host-side summaries read through a dext client, shared by the backends
 * that enumerate through the dext protocol (sim, iokit): the 4 KiB config
 * dump and the BAR list of `pcipt devices`. Only ConfigRead and GetBARInfo
 * are used (neither is gated on a claim, spec §2), so no claim is taken.
 */
import { BarType, type DextClient } from './contract.js';
import { PCIE_CONFIG_BYTES } from '../pci/config-space.js';
import type { RegionSummary } from '../vfio/backend.js';

/**
 * Reads the whole (PCIe extended) config space as dwords, little-endian into bytes.
 * Errors: whatever ConfigRead throws (PT_ERR_DEVICE_GONE, PT_ERR_NOT_ATTACHED, …).
 */
export function dextConfigDump(client: DextClient): Uint8Array {
  const out = new Uint8Array(PCIE_CONFIG_BYTES);
  for (let off = 0; off < PCIE_CONFIG_BYTES; off += 4) {
    const v = client.configRead(off, 4) >>> 0;
    out[off] = v & 0xff;
    out[off + 1] = (v >>> 8) & 0xff;
    out[off + 2] = (v >>> 16) & 0xff;
    out[off + 3] = v >>> 24;
  }
  return out;
}

/** The implemented BARs (GetBARInfo answers and the size is non-zero), in BAR order. */
export function dextRegions(client: DextClient): RegionSummary[] {
  const out: RegionSummary[] = [];
  for (let bar = 0; bar < 6; bar++) {
    let info;
    try {
      info = client.getBarInfo(bar);
    } catch {
      continue; // absent BAR
    }
    if (info.sizeBytes === 0n) continue;
    out.push({
      bar,
      type: (info.type & BarType.io) !== 0 ? 'io' : 'memory',
      sizeBytes: Number(info.sizeBytes),
      prefetch: (info.type & BarType.prefetch) !== 0,
      mem64: (info.type & 0x6) === BarType.mem64,
    });
  }
  return out;
}
