/**
 * The config-space write filter of vfio-apple (spec §7 rule 5), as a pure
 * plan: which bytes go to COMMAND one by one, whether the write is dropped,
 * and the effective width of the forwarded write. No I/O; the apple ops
 * execute the plan.
 *
 * Dropped (the size is still returned):
 * - STATUS and BAR0–5 (the RFC's rule: macOS / the DART own the decoders);
 * - the later original's safety rule ([G] `apple_vfio_config_write_is_safe`):
 *   the MSI capability (the dext programmed the device's MSI address/data in
 *   ConfigureInterrupts; a guest write reroutes the device and MSI delivery
 *   stops) and PCIe Device Control / Device Control 2 (MPS / MRRS changes
 *   under live DART mappings cause completion timeouts). Both need the
 *   capability offsets: see {@link ConfigWriteGuards}.
 *
 * Everything else (ROM BAR, MSI-X and every other capability) is forwarded.
 */
import type { MsiCapability } from '../vfio/pci-caps.js';
import { Cfg, PCIE_CONFIG_BYTES } from '../pci/config-space.js';

/** COMMAND register, first byte and one past the last. */
export const COMMAND_START = Cfg.COMMAND;
/** One past the last byte of COMMAND. */
export const COMMAND_END = Cfg.COMMAND + 2;
/** STATUS register, first byte. */
export const STATUS_START = Cfg.STATUS;
/** One past the last byte of STATUS. */
export const STATUS_END = Cfg.STATUS + 2;
/** BAR0, first byte. */
export const BARS_START = Cfg.BAR0;
/** One past the last byte of BAR5. */
export const BARS_END = Cfg.BAR5 + 4;

/** Offset of Device Control in the PCI Express capability. */
export const PCIE_DEVCTL = 0x08;
/** Offset of Device Control 2 in the PCI Express capability. */
export const PCIE_DEVCTL2 = 0x28;

/**
 * The capability ranges the safety rule protects, from the realize-time
 * parse. Empty before it (nothing beyond STATUS and the BARs is dropped).
 */
export interface ConfigWriteGuards {
  /** The MSI capability: `[offset, offset + sizeBytes)` is never forwarded. */
  readonly msi?: { readonly offset: number; readonly sizeBytes: number };
  /** Offset of the PCI Express capability: its DevCtl and DevCtl2 words are never forwarded. */
  readonly pcieCap?: number;
}

/**
 * Bytes of an MSI capability as QEMU sizes it (msi_cap_sizeof): 0x0a, plus
 * 4 with a 64-bit address, plus 0x0a with per-vector masking.
 */
export function msiCapabilityBytes(msi: Pick<MsiCapability, 'is64' | 'maskable'>): number {
  return 0x0a + (msi.is64 ? 0x04 : 0) + (msi.maskable ? 0x0a : 0);
}

/** The guards of a function with these capabilities (either may be absent). */
export function configWriteGuards(msi: MsiCapability | undefined, pcieCap: number | undefined): ConfigWriteGuards {
  return {
    ...(msi === undefined ? {} : { msi: { offset: msi.offset, sizeBytes: msiCapabilityBytes(msi) } }),
    ...(pcieCap === undefined ? {} : { pcieCap }),
  };
}

/** QEMU's ranges_overlap: `[first1, first1+len1)` and `[first2, first2+len2)` share a byte (by last-byte arithmetic). */
function rangesOverlap(first1: number, len1: number, first2: number, len2: number): boolean {
  const last1 = first1 + len1 - 1;
  const last2 = first2 + len2 - 1;
  return !(last2 < first1 || last1 < first2);
}

/**
 * The later original's rule: false when `[off, off+size)` overlaps the MSI
 * capability or PCIe Device Control / Device Control 2 of `guards`.
 */
export function configWriteIsGuarded(offsetBytes: number, sizeBytes: number, guards: ConfigWriteGuards): boolean {
  if (guards.msi !== undefined && rangesOverlap(offsetBytes, sizeBytes, guards.msi.offset, guards.msi.sizeBytes)) return true;
  if (guards.pcieCap !== undefined) {
    if (rangesOverlap(offsetBytes, sizeBytes, guards.pcieCap + PCIE_DEVCTL, 2)) return true;
    if (rangesOverlap(offsetBytes, sizeBytes, guards.pcieCap + PCIE_DEVCTL2, 2)) return true;
  }
  return false;
}

/** What to do with one config write of `sizeBytes` at `offsetBytes`. */
export interface ConfigWritePlan {
  /**
   * Bytes of COMMAND the write overlaps, `[start, end)`, each forwarded as a
   * 1-byte ConfigWrite before anything else; undefined when it does not overlap.
   */
  readonly commandBytes: { readonly start: number; readonly end: number } | undefined;
  /** The write lies entirely inside COMMAND: after the byte writes, return size. */
  readonly insideCommand: boolean;
  /** The write overlaps STATUS, BAR0–5 or a guarded capability range: dropped (size still returned). */
  readonly dropped: boolean;
  /** Dropped by the safety rule (MSI capability, DevCtl, DevCtl2) rather than by the RFC's rule. */
  readonly guarded: boolean;
  /** `min(size, 4096 - off)`: the forwarded width, which must be 1, 2 or 4. */
  readonly effBytes: number;
  /** True when {@link effBytes} is a width ConfigWrite accepts. */
  readonly effWidthValid: boolean;
}

/**
 * `apple_vfio_config_write_is_safe`: false when `[off, off+size)` overlaps
 * STATUS (0x06–0x07) or BAR0–5 (0x10–0x27).
 */
export function configWriteIsSafe(offsetBytes: number, sizeBytes: number): boolean {
  const end = offsetBytes + sizeBytes;
  if (offsetBytes < STATUS_END && end > STATUS_START) return false;
  if (offsetBytes < BARS_END && end > BARS_START) return false;
  return true;
}

/**
 * The plan for a config write (rule 5 and the safety rule). The caller has
 * already refused offsets ≥ 4096 (the original's `min()` underflows there).
 * @param guards the protected capability ranges (default none)
 */
export function planConfigWrite(offsetBytes: number, sizeBytes: number, guards: ConfigWriteGuards = {}): ConfigWritePlan {
  const end = offsetBytes + sizeBytes;
  const overlapsCommand = offsetBytes < COMMAND_END && end > COMMAND_START;
  const commandBytes = overlapsCommand
    ? { start: Math.max(offsetBytes, COMMAND_START), end: Math.min(end, COMMAND_END) }
    : undefined;
  const insideCommand = overlapsCommand && offsetBytes >= COMMAND_START && end <= COMMAND_END;
  const effBytes = Math.min(sizeBytes, PCIE_CONFIG_BYTES - offsetBytes);
  const unsafe = !insideCommand && !configWriteIsSafe(offsetBytes, sizeBytes);
  const guarded = !insideCommand && !unsafe && configWriteIsGuarded(offsetBytes, sizeBytes, guards);
  return {
    commandBytes,
    insideCommand,
    dropped: unsafe || guarded,
    guarded,
    effBytes,
    effWidthValid: effBytes === 1 || effBytes === 2 || effBytes === 4,
  };
}
