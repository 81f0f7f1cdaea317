/**
 * What the guest sees of the header and of the capability lists, decided
 * once at open from the device's own config space:
 *
 * - identity (ids, class, revision, subsystem, CardBus CIS, interrupt pin,
 *   MIN_GNT/MAX_LAT) reads live and refuses writes (read-only registers);
 * - COMMAND: memory / I/O enable and INTx disable are the guest's own
 *   (emulated; the host keeps its values), every other bit is forwarded;
 * - STATUS reads live (INTx status overlaid by intx.ts) and refuses writes,
 *   as the original's filter does; CAP_LIST is emulated;
 * - header type: the multi-function bit is the embedder's when it says so;
 * - the capability pointer, every next pointer and the reserved bytes
 *   0x35–0x3b are emulated: the lists are rebuilt without the hidden
 *   capabilities, whose bytes read 0 and refuse writes;
 * - the interrupt line is an emulated 8-bit register (reset value 0).
 *
 * Hidden by default: Advanced Features (0x13: its FLR would reset the
 * function behind the layer's back), Enhanced Allocation (0x14: fixed BAR
 * addresses contradict the guest-programmed BARs); extended: ARI (0x0e: needs
 * next-function virtualization), SR-IOV (0x10: VF BARs are not virtualized),
 * Resizable BAR and VF Resizable BAR (0x15, 0x24: BAR sizes are fixed by the
 * host mapping). The extended list is only shown for a PCI Express function.
 */
import { Cfg, CapId, Command, Status } from '../pci/config-space.js';
import { walkCapabilities } from '../vfio/pci-caps.js';
import type { VirtualConfig } from './config-space.js';
import type { GuestConfigPort } from './device.js';

/** Standard capabilities hidden unless the embedder says otherwise. */
export const kDefaultHiddenCapabilities: readonly number[] = [0x13, 0x14];
/** Extended capabilities hidden unless the embedder says otherwise. */
export const kDefaultHiddenExtendedCapabilities: readonly number[] = [0x0e, 0x10, 0x15, 0x24];

const kExtStart = 0x100;
const kMaxExtCaps = (4096 - kExtStart) / 4;

/** One capability as found in the device's list. */
export interface FoundCapability {
  id: number;
  offsetBytes: number;
  /** Bytes up to the next capability (or the end of the space): the most it can span. */
  maxBytes: number;
}

/** The lists after setup. */
export interface CapabilityLayout {
  /** Standard capabilities the guest sees, in list order. */
  visible: FoundCapability[];
  /** Standard capabilities hidden from the guest. */
  hidden: FoundCapability[];
  /** Extended capabilities the guest sees / does not see. */
  extVisible: FoundCapability[];
  extHidden: FoundCapability[];
  /** First visible capability of `id`, or undefined. */
  find(id: number): FoundCapability | undefined;
}

/** Header setup inputs. */
export interface HeaderOptions {
  /** The device has an I/O BAR (COMMAND.IO is writable). */
  hasIo: boolean;
  /** The device has a memory BAR or a ROM (COMMAND.MEMORY is writable). */
  hasMemory: boolean;
  /** Multi-function bit of the header type as the guest sees it; undefined keeps the device's. */
  multiFunction?: boolean;
}

/**
 * COMMAND bits the guest owns (never forwarded). Bus master is among them:
 * the host keeps it as the dext's claim set it (on), because through the
 * dext every interrupt of the device, INTx mode included, is an MSI the
 * device writes (the dext always sets up MSI or MSI-X, spec §4), and a guest
 * whose driver never sets bus master (uio_pci_generic) would otherwise lose
 * its INTx. The guest reads back what it wrote.
 */
export const kCommandEmulatedBits = Command.IO | Command.MEMORY | Command.MASTER | Command.INTX_DISABLE;

/**
 * Emulation of the type-0 header (BARs and ROM excepted: bars.ts).
 * @returns the host's COMMAND at open
 */
export function setupHeader(vc: VirtualConfig, port: GuestConfigPort, opts: HeaderOptions): number {
  const hostCommand = port.read16(Cfg.COMMAND);
  vc.refuse(Cfg.VENDOR_ID, 4);
  const wmask = (opts.hasIo ? Command.IO : 0) | (opts.hasMemory ? Command.MEMORY : 0) | Command.MASTER | Command.INTX_DISABLE;
  vc.emulateBits(Cfg.COMMAND, 2, kCommandEmulatedBits, 0, wmask, hostCommand);
  vc.emulateBits(Cfg.STATUS, 2, Status.CAP_LIST, 0, 0, 0);
  vc.refuse(Cfg.STATUS, 2);
  vc.refuse(Cfg.REVISION_ID, 4);
  vc.refuse(Cfg.HEADER_TYPE, 1);
  if (opts.multiFunction !== undefined) vc.emulateBits(Cfg.HEADER_TYPE, 1, 0x80, opts.multiFunction ? 0x80 : 0, 0, 0);
  vc.refuse(Cfg.HEADER_TYPE, 1);
  vc.refuse(Cfg.CARDBUS_CIS, 8); // CardBus CIS, subsystem vendor and id
  vc.emulate(Cfg.CAPABILITY_LIST, 1, 0);
  vc.hide(Cfg.CAPABILITY_LIST + 1, 7);
  vc.emulate(Cfg.INTERRUPT_LINE, 1, 0, { wmask: 0xff });
  vc.refuse(Cfg.INTERRUPT_PIN, 3);
  return hostCommand;
}

/**
 * Walks the device's standard and extended lists and rebuilds them in the
 * guest's view without the hidden capabilities.
 * @param hide standard capability ids to hide
 * @param hideExtended extended capability ids to hide
 */
export function setupCapabilities(
  vc: VirtualConfig,
  port: GuestConfigPort,
  hide: readonly number[] = kDefaultHiddenCapabilities,
  hideExtended: readonly number[] = kDefaultHiddenExtendedCapabilities,
): CapabilityLayout {
  const read = (off: number, w: 1 | 2 | 4): number => (w === 4 ? port.read32(off) >>> 0 : w === 2 ? port.read16(off) : port.read8(off));
  const found = withSizes(
    walkCapabilities(read).map((c) => ({ id: c.id, offsetBytes: c.offsetBytes })),
    0x100,
  );
  const visible = found.filter((c) => !hide.includes(c.id));
  const hidden = found.filter((c) => hide.includes(c.id));
  for (const c of hidden) vc.hide(c.offsetBytes, c.maxBytes);
  // List order is the device's; each next pointer skips the hidden ones.
  for (let i = 0; i < visible.length; i++) {
    const c = visible[i]!;
    vc.emulate(c.offsetBytes + 1, 1, visible[i + 1]?.offsetBytes ?? 0);
  }
  vc.set(Cfg.CAPABILITY_LIST, 1, visible[0]?.offsetBytes ?? 0);
  vc.set(Cfg.STATUS, 1, visible.length > 0 ? Status.CAP_LIST : 0);

  let extVisible: FoundCapability[] = [];
  let extHidden: FoundCapability[] = [];
  if (visible.some((c) => c.id === CapId.EXP)) {
    const ext = withSizes(walkExtended(read), 0x1000);
    extVisible = ext.filter((c) => !hideExtended.includes(c.id));
    extHidden = ext.filter((c) => hideExtended.includes(c.id));
    for (const c of extHidden) vc.hide(c.offsetBytes, c.maxBytes);
    const head = ext[0];
    if (head !== undefined && extHidden.includes(head)) {
      // The head stays at 0x100: id 0 (matches nothing) pointing at the first visible one.
      vc.emulate(kExtStart, 4, ((extVisible[0]?.offsetBytes ?? 0) << 20) >>> 0);
    }
    for (let i = 0; i < extVisible.length; i++) {
      const c = extVisible[i]!;
      vc.emulateBits(c.offsetBytes + 2, 2, 0xfff0, (extVisible[i + 1]?.offsetBytes ?? 0) << 4, 0, 0);
      vc.refuse(c.offsetBytes, 4);
    }
  } else {
    // Conventional PCI: no extended space to show (a PCIe-to-PCI guest bus never reads it).
    vc.hide(kExtStart, 0x1000 - kExtStart);
  }
  return {
    visible,
    hidden,
    extVisible,
    extHidden,
    find: (id) => visible.find((c) => c.id === id),
  };
}

/** The extended list from 0x100: loop-safe, stops at a zero or all-ones header. */
function walkExtended(read: (off: number, w: 1 | 2 | 4) => number): { id: number; offsetBytes: number }[] {
  const out: { id: number; offsetBytes: number }[] = [];
  const seen = new Set<number>();
  let off = kExtStart;
  while (off >= kExtStart && off <= 0xffc && !seen.has(off) && out.length < kMaxExtCaps) {
    seen.add(off);
    const h = read(off, 4);
    if (h === 0 || h === 0xffff_ffff) break;
    out.push({ id: h & 0xffff, offsetBytes: off });
    off = (h >>> 20) & 0xffc;
  }
  return out;
}

/** Adds each capability's span: up to the next capability start (any list order) or `end`. */
function withSizes(caps: { id: number; offsetBytes: number }[], end: number): FoundCapability[] {
  const starts = caps.map((c) => c.offsetBytes).sort((a, b) => a - b);
  return caps.map((c) => {
    const next = starts.find((s) => s > c.offsetBytes) ?? end;
    return { id: c.id, offsetBytes: c.offsetBytes, maxBytes: next - c.offsetBytes };
  });
}
