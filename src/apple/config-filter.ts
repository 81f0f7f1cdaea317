/**
 * The config-space write filter of vfio-apple (spec §7 rule 5), as a pure
 * plan: which bytes go to COMMAND one by one, whether the write is dropped
 * (STATUS, BAR0–5: macOS / the DART own the decoders), and the effective
 * width of the forwarded write. No I/O; the apple ops execute the plan.
 *
 * Everything else (ROM BAR, MSI / MSI-X and every other capability) is
 * forwarded, as QEMU passes every guest write through.
 */
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

/** What to do with one config write of `sizeBytes` at `offsetBytes`. */
export interface ConfigWritePlan {
  /**
   * Bytes of COMMAND the write overlaps, `[start, end)`, each forwarded as a
   * 1-byte ConfigWrite before anything else; undefined when it does not overlap.
   */
  readonly commandBytes: { readonly start: number; readonly end: number } | undefined;
  /** The write lies entirely inside COMMAND: after the byte writes, return size. */
  readonly insideCommand: boolean;
  /** The write overlaps STATUS or BAR0–5: dropped (size still returned). */
  readonly dropped: boolean;
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
 * The plan for a config write (rule 5). The caller has already refused
 * offsets ≥ 4096 (the original's `min()` underflows there).
 */
export function planConfigWrite(offsetBytes: number, sizeBytes: number): ConfigWritePlan {
  const end = offsetBytes + sizeBytes;
  const overlapsCommand = offsetBytes < COMMAND_END && end > COMMAND_START;
  const commandBytes = overlapsCommand
    ? { start: Math.max(offsetBytes, COMMAND_START), end: Math.min(end, COMMAND_END) }
    : undefined;
  const insideCommand = overlapsCommand && offsetBytes >= COMMAND_START && end <= COMMAND_END;
  const effBytes = Math.min(sizeBytes, PCIE_CONFIG_BYTES - offsetBytes);
  return {
    commandBytes,
    insideCommand,
    dropped: !insideCommand && !configWriteIsSafe(offsetBytes, sizeBytes),
    effBytes,
    effWidthValid: effBytes === 1 || effBytes === 2 || effBytes === 4,
  };
}
