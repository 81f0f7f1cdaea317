/**
 * rules 13–14 and spec §6: the apple-dma-pci companion's registers, command
 * page, entry layouts, every doorbell status path, its connection (shared or
 * own) and the auto-create registry.
 */
import { describe, expect, it } from 'vitest';
import { PassthroughError } from '../../../src/errors.js';
import { ConnectionTable } from '../../../src/apple/connection-table.js';
import { IOReturn, type DextClient, type DextDriver } from '../../../src/dext/contract.js';
import {
  DmaCmd,
  DmaCompanion,
  DmaCompanionRegistry,
  DmaReg,
  DmaStatus,
  type DmaCompanionOptions,
} from '../../../src/apple/dma-companion.js';
import { SabGuestMemory } from '../../../src/apple/guest-memory.js';
import { dextError } from '../../../src/dext/kern-return.js';
import { toBdf, type HostVa } from '../../../src/types.js';
import { createFakeClient, type FakeClient } from './fake-dext.js';

const HOST = toBdf('0000:00:10.0');
const HOST_PARTS = { bus: 0, device: 0x10, function: 0 };
const RAM_GPA = 0x4000_0000n;
const RAM_HVA = 0x7_0000_0000n as HostVa;
const RAM2_GPA = RAM_GPA + 0x10000n; // right after slot 1 in GPA, far away in the host
const RAM2_HVA = 0x9_0000_0000n as HostVa;

function guestRam() {
  const sab = new SharedArrayBuffer(0x20000);
  const mem = new SabGuestMemory([
    { gpa: RAM_GPA, buffer: sab, offsetBytes: 0, lengthBytes: 0x10000, hostVa: RAM_HVA },
    { gpa: RAM2_GPA, buffer: sab, offsetBytes: 0x10000, lengthBytes: 0x10000, hostVa: RAM2_HVA },
  ]);
  const view = new DataView(sab);
  const at = (gpa: bigint) => Number(gpa - RAM_GPA);
  return { mem, view, at };
}

function driverOf(client: DextClient | undefined): DextDriver & { connects: number } {
  const d = {
    connects: 0,
    listServices: () => [],
    connect: () => {
      d.connects++;
      if (client === undefined) throw new PassthroughError('PT_ERR_CONNECT_FAILED', 'no such function', { kernReturn: IOReturn.NotFound });
      return client;
    },
  };
  return d;
}

function setup(opts: Partial<DmaCompanionOptions> & { client?: FakeClient } = {}) {
  const ram = guestRam();
  const client = opts.client ?? createFakeClient(HOST);
  const table = opts.table ?? new ConnectionTable();
  const owner = table.peek(HOST) === undefined ? table.publish(HOST, client) : undefined;
  const companion = DmaCompanion.realize({
    managedBdf: (0 << 8) | (0x1e << 3),
    host: HOST_PARTS,
    driver: driverOf(client),
    table,
    guestMemory: ram.mem,
    ...opts,
  });
  const CMD = RAM_GPA + 0x100n;
  const REQ = RAM_GPA + 0x1000n;
  const RESP = RAM_GPA + 0x2000n;
  const writeCmd = (type: number, count: number, req = REQ, resp = RESP) => {
    const o = ram.at(CMD);
    ram.view.setUint32(o, type, true);
    ram.view.setUint32(o + 4, count, true);
    ram.view.setUint32(o + 8, 0xdead, true);
    ram.view.setBigUint64(o + 0x10, req, true);
    ram.view.setBigUint64(o + 0x18, resp, true);
  };
  const ring = (cmd = CMD) => {
    companion.mmioWrite(DmaReg.CMD_GPA_LO, 4, Number(cmd & 0xffffffffn));
    companion.mmioWrite(DmaReg.CMD_GPA_HI, 4, Number(cmd >> 32n));
    companion.mmioWrite(DmaReg.DOORBELL, 4, 1);
    return companion.mmioRead(DmaReg.STATUS);
  };
  const pageStatus = () => ram.view.getUint32(ram.at(CMD) + 8, true);
  return { ...ram, client, table, owner, companion, CMD, REQ, RESP, writeCmd, ring, pageStatus };
}

const thrown = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as PassthroughError;
  }
  throw new Error('did not throw');
};

describe('apple-dma-pci registers (spec §6)', () => {
  it('VERSION 2, MANAGED_BDF, MAX_ENTRIES 4096, STATUS; other offsets read 0; 4-byte accesses only', () => {
    const { companion } = setup();
    expect(companion.mmioRead(DmaReg.VERSION)).toBe(2);
    expect(companion.mmioRead(DmaReg.MANAGED_BDF)).toBe(0x1e << 3);
    expect(companion.mmioRead(DmaReg.MAX_ENTRIES)).toBe(4096);
    expect(companion.mmioRead(DmaReg.STATUS)).toBe(DmaStatus.OK);
    expect(companion.mmioRead(0x1c)).toBe(0);
    expect(companion.mmioRead(DmaReg.CMD_GPA_LO)).toBe(0);
    expect(thrown(() => companion.mmioRead(0, 2)).code).toBe('PT_ERR_BAD_WIDTH');
  });
});

describe('apple-dma-pci doorbell (spec §6)', () => {
  it('MAP batch: key = GPA, clientVA = HVA; response id, dma_addr, dma_len, status OK', () => {
    const s = setup();
    const gpas = [RAM_GPA + 0x4000n, RAM2_GPA + 0x100n];
    gpas.forEach((gpa, i) => {
      s.view.setBigUint64(s.at(s.REQ) + i * 16, gpa, true);
      s.view.setUint32(s.at(s.REQ) + i * 16 + 8, 0x1000, true);
    });
    s.writeCmd(DmaCmd.MAP, 2);
    expect(s.ring()).toBe(DmaStatus.OK);
    expect(s.pageStatus()).toBe(DmaStatus.OK);
    const regs = s.client.calls.filter((c) => c.method === 'registerDmaRegion').map((c) => c.args);
    expect(regs).toEqual([
      [gpas[0], RAM_HVA + 0x4000n, 0x1000n],
      [gpas[1], RAM2_HVA + 0x100n, 0x1000n],
    ]);
    gpas.forEach((gpa, i) => {
      const r = s.at(s.RESP) + i * 24;
      expect(s.view.getBigUint64(r, true)).toBe(gpa);
      expect(s.view.getBigUint64(r + 8, true)).toBe(0x8000_0000n + gpa);
      expect(s.view.getUint32(r + 16, true)).toBe(0x1000);
      expect(s.view.getUint32(r + 20, true)).toBe(DmaStatus.OK);
    });
  });

  it('a failed MAP entry is IOERR (its other fields untouched) and so is the batch; the rest map', () => {
    const client = createFakeClient(HOST, {
      registerDmaRegion: (key) => {
        if (key === RAM_GPA + 0x8000n) throw dextError(IOReturn.StillOpen, 5, { bdf: HOST });
        return { count: 1, busAddr: 0xd000_0000n, busLen: 0x1000n };
      },
    });
    const s = setup({ client });
    const reqs = [RAM_GPA + 0x4000n, RAM_GPA + 0x8000n, 0x1_0000_0000n /* not RAM */];
    reqs.forEach((gpa, i) => {
      s.view.setBigUint64(s.at(s.REQ) + i * 16, gpa, true);
      s.view.setUint32(s.at(s.REQ) + i * 16 + 8, 0x1000, true);
    });
    for (let i = 0; i < 3 * 24; i += 4) s.view.setUint32(s.at(s.RESP) + i, 0xa5a5a5a5, true);
    s.writeCmd(DmaCmd.MAP, 3);
    expect(s.ring()).toBe(DmaStatus.IOERR);
    expect(s.pageStatus()).toBe(DmaStatus.IOERR);
    expect(s.view.getUint32(s.at(s.RESP) + 20, true)).toBe(DmaStatus.OK);
    for (const i of [1, 2]) {
      const r = s.at(s.RESP) + i * 24;
      expect(s.view.getUint32(r + 20, true)).toBe(DmaStatus.IOERR);
      expect(s.view.getBigUint64(r, true)).toBe(0xa5a5a5a5a5a5a5a5n);
      expect(s.view.getBigUint64(r + 8, true)).toBe(0xa5a5a5a5a5a5a5a5n);
      expect(s.view.getUint32(r + 16, true)).toBe(0xa5a5a5a5);
    }
  });

  it('UNMAP batch: OK entries and an IOERR entry for an unknown id', () => {
    const client = createFakeClient(HOST, {
      unregisterDmaRegion: (key) => {
        if (key === 7n) throw dextError(IOReturn.NotFound, 6, { bdf: HOST });
      },
    });
    const s = setup({ client });
    [RAM_GPA, 7n].forEach((id, i) => s.view.setBigUint64(s.at(s.REQ) + i * 16, id, true));
    for (let i = 0; i < 32; i += 4) s.view.setUint32(s.at(s.RESP) + i, 0xa5a5a5a5, true);
    s.writeCmd(DmaCmd.UNMAP, 2);
    expect(s.ring()).toBe(DmaStatus.IOERR);
    const r = s.at(s.RESP);
    expect(s.view.getBigUint64(r, true)).toBe(RAM_GPA);
    expect(s.view.getUint32(r + 8, true)).toBe(DmaStatus.OK);
    expect(s.view.getUint32(r + 12, true)).toBe(0);
    expect(s.view.getBigUint64(r + 16, true)).toBe(0xa5a5a5a5a5a5a5a5n);
    expect(s.view.getUint32(r + 24, true)).toBe(DmaStatus.IOERR);
  });

  it('cmd_gpa 0 or an unreadable command page: STATUS INVAL, page not updated', () => {
    const s = setup();
    s.writeCmd(DmaCmd.MAP, 1);
    expect(s.ring(0n)).toBe(DmaStatus.INVAL);
    expect(s.ring(0x2_0000_0000n)).toBe(DmaStatus.INVAL);
    expect(s.pageStatus()).toBe(0xdead);
  });

  it.each([
    ['count 0', DmaCmd.MAP, 0, undefined, undefined],
    ['count > MAX_ENTRIES', DmaCmd.MAP, 4097, undefined, undefined],
    ['req_gpa 0', DmaCmd.MAP, 1, 0n, undefined],
    ['resp_gpa 0', DmaCmd.UNMAP, 1, undefined, 0n],
    ['unknown type', 9, 1, undefined, undefined],
    ['req array not host-contiguous', DmaCmd.MAP, 2, RAM2_GPA - 16n, undefined],
    ['resp array not host-contiguous', DmaCmd.MAP, 2, undefined, RAM2_GPA - 24n],
  ])('%s → INVAL in STATUS and in the page, nothing mapped', (_name, type, count, req, resp) => {
    const s = setup();
    s.writeCmd(type, count, req ?? s.REQ, resp ?? s.RESP);
    expect(s.ring()).toBe(DmaStatus.INVAL);
    expect(s.pageStatus()).toBe(DmaStatus.INVAL);
    expect(s.client.calls.filter((c) => c.method === 'registerDmaRegion')).toEqual([]);
  });

  it('no connection → identity map', () => {
    const s = setup();
    s.companion.disconnect();
    expect(s.companion.connection).toBe('none');
    s.view.setBigUint64(s.at(s.REQ), RAM_GPA + 0x4000n, true);
    s.view.setUint32(s.at(s.REQ) + 8, 0x2000, true);
    s.writeCmd(DmaCmd.MAP, 1);
    expect(s.ring()).toBe(DmaStatus.OK);
    expect(s.view.getBigUint64(s.at(s.RESP) + 8, true)).toBe(RAM_GPA + 0x4000n);
    expect(s.view.getUint32(s.at(s.RESP) + 16, true)).toBe(0x2000);
    expect(s.client.calls.filter((c) => c.method === 'registerDmaRegion')).toEqual([]);
  });
});

describe('apple-dma-pci connection (rule 13)', () => {
  it('rule 13: reuses the published connection with an explicit reference; disconnect releases it', () => {
    const s = setup();
    expect(s.companion.connection).toBe('shared');
    expect(s.table.refs(HOST)).toBe(2);
    s.companion.disconnect();
    s.companion.disconnect();
    expect(s.table.refs(HOST)).toBe(1);
    expect(s.client.closed).toBe(0);
  });

  it('rule 13: without a published connection it connects and claims its own (secondary) client', () => {
    const client = createFakeClient(HOST);
    const table = new ConnectionTable();
    const driver = driverOf(client);
    const c = DmaCompanion.realize({ managedBdf: 0xf0, host: HOST_PARTS, driver, table, guestMemory: new SabGuestMemory() });
    expect(c.connection).toBe('own');
    expect(driver.connects).toBe(1);
    expect(client.calls.map((x) => x.method)).toContain('claim');
    expect(table.size).toBe(0);
    c.disconnect();
    expect(client.closed).toBe(1);
  });

  it('rule 13: connect failure → "apple-dma: could not connect…" PT_ERR_CONNECT_FAILED', () => {
    const e = thrown(() =>
      DmaCompanion.realize({ managedBdf: 0, host: HOST_PARTS, driver: driverOf(undefined), table: new ConnectionTable(), guestMemory: new SabGuestMemory() }),
    );
    expect(e.code).toBe('PT_ERR_CONNECT_FAILED');
    expect(e.message).toBe('apple-dma: could not connect to dext for host PCI 00:10.0');
  });

  it('rule 13: claim failure → "apple-dma: failed to claim … (kr=0x%x)", client closed', () => {
    const client = createFakeClient(HOST, {
      claim: () => {
        throw dextError(IOReturn.NotPermitted, 1, { bdf: HOST });
      },
    });
    const e = thrown(() =>
      DmaCompanion.realize({ managedBdf: 0, host: HOST_PARTS, driver: driverOf(client), table: new ConnectionTable(), guestMemory: new SabGuestMemory() }),
    );
    expect(e.code).toBe('PT_ERR_CLAIM_FAILED');
    expect(e.message).toBe('apple-dma: failed to claim dext-backed PCI device 00:10.0 (kr=0xe00002e2)');
    expect(client.closed).toBe(1);
  });

  it('rule 13: host b/d/f are required', () => {
    const e = thrown(() =>
      DmaCompanion.realize({ managedBdf: 0, host: { bus: 0, device: 0x10 }, driver: driverOf(undefined), table: new ConnectionTable(), guestMemory: new SabGuestMemory() }),
    );
    expect(e.code).toBe('PT_ERR_INVALID_ARGUMENT');
    expect(e.message).toBe('apple-dma: requires x-apple-host-bus, x-apple-host-device, and x-apple-host-function');
  });
});

describe('companion registry (rule 14)', () => {
  const opts = (table: ConnectionTable, client: FakeClient, managedBdf = 0xf0): DmaCompanionOptions => ({
    managedBdf,
    host: HOST_PARTS,
    driver: driverOf(client),
    table,
    guestMemory: new SabGuestMemory(),
  });

  it('rule 14: reuses a companion with the same managed-bdf and host function; removes only an auto-created one', () => {
    const table = new ConnectionTable();
    const client = createFakeClient(HOST);
    table.publish(HOST, client);
    const reg = new DmaCompanionRegistry();
    const user = reg.add(DmaCompanion.realize(opts(table, client)));
    const found = reg.ensure(opts(table, client));
    expect(found).toBe(user);
    expect(found.autoCreated).toBe(false);
    expect(reg.release(found)).toBe(false);
    expect(reg.size).toBe(1);
    expect(table.refs(HOST)).toBe(2);

    const auto = reg.ensure(opts(table, client, 0xf8)); // another managed-bdf: created
    expect(auto.autoCreated).toBe(true);
    expect(reg.size).toBe(2);
    expect(table.refs(HOST)).toBe(3);
    expect(reg.release(auto)).toBe(true);
    expect(reg.size).toBe(1);
    expect(table.refs(HOST)).toBe(2);
  });

  it('rule 14: a failed auto-create propagates and registers nothing', () => {
    const reg = new DmaCompanionRegistry();
    const e = thrown(() => reg.ensure({ managedBdf: 0, host: HOST_PARTS, driver: driverOf(undefined), table: new ConnectionTable(), guestMemory: new SabGuestMemory() }));
    expect(e.code).toBe('PT_ERR_CONNECT_FAILED');
    expect(reg.size).toBe(0);
  });
});
