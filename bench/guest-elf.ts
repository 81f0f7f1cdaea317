/**
 * A tiny static i386 Linux program, assembled here byte by byte, that maps one
 * page of /dev/mem and reads one 32-bit word of it `count` times: the guest
 * side of the guest MMIO benchmark (the guest has no compiler, and busybox's
 * devmem starts a process per access). Sent to the guest over the serial
 * console with printf.
 *
 *   open("/dev/mem", O_RDONLY | O_SYNC); mmap2(0, 4096, PROT_READ, MAP_SHARED, fd, pageOffset);
 *   ecx = count; do { ebx = [page + wordOffset]; } while (--ecx); exit(0)
 *
 * A failed mmap leaves an error code as the pointer, so the first read
 * faults and the shell sees status 139, never a silent zero.
 */
const BASE = 0x08048000;

/** The program for one target: `address` (guest-physical, 4-byte aligned), `count` ≥ 1 reads. */
export function mmioReadLoopElf(address: number, count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 1 || count > 0xffffffff) throw new RangeError('count must be 1–2^32-1');
  if (address % 4 !== 0 || address < 0 || address > 0xfffffffc) throw new RangeError('address must be a 4-byte aligned 32-bit address');
  const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const codeAt = 52 + 32;
  const code = (pathAddr: number): number[] => [
    0xb8, ...u32(5), // mov eax, 5 (open)
    0xbb, ...u32(pathAddr), // mov ebx, path
    0xb9, ...u32(0x101000), // mov ecx, O_RDONLY|O_SYNC
    0xcd, 0x80, // int 0x80
    0x89, 0xc7, // mov edi, eax (fd)
    0xb8, ...u32(192), // mov eax, 192 (mmap2)
    0x31, 0xdb, // xor ebx, ebx
    0xb9, ...u32(4096), // mov ecx, 4096
    0xba, ...u32(1), // mov edx, PROT_READ
    0xbe, ...u32(1), // mov esi, MAP_SHARED
    0xbd, ...u32(Math.floor(address / 4096)), // mov ebp, page offset
    0xcd, 0x80, // int 0x80
    0x89, 0xc6, // mov esi, eax (page)
    0xb9, ...u32(count), // mov ecx, count
    0x8b, 0x9e, ...u32(address % 4096), // loop: mov ebx, [esi + wordOffset]
    0x49, // dec ecx
    0x75, 0xf7, // jnz loop (back 9 bytes)
    0xb8, ...u32(1), // mov eax, 1 (exit)
    0x31, 0xdb, // xor ebx, ebx
    0xcd, 0x80, // int 0x80
  ];
  const codeLength = code(0).length;
  const path = [...Buffer.from('/dev/mem\0', 'latin1')];
  const body = [...code(BASE + codeAt + codeLength), ...path];
  const total = codeAt + body.length;
  const header = [
    0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ELF, 32-bit, little endian
    2, 0, 3, 0, ...u32(1), // ET_EXEC, EM_386, version
    ...u32(BASE + codeAt), ...u32(52), ...u32(0), ...u32(0), // entry, phoff, shoff, flags
    52, 0, 32, 0, 1, 0, 0, 0, 0, 0, 0, 0, // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
  ];
  const phdr = [...u32(1), ...u32(0), ...u32(BASE), ...u32(BASE), ...u32(total), ...u32(total), ...u32(5), ...u32(0x1000)];
  return Uint8Array.from([...header, ...phdr, ...body]);
}

/** A shell command that writes `bytes` to `path` (printf octal escapes) and makes it executable. */
export function shellWriteFile(path: string, bytes: Uint8Array): string {
  const escaped = Array.from(bytes, (b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
  return `printf '${escaped}' > ${path} && chmod +x ${path}`;
}
