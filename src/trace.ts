/**
 * Every trace point of pcipt, declared once (QEMU's trace-events; undici's
 * diagnostics.js). Channels are `pcipt:<area>:<event>` on
 * node:diagnostics_channel; publishing costs one boolean check when nobody
 * subscribes. Payloads are plain, structured-cloneable records so a worker
 * can forward them to the supervisor.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** The declared trace points: channel name → what the payload carries. */
export const TRACE_POINTS = {
  'pcipt:config:read': 'bdf offsetBytes width value (vfio_pci_read_config)',
  'pcipt:config:write': 'bdf offsetBytes width value forwarded (vfio_pci_write_config)',
  'pcipt:region:read': 'bdf region offsetBytes width value (vfio_region_read / apple_vfio_bar_read, slow path only)',
  'pcipt:region:write': 'bdf region offsetBytes width value (vfio_region_write / apple_vfio_bar_write, slow path only)',
  'pcipt:region:map': 'bdf region sizeBytes windows (vfio_region_mmap)',
  'pcipt:region:unmap': 'bdf region (vfio_region_unmap)',
  'pcipt:irq:raise': 'bdf vector (apple_dext_interrupt)',
  'pcipt:irq:deliver': 'bdf vector mode (vfio_msi_interrupt / vfio_intx_interrupt)',
  'pcipt:irq:mask': 'bdf words (apple_vfio_update_irq_mask)',
  'pcipt:irq:rearm': 'bdf (interrupt_notify_rearm)',
  'pcipt:dma:map': 'bdf key busAddr sizeBytes kernReturn (apple_dext_register_dma)',
  'pcipt:dma:unmap': 'bdf key kernReturn (apple_dext_unregister_dma)',
  'pcipt:device:reset': 'bdf ok (vfio_pci_reset)',
  'pcipt:dext:call': 'bdf selector selectorName kernReturn (one dext selector)',
  'pcipt:actor:transition': 'deviceId actor from to event (xstate inspection, flattened)',
  'pcipt:actor:error': 'deviceId code message context',
  'pcipt:supervisor:restart': 'deviceId attempt cause',
} as const;

/** A declared channel name. */
export type TracePoint = keyof typeof TRACE_POINTS;

/** Every declared trace point name. */
export const TRACE_POINT_NAMES = Object.keys(TRACE_POINTS) as TracePoint[];

const channels = new Map<TracePoint, diagnosticsChannel.Channel>(
  TRACE_POINT_NAMES.map((name) => [name, diagnosticsChannel.channel(name)]),
);

/** The channel object for a trace point (subscribe with `.subscribe(fn)`). */
export function traceChannel(name: TracePoint): diagnosticsChannel.Channel {
  return channels.get(name)!;
}

/** True when someone listens on `name`: check before building a payload on a hot path. */
export function traceEnabled(name: TracePoint): boolean {
  return channels.get(name)!.hasSubscribers;
}

/** Publishes `payload` on `name` if anyone subscribes. */
export function trace(name: TracePoint, payload: Record<string, unknown>): void {
  const ch = channels.get(name)!;
  if (ch.hasSubscribers) ch.publish(payload);
}
