/**
 * PCI Express capability (v2, endpoint) for models that are PCIe functions:
 * enough for lspci to decode DevCap (with FLR) and link fields.
 */
import { CapId } from '../../pci/config-space.js';
import type { SimConfigSpace } from '../config-space.js';

/** Adds a 0x3c-byte PCIe v2 endpoint capability; returns its offset. */
export function addPcieEndpoint(cfg: SimConfigSpace, opts: { flr: boolean }): number {
  const cap = cfg.capability(CapId.EXP, 0x3c);
  cfg.set(cap + 0x02, 2, 0x0002); // version 2, type 0 (endpoint)
  cfg.set(cap + 0x04, 4, (opts.flr ? 1 << 28 : 0) | 0x8000 | 0x1); // DevCap: FLR, role-based error, MPS 256
  cfg.set(cap + 0x08, 2, 0x2810); // DevCtl: relaxed ordering, MPS 128, MRRS 512
  cfg.setWmask(cap + 0x08, 2, 0x7fff | (opts.flr ? 0x8000 : 0));
  cfg.set(cap + 0x0c, 4, 0x00400c41); // LnkCap: port 0, ASPM L0s/L1 (optionality compliant), x4, 2.5 GT/s
  cfg.set(cap + 0x12, 2, 0x1041); // LnkSta: x4, 2.5 GT/s, slot clock
  cfg.set(cap + 0x24, 4, 0x0000001f); // DevCap2: completion timeout ranges
  cfg.setWmask(cap + 0x28, 2, 0x001f); // DevCtl2: completion timeout value and disable
  return cap;
}
