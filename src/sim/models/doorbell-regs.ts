/**
 * The small register file shared by the `msix` and `dual` test functions
 * (both built on DoorbellModel, doorbell-model.ts):
 *
 * | Off   | Register | Access |
 * |-------|----------|--------|
 * | 0x00  | ID (device id << 16 \| function/version) | RO |
 * | 0x04  | VECTORS: interrupt vectors the function has | RO |
 * | 0x08  | DOORBELL: write v → raise vector v (v ≥ VECTORS is counted in ERRORS) | WO, reads 0 |
 * | 0x0c  | RAISE_COUNT: doorbell raises so far | RO |
 * | 0x10  | LAST_VECTOR | RO |
 * | 0x14  | ERRORS: refused doorbells | RO |
 * | scratch | SCRATCH: plain read/write storage, any width | RW |
 *
 * Any access width 1/2/4/8 works (little-endian); unknown offsets read 0 and
 * ignore writes. Reset clears everything but ID and VECTORS.
 */
import type { AccessWidth } from '../../types.js';

/** Register offsets of the doorbell register file. */
export const DoorbellReg = {
  ID: 0x00,
  VECTORS: 0x04,
  DOORBELL: 0x08,
  RAISE_COUNT: 0x0c,
  LAST_VECTOR: 0x10,
  ERRORS: 0x14,
} as const;

/** The doorbell register file of one function (the table above); the msix and dual models' BAR0 registers. */
export class DoorbellRegisters {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #scratchOffset: number;
  readonly #scratchBytes: number;
  readonly #raise: (vector: number) => void;

  constructor(init: { id: number; vectors: number; scratchOffset: number; scratchBytes: number; raise: (v: number) => void }) {
    this.#bytes = new Uint8Array(init.scratchOffset + init.scratchBytes);
    this.#view = new DataView(this.#bytes.buffer);
    this.#scratchOffset = init.scratchOffset;
    this.#scratchBytes = init.scratchBytes;
    this.#raise = init.raise;
    this.#view.setUint32(DoorbellReg.ID, init.id >>> 0, true);
    this.#view.setUint32(DoorbellReg.VECTORS, init.vectors, true);
  }

  /** Size of the register file in bytes. */
  get lengthBytes(): number {
    return this.#bytes.length;
  }

  read(off: number, width: AccessWidth): bigint {
    // DOORBELL bytes are never stored, so they read 0.
    if (off + width > this.#bytes.length) return 0n;
    let v = 0n;
    for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.#bytes[off + i]!);
    return v;
  }

  write(off: number, width: AccessWidth, value: bigint): void {
    if (off === DoorbellReg.DOORBELL) {
      const vector = Number(BigInt.asUintN(32, value));
      if (vector >= this.#view.getUint32(DoorbellReg.VECTORS, true)) {
        this.#bump(DoorbellReg.ERRORS);
        return;
      }
      this.#bump(DoorbellReg.RAISE_COUNT);
      this.#view.setUint32(DoorbellReg.LAST_VECTOR, vector, true);
      this.#raise(vector);
      return;
    }
    if (off < this.#scratchOffset || off + width > this.#scratchOffset + this.#scratchBytes) return;
    for (let i = 0; i < width; i++) this.#bytes[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }

  reset(): void {
    const id = this.#view.getUint32(DoorbellReg.ID, true);
    const vectors = this.#view.getUint32(DoorbellReg.VECTORS, true);
    this.#bytes.fill(0);
    this.#view.setUint32(DoorbellReg.ID, id, true);
    this.#view.setUint32(DoorbellReg.VECTORS, vectors, true);
  }

  #bump(off: number): void {
    this.#view.setUint32(off, (this.#view.getUint32(off, true) + 1) >>> 0, true);
  }
}
