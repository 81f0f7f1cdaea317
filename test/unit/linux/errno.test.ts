import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { codeForErrno, errnoError, errnoName, LinuxErrno } from '../../../src/linux/errno.js';

describe('errno → PassthroughError', () => {
  it.each([
    [LinuxErrno.EPERM, 'PT_ERR_PERMISSION'],
    [LinuxErrno.EACCES, 'PT_ERR_PERMISSION'],
    [LinuxErrno.ENOENT, 'PT_ERR_NOT_FOUND'],
    [LinuxErrno.EBUSY, 'PT_ERR_DUPLICATE_OWNER'],
    [LinuxErrno.EEXIST, 'PT_ERR_STILL_OPEN'],
    [LinuxErrno.ENODEV, 'PT_ERR_DEVICE_GONE'],
    [LinuxErrno.ENOMEM, 'PT_ERR_NO_MEMORY'],
    [LinuxErrno.ENOSPC, 'PT_ERR_NO_SPACE'],
    [LinuxErrno.EINVAL, 'PT_ERR_INVALID_ARGUMENT'],
    [LinuxErrno.ENOTTY, 'PT_ERR_NOT_SUPPORTED'],
    [LinuxErrno.EIO, 'PT_ERR_IO'],
    [12345, 'PT_ERR_IO'],
  ])('errno %i → %s', (errno, code) => {
    expect(codeForErrno(errno)).toBe(code);
  });

  it('carries the call, the OS errno and the QEMU-style errno in its context, and the hint in its message', () => {
    const e = errnoError('ioctl(VFIO_IOMMU_MAP_DMA)', LinuxErrno.EACCES, { bdf: '0000:00:10.0' }, 'run as root');
    expect(e).toBeInstanceOf(PassthroughError);
    expect(e.code).toBe('PT_ERR_PERMISSION');
    expect(e.message).toBe('ioctl(VFIO_IOMMU_MAP_DMA) failed for 0000:00:10.0: EACCES; run as root');
    expect(e.context).toMatchObject({ bdf: '0000:00:10.0', syscall: 'ioctl(VFIO_IOMMU_MAP_DMA)', osErrno: 13, osErrnoName: 'EACCES', errno: 'EPERM' });
    expect(errnoName(999)).toBe('errno 999');
  });
});
