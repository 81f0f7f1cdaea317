/**
 * A small model of what a guest OS does to a PCI function, after Linux's
 * PCI core (drivers/pci/probe.c __pci_read_base, setup-res, msi/, pci.c
 * pci_check_and_mask_intx, pcie_flr) and a driver on top. Used by the guest
 * layer's tests as the "guest nobody here wrote" stand-in: every step is a
 * config cycle or an MMIO access through the GuestPciFunction contract.
 */
import type { GuestPciFunction } from '../../../../src/guest/contract.js';
import { Cfg, CapId, Command, Msi, Msix, Status } from '../../../../src/pci/config-space.js';

/** A BAR as the guest's PCI core found it. */
export interface ProbedBar {
  index: number;
  io: boolean;
  mem64: boolean;
  prefetch: boolean;
  sizeBytes: number;
}

/** Where the model allocates addresses from. */
export interface AddressPools {
  mem32: number;
  mem64: number;
  io: number;
}

/** The guest driver model. */
export class GuestDriver {
  readonly fn: GuestPciFunction;
  bars: ProbedBar[] = [];
  /** BAR index → assigned address. */
  readonly addresses = new Map<number, number>();

  constructor(fn: GuestPciFunction) {
    this.fn = fn;
  }

  cfg8(off: number): number {
    return this.fn.configRead(off, 1);
  }
  cfg16(off: number): number {
    return this.fn.configRead(off, 2);
  }
  cfg32(off: number): number {
    return this.fn.configRead(off, 4) >>> 0;
  }

  /** Vendor and device id (one dword read, as pci_bus_read_dev_vendor_id). */
  ids(): { vendor: number; device: number } {
    const v = this.cfg32(0);
    return { vendor: v & 0xffff, device: v >>> 16 };
  }

  /** The capability ids in list order (pci_find_capability's walk), loop-safe. */
  capabilities(): { id: number; offset: number }[] {
    const out: { id: number; offset: number }[] = [];
    if ((this.cfg16(Cfg.STATUS) & Status.CAP_LIST) === 0) return out;
    let p = this.cfg8(Cfg.CAPABILITY_LIST) & 0xfc;
    while (p >= 0x40 && out.length < 48) {
      out.push({ id: this.cfg8(p), offset: p });
      p = this.cfg8(p + 1) & 0xfc;
    }
    return out;
  }

  /** Extended capability ids from 0x100 (pci_find_ext_capability's walk). */
  extendedCapabilities(): { id: number; offset: number }[] {
    const out: { id: number; offset: number }[] = [];
    let p = 0x100;
    while (p >= 0x100 && out.length < 960) {
      const h = this.cfg32(p);
      if (h === 0 || h === 0xffff_ffff) break;
      out.push({ id: h & 0xffff, offset: p });
      p = (h >>> 20) & 0xffc;
    }
    return out.filter((c) => c.id !== 0);
  }

  capability(id: number): number | undefined {
    return this.capabilities().find((c) => c.id === id)?.offset;
  }

  /** __pci_read_base for BARs 0–5: decode off, size with all ones, restore. */
  probeBars(): ProbedBar[] {
    const cmd = this.cfg16(Cfg.COMMAND);
    this.fn.configWrite(Cfg.COMMAND, 2, cmd & ~(Command.IO | Command.MEMORY));
    const bars: ProbedBar[] = [];
    for (let i = 0; i < 6; i++) {
      const at = Cfg.BAR0 + 4 * i;
      const orig = this.cfg32(at);
      this.fn.configWrite(at, 4, 0xffff_ffff);
      const sz = this.cfg32(at);
      this.fn.configWrite(at, 4, orig);
      if (sz === 0 || sz === 0xffff_ffff) continue;
      const io = (sz & 1) !== 0;
      const mem64 = !io && (sz & 0x6) === 0x4;
      let size: number;
      if (io) {
        size = (~(sz & 0xffff_fffc) + 1) >>> 0;
      } else if (mem64) {
        const origHi = this.cfg32(at + 4);
        this.fn.configWrite(at + 4, 4, 0xffff_ffff);
        const szHi = this.cfg32(at + 4);
        this.fn.configWrite(at + 4, 4, origHi);
        const mask = BigInt(szHi) * 0x1_0000_0000n + BigInt((sz & 0xffff_fff0) >>> 0);
        size = Number(((~mask & 0xffff_ffff_ffff_ffffn) + 1n) & 0xffff_ffff_ffff_ffffn);
      } else {
        size = (~(sz & 0xffff_fff0) + 1) >>> 0;
      }
      bars.push({ index: i, io, mem64, prefetch: !io && (sz & 0x8) !== 0, sizeBytes: size });
      if (mem64) i++;
    }
    this.fn.configWrite(Cfg.COMMAND, 2, cmd);
    this.bars = bars;
    return bars;
  }

  /** Assigns every probed BAR a naturally aligned address from the pools and enables decoding (+ bus master). */
  assign(pools: AddressPools, master = true): void {
    for (const b of this.bars) {
      const key = b.io ? 'io' : b.mem64 ? 'mem64' : 'mem32';
      const addr = Math.ceil(pools[key] / b.sizeBytes) * b.sizeBytes;
      pools[key] = addr + b.sizeBytes;
      this.program(b.index, addr);
    }
    const cmd = this.cfg16(Cfg.COMMAND);
    const io = this.bars.some((b) => b.io) ? Command.IO : 0;
    const mem = this.bars.some((b) => !b.io) ? Command.MEMORY : 0;
    this.fn.configWrite(Cfg.COMMAND, 2, cmd | io | mem | (master ? Command.MASTER : 0));
  }

  /** Writes `addr` into BAR `index` (both halves of a 64-bit BAR). */
  program(index: number, addr: number): void {
    const b = this.bars.find((x) => x.index === index)!;
    const at = Cfg.BAR0 + 4 * index;
    this.fn.configWrite(at, 4, addr % 0x1_0000_0000);
    if (b.mem64) this.fn.configWrite(at + 4, 4, Math.floor(addr / 0x1_0000_0000));
    this.addresses.set(index, addr);
  }

  /** Guest physical address of byte `off` of BAR `index`. */
  at(index: number, off: number): number {
    return this.addresses.get(index)! + off;
  }

  // ---- MSI-X (drivers/pci/msi/msi.c msix_capability_init) ----------------------

  msixInfo(): { cap: number; entries: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number } {
    const cap = this.capability(CapId.MSIX)!;
    const table = this.cfg32(cap + Msix.TABLE);
    const pba = this.cfg32(cap + Msix.PBA);
    return {
      cap,
      entries: (this.cfg16(cap + Msix.FLAGS) & Msix.FLAGS_QSIZE) + 1,
      tableBar: table & 7,
      tableOffset: table & ~7,
      pbaBar: pba & 7,
      pbaOffset: pba & ~7,
    };
  }

  /** Enables MSI-X the way Linux does: function-masked while the table is written, entries left masked. */
  msixEnable(nvec: number, address: bigint, dataBase: number): void {
    const m = this.msixInfo();
    const ctrl = this.cfg16(m.cap + Msix.FLAGS);
    this.fn.configWrite(m.cap + Msix.FLAGS, 2, ctrl | Msix.FLAGS_ENABLE | Msix.FLAGS_MASKALL);
    for (let v = 0; v < nvec; v++) {
      const e = this.at(m.tableBar, m.tableOffset + 16 * v);
      this.fn.mmioWrite(e, 4, Number(address & 0xffff_ffffn));
      this.fn.mmioWrite(e + 4, 4, Number(address >> 32n));
      this.fn.mmioWrite(e + 8, 4, dataBase + v);
    }
    this.fn.configWrite(m.cap + Msix.FLAGS, 2, (ctrl | Msix.FLAGS_ENABLE) & ~Msix.FLAGS_MASKALL);
  }

  /** pci_msix_shutdown: clears the enable bit only (the function mask stays as it was). */
  msixDisable(): void {
    const m = this.msixInfo();
    this.fn.configWrite(m.cap + Msix.FLAGS, 2, this.cfg16(m.cap + Msix.FLAGS) & ~Msix.FLAGS_ENABLE);
  }

  /** Entry mask bit of vector `v` (pci_msix_mask / unmask: a dword write of vector control). */
  msixMask(v: number, masked: boolean): void {
    const m = this.msixInfo();
    this.fn.mmioWrite(this.at(m.tableBar, m.tableOffset + 16 * v + 12), 4, masked ? 1 : 0);
  }

  /** Function mask bit. */
  msixFunctionMask(masked: boolean): void {
    const m = this.msixInfo();
    const ctrl = this.cfg16(m.cap + Msix.FLAGS);
    this.fn.configWrite(m.cap + Msix.FLAGS, 2, masked ? ctrl | Msix.FLAGS_MASKALL : ctrl & ~Msix.FLAGS_MASKALL);
  }

  /** PBA bit of vector `v`, read through MMIO. */
  msixPending(v: number): boolean {
    const m = this.msixInfo();
    const word = this.fn.mmioRead(this.at(m.pbaBar, m.pbaOffset + 4 * (v >>> 5)), 4);
    return ((word >>> (v & 31)) & 1) === 1;
  }

  // ---- MSI (msi_capability_init) ------------------------------------------------

  /** Programs address and data, then Multiple Message Enable for `nvec` and the enable bit. */
  msiEnable(nvec: number, address: bigint, data: number): void {
    const cap = this.capability(CapId.MSI)!;
    const flags = this.cfg16(cap + Msi.FLAGS);
    const is64 = (flags & Msi.FLAGS_64BIT) !== 0;
    this.fn.configWrite(cap + Msi.ADDRESS_LO, 4, Number(address & 0xffff_ffffn));
    if (is64) this.fn.configWrite(cap + 8, 4, Number(address >> 32n));
    this.fn.configWrite(cap + (is64 ? 0x0c : 0x08), 2, data);
    const mme = Math.log2(nvec);
    this.fn.configWrite(cap + Msi.FLAGS, 2, (flags & ~Msi.FLAGS_QSIZE) | (mme << 4) | Msi.FLAGS_ENABLE);
  }

  msiDisable(): void {
    const cap = this.capability(CapId.MSI)!;
    this.fn.configWrite(cap + Msi.FLAGS, 2, this.cfg16(cap + Msi.FLAGS) & ~Msi.FLAGS_ENABLE);
  }

  /** Per-vector mask register of a maskable MSI (offset by address width). */
  msiMaskRegister(): number {
    const cap = this.capability(CapId.MSI)!;
    const is64 = (this.cfg16(cap + Msi.FLAGS) & Msi.FLAGS_64BIT) !== 0;
    return cap + (is64 ? 0x10 : 0x0c);
  }

  // ---- INTx (pci.c pci_check_and_set_intx_mask) ---------------------------------

  /**
   * pci_check_and_mask_intx: one dword read of COMMAND+STATUS; when STATUS
   * shows an interrupt, set INTx disable and return true; else false (not ours).
   */
  checkAndMaskIntx(): boolean {
    return this.#checkAndSet(true);
  }

  /** pci_check_and_unmask_intx: clears INTx disable unless an interrupt is already pending (then false). */
  checkAndUnmaskIntx(): boolean {
    return this.#checkAndSet(false);
  }

  #checkAndSet(mask: boolean): boolean {
    const dword = this.cfg32(Cfg.COMMAND);
    const pending = ((dword >>> 16) & Status.INTERRUPT) !== 0;
    if (mask !== pending) return false;
    const orig = dword & 0xffff;
    const next = mask ? orig | Command.INTX_DISABLE : orig & ~Command.INTX_DISABLE;
    if (next !== orig) this.fn.configWrite(Cfg.COMMAND, 2, next);
    return true;
  }

  /** Writes COMMAND's INTx disable directly (what a uio user does through sysfs config). */
  setIntxDisable(disabled: boolean): void {
    const cmd = this.cfg16(Cfg.COMMAND);
    this.fn.configWrite(Cfg.COMMAND, 2, disabled ? cmd | Command.INTX_DISABLE : cmd & ~Command.INTX_DISABLE);
  }

  // ---- reset (pcie_flr) --------------------------------------------------------------

  /** Initiates FLR through Device Control (pcie_capability_set_word). */
  flr(): void {
    const exp = this.capability(CapId.EXP)!;
    this.fn.configWrite(exp + 8, 2, this.cfg16(exp + 8) | 0x8000);
  }
}
