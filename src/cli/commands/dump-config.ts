/**
 * `pcipt dump-config <bdf> [--size 64|256|4096]`: the function's config space
 * in the dump format `lspci -F FILE` (and `setpci -A dump`) read back, so
 * pciutils does the decoding (`pcipt dump-config 00:10.0 > d; lspci -F d -vvv`).
 * Default size: everything the backend exposes (4096 bytes where it has
 * non-zero extended space, else 256); `--size N` is exact, never shortened.
 * `--json` gives `{ bdf, sizeBytes, hex, dump }`.
 */
import { defaultDumpSize, formatLspciDump } from '../../pci/dump.js';
import { PassthroughError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { bdfArgument } from '../context.js';
import { usageError } from '../exit-codes.js';

/** The `dump-config --json` document. */
export interface DumpConfigDocument {
  bdf: string;
  sizeBytes: number;
  /** The bytes as one lowercase hex string. */
  hex: string;
  /** The `lspci -F` text. */
  dump: string;
}

/** Parses `--size`: 64, 256 or 4096 (usage error otherwise). */
export function parseDumpSize(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (n !== 64 && n !== 256 && n !== 4096) throw usageError(`--size must be 64, 256 or 4096 (got "${text}")`, { size: text });
  return n;
}

/** Runs dump-config. Errors: PT_ERR_INVALID_BDF (2), PT_ERR_NOT_FOUND (3), PT_ERR_OUT_OF_RANGE (1) when the backend exposes less than --size. */
export async function dumpConfigCommand(ctx: CommandContext, bdfText: string, opts: { size?: string }): Promise<number> {
  const bdf = bdfArgument(bdfText);
  const size = parseDumpSize(opts.size);
  const config = await ctx.withBackend((host) => host.readConfig(bdf));
  if (size !== undefined && config.length < size) {
    throw new PassthroughError('PT_ERR_OUT_OF_RANGE', `the ${ctx.options.backend} backend exposes only ${config.length} bytes of config space`, {
      bdf,
      sizeBytes: size,
    });
  }
  // An explicit --size is exact: 4096 means 4096 bytes even when extended space is all zeros.
  const sizeBytes = size ?? defaultDumpSize(config);
  const dump = formatLspciDump(bdf, config, { sizeBytes });
  const bytes = config.subarray(0, sizeBytes);
  if (ctx.output.json) {
    const doc: DumpConfigDocument = { bdf, sizeBytes: bytes.length, hex: Buffer.from(bytes).toString('hex'), dump };
    ctx.output.emitJson(doc);
  } else {
    ctx.output.streams.stdout.write(dump.endsWith('\n') ? dump : `${dump}\n`);
  }
  return 0;
}
