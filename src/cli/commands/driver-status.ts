/**
 * `pcipt driver-status`: is the backend usable here? sim is always ready;
 * linux reports the vfio modules, /dev/vfio and bound devices; iokit reports
 * the dext's system-extension state on macOS and "macOS-only" elsewhere.
 * Exit 0 when ready, 3 when not (the JSON document is printed either way).
 */
import type { BackendStatus } from '../../vfio/backend.js';
import { toPassthroughError } from '../../errors.js';
import type { DriverState, IokitDriverStatus } from '../../iokit/driver-status.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

/** The `driver-status --json` document: the backend's {@link BackendStatus}. */
type DriverStatusDocument = BackendStatus;

/** The iokit answer on a platform without IOKit (never touches koffi). */
export function unsupportedPlatformStatus(platform: string = process.platform): BackendStatus {
  return {
    backend: 'iokit',
    ready: false,
    state: 'unsupported-platform',
    details: [`the dext backend is macOS-only (this is ${platform}); use --backend sim or --backend linux`],
  };
}

/** BackendStatus.state words for the dext's system-extension states. */
const EXTENSION_STATE_WORDS: Record<DriverState, string> = {
  active: 'active',
  'waiting for user approval': 'waiting-for-approval',
  uninstalling: 'uninstalling',
  staged: 'staged',
  'not installed': 'not-installed',
};

/**
 * Merges the dext's system-extension state (`systemextensionsctl list`, the
 * original CLI's driver-status) into the iokit backend's status: ready only
 * when the extension is active and the backend can reach it.
 */
export function statusWithExtension(host: BackendStatus, ext: IokitDriverStatus): BackendStatus {
  const active = ext.state === 'active';
  const line =
    ext.bundleId === undefined
      ? `system extension: ${ext.state}`
      : `system extension: ${ext.state} (${ext.bundleId}${ext.version === undefined ? '' : ` ${ext.version}`})`;
  const hint =
    ext.state === 'waiting for user approval'
      ? ['approve it in System Settings → General → Login Items & Extensions']
      : ext.state === 'uninstalling'
        ? ['a reboot is required to finish uninstalling']
        : [];
  return {
    backend: 'iokit',
    ready: active && host.ready,
    state: active ? host.state : EXTENSION_STATE_WORDS[ext.state],
    details: [line, ...hint, ...host.details],
  };
}

/** Runs driver-status. */
export async function driverStatusCommand(ctx: CommandContext): Promise<number> {
  let status: BackendStatus;
  if (ctx.options.backend === 'iokit' && process.platform !== 'darwin') {
    status = unsupportedPlatformStatus();
  } else {
    status = await ctx.withBackend((host) => host.status());
    if (ctx.options.backend === 'iokit') {
      // macOS only; loaded here so other platforms never load the IOKit bindings module.
      const { iokitDriverStatus } = await import('../../iokit/driver-status.js');
      try {
        status = statusWithExtension(status, iokitDriverStatus());
      } catch (e) {
        // systemextensionsctl failed: report what the backend itself saw.
        status = { ...status, details: [...status.details, `system extension state unavailable: ${toPassthroughError(e).message}`] };
      }
    }
  }
  const { output } = ctx;
  if (output.json) {
    output.emitJson(status);
  } else {
    const c = output.color;
    const state = status.ready ? c.green(status.state) : c.yellow(status.state);
    output.out(`${c.bold(status.backend)}: ${state}${status.ready ? '' : ' (not ready)'}`);
    for (const line of status.details) output.out(`  ${line}`);
  }
  return status.ready ? ExitCode.OK : ExitCode.UNAVAILABLE;
}
