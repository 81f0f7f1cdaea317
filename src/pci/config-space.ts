/**
 * PCI configuration-space offsets, bits and capability ids (PCI Local Bus
 * 3.0 / PCIe base spec). Plain tables shared by the device models, the seed
 * logic and the CLI; no logic beyond tiny readers.
 */

/** Size of PCIe extended config space in bytes (what the dext exposes). */
export const PCIE_CONFIG_BYTES = 4096;

/** Type-0 header offsets. */
export const Cfg = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_DEVICE: 0x0a,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  BAR5: 0x24,
  /** First byte past BAR5. */
  BAR_END: 0x28,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITY_LIST: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GNT: 0x3e,
  MAX_LAT: 0x3f,
} as const;

/** COMMAND register bits. */
export const Command = {
  IO: 0x1,
  MEMORY: 0x2,
  MASTER: 0x4,
  SERR: 0x100,
  INTX_DISABLE: 0x400,
} as const;

/** STATUS register bits. */
export const Status = {
  INTERRUPT: 0x8,
  CAP_LIST: 0x10,
} as const;

/** BAR low bits. */
export const BarBits = {
  IO_SPACE: 0x1,
  MEM_TYPE_MASK: 0x6,
  MEM_TYPE_64: 0x4,
  MEM_PREFETCH: 0x8,
  MEM_MASK: 0xf,
  IO_MASK: 0x3,
} as const;

/** Capability ids. */
export const CapId = {
  PM: 0x01,
  MSI: 0x05,
  VNDR: 0x09,
  EXP: 0x10,
  MSIX: 0x11,
} as const;

/** MSI capability layout (offsets from the capability start). */
export const Msi = {
  FLAGS: 0x02,
  FLAGS_ENABLE: 0x0001,
  /** Multiple Message Capable, bits 3:1. */
  FLAGS_QMASK: 0x000e,
  /** Multiple Message Enable, bits 6:4. */
  FLAGS_QSIZE: 0x0070,
  FLAGS_64BIT: 0x0080,
  FLAGS_MASKBIT: 0x0100,
  ADDRESS_LO: 0x04,
} as const;

/** MSI-X capability layout (offsets from the capability start). */
export const Msix = {
  FLAGS: 0x02,
  /** Table size minus one, bits 10:0. */
  FLAGS_QSIZE: 0x07ff,
  FLAGS_MASKALL: 0x4000,
  FLAGS_ENABLE: 0x8000,
  TABLE: 0x04,
  PBA: 0x08,
  /** BAR indicator in TABLE/PBA, bits 2:0. */
  BIR_MASK: 0x7,
  /** Bytes per MSI-X table entry. */
  ENTRY_BYTES: 16,
} as const;
