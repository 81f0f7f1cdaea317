import { describe, expectTypeOf, it } from 'vitest';
import {
  createSupervisor,
  PassthroughError,
  type BarWindow,
  type DeviceHandle,
  type ErrorCode,
  type IrqLine,
  type Supervisor,
} from '../../src/index.js';
import type { DeviceIoOps, InterruptSource } from '../../src/vfio/device-io-ops.js';
import type { IommuOps } from '../../src/vfio/iommu-ops.js';
import type { DextClient } from '../../src/dext/contract.js';

describe('public API types', () => {
  it('ops tables have no optional members (a missing op is a compile error, not a runtime crash)', () => {
    expectTypeOf<Required<DeviceIoOps>>().toEqualTypeOf<DeviceIoOps>();
    expectTypeOf<Required<IommuOps>>().toEqualTypeOf<IommuOps>();
    expectTypeOf<Required<DextClient>>().toEqualTypeOf<DextClient>();
    expectTypeOf<InterruptSource['nextSync']>().toEqualTypeOf<((timeoutMs: number) => number) | undefined>();
  });

  it('createSupervisor resolves to a Supervisor whose attach gives a DeviceHandle', () => {
    expectTypeOf(createSupervisor).returns.resolves.toEqualTypeOf<Supervisor>();
    expectTypeOf<Supervisor['attach']>().returns.resolves.toEqualTypeOf<DeviceHandle>();
  });

  it('the fast path is synchronous and width-typed', () => {
    expectTypeOf<DeviceHandle['bar']>().returns.toEqualTypeOf<BarWindow | undefined>();
    expectTypeOf<BarWindow['read32']>().returns.toEqualTypeOf<number>();
    expectTypeOf<BarWindow['read64']>().returns.toEqualTypeOf<bigint>();
    expectTypeOf<BarWindow['write64']>().parameter(1).toEqualTypeOf<bigint>();
    expectTypeOf<IrqLine['waitSync']>().returns.toEqualTypeOf<number>();
    expectTypeOf<IrqLine['waitAsync']>().returns.toEqualTypeOf<Promise<number>>();
  });

  it('errors carry a closed code union', () => {
    expectTypeOf<PassthroughError['code']>().toEqualTypeOf<ErrorCode>();
    // @ts-expect-error an unknown code does not compile
    new PassthroughError('PT_ERR_NO_SUCH_CODE', 'x');
  });
});
