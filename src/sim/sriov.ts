/**
 * A simulated SR-IOV machine: physical functions (PFs) with their virtual
 * functions (VFs) at the addresses real SR-IOV hardware gives them.
 *
 * PCIe SR-IOV (§2.1.2 / §3.3.10–11 of the SR-IOV spec): a VF is addressed by
 * its Routing ID (RID, `bus << 8 | device << 3 | function`), computed from
 * its PF's RID and two fields of the PF's SR-IOV capability:
 *
 *   RID(VF n) = RID(PF) + First VF Offset + (n − 1) × VF Stride     (n = 1 … NumVFs)
 *
 * With ARI the 8-bit device/function part counts all 256 RIDs of a bus, so
 * the VFs of a large PF run past function 7 into the next device numbers
 * and then onto the following bus numbers (which the bridge above must claim
 * in its bus range). Linux shows them in plain `bus:device.function` form, as
 * here: PF 0000:01:00.0 with offset 1 and stride 1 has VF1 at 0000:01:00.1,
 * VF8 at 0000:01:01.0, VF256 at 0000:02:00.0.
 *
 * The PFs are the functions 0…P−1 of one multi-function device (a 4-port NIC
 * is 01:00.0–01:00.3); each PF's VFs follow the PFs and the previous PF's
 * VFs, so PF p's First VF Offset is `P − p + p × NumVFs × stride` (what
 * multi-PF adapters program: an offset per PF into one shared RID range).
 */
import { PassthroughError } from '../errors.js';
import type { SimMachineDescription } from './machine.js';
import type { MsixOptions } from './models/msix.js';

/** Options of {@link sriovLayout} and {@link sriovMachine}. */
export interface SriovOptions {
  /** Physical functions, 1–8: functions 0…P−1 of device 0 on `bus` (default 4). */
  physicalFunctions?: number;
  /** VFs enabled per PF (its NumVFs), 1–256 (default 256). */
  vfsPerPf?: number;
  /** VF Stride, 1–8 (default 1). */
  vfStride?: number;
  /** Bus of the PFs, 0–255 (default 1). */
  bus?: number;
  /** PCI domain (default 0). */
  domain?: number;
  /** Options of the `msix` model every function runs (default: 64 vectors, 16 KiB RAM BAR). */
  options?: MsixOptions;
}

/** One PF and its VFs. */
export interface SriovPhysicalFunction {
  /** The PF's address. */
  bdf: string;
  /** First VF Offset of its SR-IOV capability. */
  firstVfOffset: number;
  /** VF Stride of its SR-IOV capability. */
  vfStride: number;
  /** Its VFs' addresses, VF1 first. */
  vfs: string[];
}

function bad(option: string, why: string, value: unknown): never {
  throw new PassthroughError('PT_ERR_INVALID_ARGUMENT', `sriov: ${option} ${why}`, { option, value: String(value) });
}

function intIn(option: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min || n > max) bad(option, `must be an integer from ${min} to ${max}`, v);
  return n;
}

/** `dddd:bb:dd.f` of a domain and a 16-bit routing ID. */
function bdfOfRid(domain: number, rid: number): string {
  const hex = (v: number, w: number) => v.toString(16).padStart(w, '0');
  return `${hex(domain, 4)}:${hex(rid >>> 8, 2)}:${hex((rid >>> 3) & 0x1f, 2)}.${rid & 7}`;
}

/**
 * The PFs and VF addresses of an SR-IOV adapter, by the RID arithmetic above.
 * Throws PT_ERR_INVALID_ARGUMENT for an option out of range, or when the
 * VFs would run past bus 255.
 */
export function sriovLayout(opts: SriovOptions = {}): SriovPhysicalFunction[] {
  const pfs = intIn('physicalFunctions', opts.physicalFunctions, 4, 1, 8);
  const vfs = intIn('vfsPerPf', opts.vfsPerPf, 256, 1, 256);
  const stride = intIn('vfStride', opts.vfStride, 1, 1, 8);
  const bus = intIn('bus', opts.bus, 1, 0, 255);
  const domain = intIn('domain', opts.domain, 0, 0, 0xffff);
  const lastRid = (bus << 8) + pfs + (pfs * vfs - 1) * stride;
  if (lastRid > 0xffff) bad('vfsPerPf', `× physicalFunctions × vfStride runs past bus 255 (last routing ID 0x${lastRid.toString(16)})`, vfs);
  const out: SriovPhysicalFunction[] = [];
  for (let p = 0; p < pfs; p++) {
    const pfRid = (bus << 8) + p;
    const firstVfOffset = pfs - p + p * vfs * stride;
    const list: string[] = [];
    for (let n = 1; n <= vfs; n++) list.push(bdfOfRid(domain, pfRid + firstVfOffset + (n - 1) * stride));
    out.push({ bdf: bdfOfRid(domain, pfRid), firstVfOffset, vfStride: stride, vfs: list });
  }
  return out;
}

/**
 * A sim machine of the PFs and all their VFs, each an `msix` function. Pass
 * it to `createSupervisor({ machine })` (which validates it); attach the VFs
 * as a hypervisor would, and leave the PFs to the host.
 */
export function sriovMachine(opts: SriovOptions = {}): SimMachineDescription {
  const options: MsixOptions = opts.options ?? { vectors: 64, ramBarBytes: 16384 };
  const functions: SimMachineDescription['functions'] = [];
  for (const pf of sriovLayout(opts)) {
    functions.push({ bdf: pf.bdf, model: 'msix', options });
    for (const vf of pf.vfs) functions.push({ bdf: vf, model: 'msix', options });
  }
  return { functions };
}
