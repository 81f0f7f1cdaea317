/**
 * A realistic replay sample: the first 256 config bytes of an NVMe SSD
 * controller (Samsung 144d:a808, class 010802) as `lspci -xxx` prints them:
 * PM at 0x40, MSI (64-bit, 32 messages) at 0x50, PCIe v2 endpoint with FLR
 * at 0x70, MSI-X (33 entries, table at BAR0+0x3000, PBA at BAR0+0x2000) at
 * 0xb0; BAR0 64-bit non-prefetchable, 16 KiB. Written for the sim, checked to
 * decode under `lspci -F`.
 */

/** lspci -xxx text of the sample NVMe controller. */
export const NVME_SAMPLE_DUMP = `0000:01:00.0 Non-Volatile memory controller: Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983
00: 4d 14 08 a8 06 04 10 00 00 02 08 01 10 00 00 00
10: 04 00 20 a1 00 00 00 00 00 00 00 00 00 00 00 00
20: 00 00 00 00 00 00 00 00 00 00 00 00 4d 14 01 a8
30: 00 00 00 00 40 00 00 00 00 00 00 00 ff 01 00 00
40: 01 50 03 f8 08 00 00 00 00 00 00 00 00 00 00 00
50: 05 70 8a 00 00 00 00 00 00 00 00 00 00 00 00 00
60: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
70: 10 b0 02 00 c1 8f 00 10 57 59 00 00 43 78 47 00
80: 40 00 43 10 00 00 00 00 00 00 00 00 00 00 00 00
90: 00 00 00 00 1f 00 70 00 00 04 00 00 0e 00 00 00
a0: 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
b0: 11 00 20 00 00 30 00 00 00 20 00 00 00 00 00 00
c0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
d0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
e0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
f0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
`;

/** BAR sizes of the sample (BAR0/1: one 64-bit 16 KiB BAR). */
export const NVME_SAMPLE_BAR_SIZES: readonly number[] = [16384, 0, 0, 0, 0, 0];
