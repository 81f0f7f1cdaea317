/**
 * JSON Schemas (draft 2020-12 subset: type, properties, required,
 * additionalProperties, items, enum, pattern, minimum) of everything the CLI
 * prints under `--json`, and of each `trace` line. They document the
 * machine-readable contract (README.md, "Command line") and the CLI tests validate real
 * output against them. Additive changes only: new optional fields are fine,
 * renaming or removing a field is a breaking change.
 */
import { ERROR_CODES } from '../errors.js';
import { TRACE_POINT_NAMES } from '../trace.js';

/** A JSON Schema object (the subset the CLI uses). */
export type JsonSchema = Readonly<Record<string, unknown>>;

const BDF_PATTERN = '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$';
const int = (minimum = 0): JsonSchema => ({ type: 'integer', minimum });
const num: JsonSchema = { type: 'number' };
const str: JsonSchema = { type: 'string' };
const bool: JsonSchema = { type: 'boolean' };
const obj = (properties: Record<string, JsonSchema>, required: string[] = Object.keys(properties), extra = false): JsonSchema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: extra,
});

/** `list-devices --json`: an array of functions. */
export const DEVICE_LIST_SCHEMA: JsonSchema = {
  type: 'array',
  items: obj({
    bdf: { type: 'string', pattern: BDF_PATTERN },
    vendorId: int(),
    deviceId: int(),
    id: { type: 'string', pattern: '^[0-9a-f]{4}:[0-9a-f]{4}$' },
    classCode: int(),
    className: str,
    name: str,
    driver: { type: ['string', 'null'] },
    attachable: bool,
    details: { type: 'object' },
  }),
};

/** `driver-status --json`. */
export const DRIVER_STATUS_SCHEMA: JsonSchema = obj({
  backend: { enum: ['sim', 'linux', 'iokit'] },
  ready: bool,
  state: str,
  details: { type: 'array', items: str },
});

/** `info --json`: QMP query-pci's PciDeviceInfo, then pcipt's fields. */
export const PCI_INFO_SCHEMA: JsonSchema = obj(
  {
    bus: int(),
    slot: int(),
    function: int(),
    class_info: obj({ class: { type: 'integer', minimum: 0, maximum: 0xffff }, desc: str }, ['class']),
    id: obj({ vendor: int(), device: int(), subsystem: int(), 'subsystem-vendor': int() }, ['vendor', 'device']),
    irq: int(),
    irq_pin: { type: 'integer', minimum: 0, maximum: 4 },
    qdev_id: str,
    regions: {
      type: 'array',
      items: obj({ bar: int(), type: { enum: ['memory', 'io'] }, address: int(), size: int(1), prefetch: bool, mem_type_64: bool }, ['bar', 'type', 'address', 'size']),
    },
    bdf: { type: 'string', pattern: BDF_PATTERN },
    domain: int(),
    revision: int(),
    prog_if: int(),
    name: str,
    interrupts: obj({
      intx: bool,
      msi: { type: ['object', 'null'], required: ['vectors', 'is64', 'maskable', 'offset'] },
      msix: { type: ['object', 'null'], required: ['vectors', 'tableBar', 'tableOffset', 'pbaBar', 'pbaOffset', 'offset'] },
    }),
    capabilities: { type: 'array', items: obj({ id: int(), offset: int(), name: str, extended: bool }) },
  },
  ['bus', 'slot', 'function', 'class_info', 'id', 'irq_pin', 'qdev_id', 'regions', 'bdf', 'domain', 'revision', 'prog_if', 'name', 'interrupts', 'capabilities'],
);

/** `dump-config --json`. */
export const DUMP_CONFIG_SCHEMA: JsonSchema = obj({
  bdf: { type: 'string', pattern: BDF_PATTERN },
  sizeBytes: int(64),
  hex: { type: 'string', pattern: '^([0-9a-f]{2})+$' },
  dump: str,
});

/** One suite's report (`bench <suite> --json`; bench/report.ts BenchReport without samplesNs). */
export const BENCH_REPORT_SCHEMA: JsonSchema = obj(
  {
    suite: str,
    machine: obj(
      {
        cpus: int(1),
        node: str,
        cpuModel: str,
        platform: str,
        release: str,
        arch: str,
        totalMemBytes: int(),
        loadAvg: { type: 'array', items: { type: 'number', minimum: 0 } },
      },
      ['cpus', 'node'],
    ),
    results: {
      type: 'array',
      items: obj(
        {
          name: str,
          samples: int(),
          latencyNs: obj({ p50: num, p99: num, mean: num, min: num, max: num }),
          opsPerSec: num,
          batch: int(1),
        },
        ['name', 'samples', 'latencyNs', 'opsPerSec'],
        true,
      ),
    },
    ratios: {
      type: 'array',
      items: obj(
        {
          label: str,
          path: str,
          baseline: str,
          stat: { enum: ['p50', 'p99', 'mean', 'min', 'max'] },
          value: num,
          pathValue: num,
          baselineValue: num,
          unit: { enum: ['ns', 'bytes'] },
          spread: obj({ min: num, median: num, max: num, rounds: int(1) }),
          target: obj({ kind: { enum: ['max', 'min'] }, value: num }),
          ok: bool,
        },
        ['label', 'value', 'target', 'ok'],
      ),
    },
    notes: { type: 'array', items: str },
  },
  ['suite', 'machine', 'results'],
  true,
);

/** `bench all --json`. */
export const BENCH_ALL_SCHEMA: JsonSchema = obj({ suites: { type: 'array', items: BENCH_REPORT_SCHEMA } });

/** The error document every command prints on stdout under `--json` when it fails. */
export const ERROR_SCHEMA: JsonSchema = obj({
  error: obj({ code: { enum: [...ERROR_CODES] }, message: str, context: { type: 'object' }, hint: str }, ['code', 'message', 'context']),
});

/** One line of `trace` output. */
export const TRACE_LINE_SCHEMA: JsonSchema = obj({
  timeMs: { type: 'number', minimum: 0 },
  channel: { enum: [...TRACE_POINT_NAMES] },
  payload: { type: 'object' },
});

const HISTOGRAM_SUMMARY: JsonSchema = obj({
  count: int(),
  minNs: num,
  maxNs: num,
  meanNs: num,
  p50Ns: num,
  p90Ns: num,
  p99Ns: num,
  p999Ns: num,
});
const DEMO_LATENCIES: JsonSchema = obj(
  { mmioFastPath: HISTOGRAM_SUMMARY, mmioSlowPath: HISTOGRAM_SUMMARY, irqDelivery: HISTOGRAM_SUMMARY, dmaRoundTrip: HISTOGRAM_SUMMARY },
  [],
);

/** `demo --json`. */
export const DEMO_SCHEMA: JsonSchema = obj({
  backend: { enum: ['sim', 'linux', 'iokit'] },
  devices: {
    type: 'array',
    items: obj({
      id: str,
      bdf: { type: 'string', pattern: BDF_PATTERN },
      name: str,
      ids: { type: 'string', pattern: '^[0-9a-f]{4}:[0-9a-f]{4}$' },
      state: str,
      bars: { type: 'array', items: obj({ bar: int(), sizeBytes: int() }) },
      irqMode: { enum: ['msix', 'msi', 'intx', 'none'] },
      irqVectors: int(),
    }),
  },
  failed: { type: 'array', items: obj({ bdf: str, code: { enum: [...ERROR_CODES] }, message: str }) },
  latency: DEMO_LATENCIES,
  workerThread: DEMO_LATENCIES,
  counters: { type: 'object' },
  slowPathLatency: HISTOGRAM_SUMMARY,
});

const rateOrNull: JsonSchema = { type: ['number', 'null'], minimum: 0 };

/** One line of `top --json`: a refresh, with every watched device. */
export const TOP_LINE_SCHEMA: JsonSchema = obj({
  timeMs: { type: 'number', minimum: 0 },
  devices: {
    type: 'array',
    items: obj({
      supervisor: int(),
      id: str,
      bdf: { type: 'string', pattern: BDF_PATTERN },
      state: str,
      restarts: int(),
      irqsPerSec: rateOrNull,
      irqsRaised: int(),
      irqsDelivered: int(),
      irqsCoalesced: int(),
      irqsMasked: int(),
      mmioPerSec: rateOrNull,
      mmioTrapped: int(),
      configPerSec: rateOrNull,
      configCycles: int(),
      errors: int(),
      connection: obj({ refs: int(), holders: { type: 'array', items: str } }),
    }),
  },
});
