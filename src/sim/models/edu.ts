/**
 * QEMU's educational PCI device (hw/misc/edu.c, docs/specs/edu.rst),
 * register for register: 1234:11e8 rev 0x10, class 00ff, BAR0 1 MiB 32-bit
 * non-prefetchable memory answered entirely by the MMIO handler, MSI (one
 * vector, 64-bit, at 0x40) with INTx pin A fallback.
 *
 * | Off  | Register | Notes |
 * |------|----------|-------|
 * | 0x00 | id 0x010000ed | RO |
 * | 0x04 | liveness | reads ~value written |
 * | 0x08 | factorial | write starts (ignored while computing) |
 * | 0x20 | status | bit0 computing (RO), bit7 raise IRQ 0x1 when done |
 * | 0x24 | irq status | RO |
 * | 0x60 | irq raise | ORs into irq status, raises |
 * | 0x64 | irq ack | clears bits; INTx lowers at 0 |
 * | 0x80/0x88/0x90 | DMA src/dst/count | ignored while a DMA runs |
 * | 0x98 | DMA cmd | bit0 start, bit1 dir (0 RAM→edu, 1 edu→RAM), bit2 IRQ 0x100 |
 *
 * Widths: below 0x80 only 4-byte accesses (else reads all ones, writes
 * ignored); from 0x80 4 or 8. Unknown offsets read all ones; the DMA buffer
 * at 0x40000 is not readable through MMIO (edu's handler has no case for it).
 *
 * Differences from QEMU (see DEVIATIONS.md): a DMA whose device-side range
 * falls outside [0x40000, 0x41000) is counted in {@link EduModel.errorCount}
 * and does nothing (QEMU logs a guest error and copies anyway, overflowing
 * its buffer; old QEMU aborted with hw_error); the command's run bit is
 * cleared and no interrupt is raised. Like QEMU's edu (no reset handler),
 * device registers survive FLR/hot reset; only config space is reset.
 */
import { Cfg, CapId, Msi } from '../../pci/config-space.js';
import type { AccessWidth } from '../../types.js';
import type { SimConfigSpace } from '../config-space.js';
import type { DeviceModel, ModelHost, SimBarSpec } from './types.js';

/** Options of the edu model (machine JSON). */
export interface EduOptions {
  /** edu's `dma_mask` property as a bit count (default 28: 256 MiB). */
  dmaMaskBits?: number;
  /**
   * false: no MSI capability, so the function has its interrupt pin only and
   * raises INTx (default true: MSI at 0x40, as QEMU's edu).
   */
  msi?: boolean;
}

const FACT_IRQ = 0x1;
const DMA_IRQ = 0x100;
const DMA_START = 0x40000n;
const DMA_SIZE = 4096n;
const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const DMA_RUN = 0x1n;
const DMA_DIR_TO_PCI = 0x2n;
const DMA_IRQ_BIT = 0x4n;
const MIB = 1024 * 1024;

/** The edu device model. Registers are public for introspection. */
export class EduModel implements DeviceModel {
  readonly kind = 'edu';
  readonly flr = false;
  readonly bars: readonly SimBarSpec[] = [{ index: 0, sizeBytes: MIB, type: 0, traps: [{ offsetBytes: 0, lengthBytes: MIB }] }];
  addr4 = 0;
  fact = 0;
  status = 0;
  irqStatus = 0;
  readonly dma = { src: 0n, dst: 0n, cnt: 0n, cmd: 0n };
  /** The 4 KiB DMA buffer at device address 0x40000. */
  readonly dmaBuf = new Uint8Array(Number(DMA_SIZE));
  /** DMAs refused because the device-side range was out of bounds. */
  errorCount = 0;
  readonly dmaMask: bigint;
  readonly #msi: boolean;
  #host!: ModelHost;

  constructor(options: EduOptions = {}) {
    this.dmaMask = (1n << BigInt(options.dmaMaskBits ?? 28)) - 1n;
    this.#msi = options.msi ?? true;
  }

  buildConfig(cfg: SimConfigSpace, barAddress: (index: number) => bigint): void {
    cfg.header({
      vendorId: 0x1234,
      deviceId: 0x11e8,
      revision: 0x10,
      classCode: 0x00ff00,
      subsystemVendorId: 0x1af4,
      subsystemId: 0x1100,
      interruptPin: 1,
    });
    cfg.bar(this.bars[0]!, barAddress(0));
    cfg.set(Cfg.INTERRUPT_LINE, 1, 0x0b);
    if (!this.#msi) return;
    // msi_init(pdev, 0, 1, true, false): one vector, 64-bit, no per-vector mask, first free offset 0x40.
    const msi = cfg.capability(CapId.MSI, 14, 0x40);
    cfg.set(msi + Msi.FLAGS, 2, Msi.FLAGS_64BIT);
    cfg.setWmask(msi + Msi.FLAGS, 2, Msi.FLAGS_QSIZE | Msi.FLAGS_ENABLE);
    cfg.setWmask(msi + Msi.ADDRESS_LO, 4, 0xffff_fffc);
    cfg.setWmask(msi + 8, 4, 0xffff_ffff);
    cfg.setWmask(msi + 0x0c, 2, 0xffff);
  }

  attach(host: ModelHost): void {
    this.#host = host;
  }

  mmioRead(_bar: number, addr: number, size: AccessWidth): bigint {
    const mask = size === 8 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(8 * size)) - 1n;
    // edu's MemoryRegionOps declare .valid.min_access_size = 4: QEMU's memory core
    // rejects 1- and 2-byte accesses before edu.c sees them and the read gives 0
    // (unassigned_mem_read). Seen on the real device in the VM tier; the model follows it.
    if (size < 4) return 0n;
    // edu.c itself answers all ones for an 8-byte read below 0x80.
    if (addr < 0x80 && size !== 4) return mask;
    let val: bigint;
    switch (addr) {
      case 0x00:
        val = 0x010000edn;
        break;
      case 0x04:
        val = BigInt(this.addr4);
        break;
      case 0x08:
        val = BigInt(this.fact);
        break;
      case 0x20:
        val = BigInt(this.status);
        break;
      case 0x24:
        val = BigInt(this.irqStatus);
        break;
      case 0x80:
        val = this.dma.src;
        break;
      case 0x88:
        val = this.dma.dst;
        break;
      case 0x90:
        val = this.dma.cnt;
        break;
      case 0x98:
        val = this.dma.cmd;
        break;
      default:
        val = 0xffff_ffff_ffff_ffffn;
    }
    return val & mask;
  }

  mmioWrite(_bar: number, addr: number, size: AccessWidth, value: bigint): void {
    if (size < 4) return; // rejected by the memory core (.valid.min_access_size = 4)
    if (addr < 0x80 && size !== 4) return;
    const val = BigInt.asUintN(8 * size, value);
    const u32 = Number(val & 0xffff_ffffn);
    switch (addr) {
      case 0x04:
        this.addr4 = ~u32 >>> 0;
        break;
      case 0x08:
        if ((this.status & STATUS_COMPUTING) !== 0) break;
        this.fact = u32;
        this.status |= STATUS_COMPUTING;
        this.#host.schedule(this.#host.timing.factorialDelayMs, () => this.#factorialDone());
        break;
      case 0x20:
        if ((u32 & STATUS_IRQFACT) !== 0) this.status |= STATUS_IRQFACT;
        else this.status &= ~STATUS_IRQFACT;
        break;
      case 0x60:
        this.#raise(u32);
        break;
      case 0x64:
        this.#lower(u32);
        break;
      case 0x80:
        if ((this.dma.cmd & DMA_RUN) === 0n) this.dma.src = val;
        break;
      case 0x88:
        if ((this.dma.cmd & DMA_RUN) === 0n) this.dma.dst = val;
        break;
      case 0x90:
        if ((this.dma.cmd & DMA_RUN) === 0n) this.dma.cnt = val;
        break;
      case 0x98:
        if ((val & DMA_RUN) === 0n || (this.dma.cmd & DMA_RUN) !== 0n) break;
        this.dma.cmd = val;
        this.#host.schedule(this.#host.timing.dmaDelayMs, () => this.#dmaDone());
        break;
    }
  }

  /** QEMU's edu has no reset handler: its registers and pending work survive a device reset. */
  reset(): void {}

  #factorialDone(): void {
    let ret = 1;
    for (let v = this.fact; v > 0; v--) ret = Math.imul(ret, v) >>> 0;
    this.fact = ret;
    this.status &= ~STATUS_COMPUTING;
    if ((this.status & STATUS_IRQFACT) !== 0) this.#raise(FACT_IRQ);
  }

  #dmaDone(): void {
    const d = this.dma;
    if ((d.cmd & DMA_RUN) === 0n) return;
    const toPci = (d.cmd & DMA_DIR_TO_PCI) !== 0n;
    const devAddr = toPci ? d.src : d.dst;
    const end = devAddr + d.cnt;
    const inRange = end >= devAddr && devAddr >= DMA_START && end <= DMA_START + DMA_SIZE && end < 1n << 64n;
    if (!inRange) {
      this.errorCount++;
      d.cmd &= ~DMA_RUN;
      return;
    }
    const off = Number(devAddr - DMA_START);
    const cnt = Number(d.cnt);
    if (toPci) {
      this.#host.dmaWrite(d.dst & this.dmaMask, this.dmaBuf.slice(off, off + cnt));
    } else {
      const data = this.#host.dmaRead(d.src & this.dmaMask, cnt);
      if (data !== undefined) this.dmaBuf.set(data, off);
    }
    d.cmd &= ~DMA_RUN;
    if ((d.cmd & DMA_IRQ_BIT) !== 0n) this.#raise(DMA_IRQ);
  }

  #raise(val: number): void {
    this.irqStatus = (this.irqStatus | val) >>> 0;
    if (this.irqStatus === 0) return;
    if (this.#host.msiEnabled()) this.#host.signal(0);
    else this.#host.setIntx(true);
  }

  #lower(val: number): void {
    this.irqStatus = (this.irqStatus & ~val) >>> 0;
    if (this.irqStatus === 0 && !this.#host.msiEnabled()) this.#host.setIntx(false);
  }
}
