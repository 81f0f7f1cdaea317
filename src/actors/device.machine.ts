/**
 * The lifecycle of one passed-through device, as a pure xstate v5 machine
 * (house rule 14). It runs inside the device worker; every effect is an
 * actor or action supplied by name with `machine.provide()` (device.worker.ts
 * wires the real ones; unit tests wire fakes). No worker, koffi or backend
 * import here.
 *
 * ```
 * opening → connecting → probing → mapping → wiringIrqs → ready ⇄ resetting
 *     \__________\___________\_________\_________\__________\______→ faulted
 * (any) ── device.stop ──→ stopping ──→ stopped
 * ```
 *
 * Steps (what the worker's actors do; src/actors/worker/attach.ts):
 * - opening:     build the WorkerBackend from the spec (sim: the simulated function powers on).
 * - connecting:  container.setup() + attachDevice(bdf): connect, claim, publish and the dext's
 *                interrupt setup, undone step by step on failure (spec §7 rule 12).
 * - probing:     read what the device is: region and IRQ info, config-space identity.
 * - mapping:     regionMap every BAR and build the fast-path descriptors (with their trap ranges).
 * - wiringIrqs:  enable the interrupt mode, start the IRQ pump, serve the config mailbox.
 *
 * Failures are states, never logs (house rule 7): a failed step, a step past
 * its deadline, or a runtime fault event lands in `faulted` with
 * `context.cause` = the serialised PassthroughError and `context.faultedIn` =
 * the state that failed.
 */
import { assign, fromPromise, setup } from 'xstate';
import { PassthroughError, toPassthroughError, type SerializedError } from '../errors.js';

/** Input of the device machine. */
export interface DeviceMachineInput {
  deviceId: string;
  bdf: string;
  /** Deadline of each attach step and of a reset, in ms. */
  stepTimeoutMs?: number;
  /** Deadline of teardown, in ms. */
  stopTimeoutMs?: number;
}

/** Context of the device machine. */
export interface DeviceMachineContext {
  deviceId: string;
  bdf: string;
  stepTimeoutMs: number;
  stopTimeoutMs: number;
  /** Why the device is faulted (serialised PassthroughError), undefined otherwise. */
  cause: SerializedError | undefined;
  /** The state that failed. */
  faultedIn: string | undefined;
  /** Completed resets. */
  resets: number;
  /**
   * Resets the device refused without touching it (PT_ERR_NOT_SUPPORTED: no
   * FLR/hot reset on offer, e.g. QEMU's edu through VFIO); the device stays
   * ready and the caller gets {@link lastRefusal}.
   */
  refusals: number;
  /** The last refused reset's error. */
  lastRefusal: SerializedError | undefined;
  /** Error recorded by a failed or late teardown (the device still reaches `stopped`). */
  teardownError: SerializedError | undefined;
}

/** Events of the device machine (dotted lowercase). */
export type DeviceMachineEvent =
  | { type: 'device.reset' }
  | { type: 'device.stop' }
  /** A runtime failure seen outside a step (IRQ pump died, device fell off the bus). */
  | { type: 'device.fault'; error: SerializedError };

/** What every step actor receives. */
export interface StepInput {
  deviceId: string;
  bdf: string;
}

/** A step: resolves when done, rejects with the failure. */
const step = fromPromise<void, StepInput>(async () => {
  throw new PassthroughError('PT_ERR_INTERNAL', 'device.machine step not provided');
});

function serialize(error: unknown, context: DeviceMachineContext): SerializedError {
  const data = toPassthroughError(error, { deviceId: context.deviceId, bdf: context.bdf }).toJSON();
  // Say which device failed even when the error came from a layer that does not know the id.
  data.context = { deviceId: context.deviceId, bdf: context.bdf, ...data.context };
  return data;
}

function timeoutError(context: DeviceMachineContext, state: string, timeoutMs: number): SerializedError {
  return new PassthroughError('PT_ERR_TIMEOUT', `${state} did not finish within ${timeoutMs} ms`, {
    deviceId: context.deviceId,
    bdf: context.bdf,
    state,
    timeoutMs,
  }).toJSON();
}


const stepInput = ({ context }: { context: DeviceMachineContext }): StepInput => ({
  deviceId: context.deviceId,
  bdf: context.bdf,
});

const machineSetup = setup({
  types: {
    context: {} as DeviceMachineContext,
    events: {} as DeviceMachineEvent,
    input: {} as DeviceMachineInput,
  },
  actors: {
    openBackend: step,
    connectDevice: step,
    probeDevice: step,
    mapRegions: step,
    wireIrqs: step,
    resetDevice: step,
    teardown: step,
  },
  actions: {
    /** Records a failed step (the invoke's error event) as the cause. */
    recordStepError: assign(({ context, event }, params: { state: string }) => {
      const cause = serialize((event as unknown as { error: unknown }).error, context);
      cause.context = { ...cause.context, step: params.state };
      return { cause, faultedIn: params.state };
    }),
    /** Records a step past its deadline as the cause (PT_ERR_TIMEOUT). */
    recordStepTimeout: assign(({ context }, params: { state: string }) => ({
      cause: timeoutError(context, params.state, context.stepTimeoutMs),
      faultedIn: params.state,
    })),
    /** Records a runtime fault event as the cause. */
    recordFaultEvent: assign(({ event }, params: { state: string }) => ({
      cause: event.type === 'device.fault' ? event.error : undefined,
      faultedIn: params.state,
    })),
    recordTeardownError: assign(({ context, event }) => ({
      teardownError: serialize((event as unknown as { error: unknown }).error, context),
    })),
    recordTeardownTimeout: assign(({ context }) => ({
      teardownError: timeoutError(context, 'stopping', context.stopTimeoutMs),
    })),
    countReset: assign(({ context }) => ({ resets: context.resets + 1 })),
    recordRefusal: assign(({ context, event }) => ({
      refusals: context.refusals + 1,
      lastRefusal: serialize((event as unknown as { error: unknown }).error, context),
    })),
    /** Called on entry to ready (worker: report state, release waiters). */
    onReady: () => {},
    /** Called on entry to faulted (worker: stop the pump, mark the mailbox gone, report). */
    onFaulted: () => {},
    /** Called on entry to stopped. */
    onStopped: () => {},
  },
  guards: {
    /** The reset step failed with PT_ERR_NOT_SUPPORTED: refused before anything was touched. */
    resetRefused: ({ event }) => PassthroughError.is((event as unknown as { error: unknown }).error, 'PT_ERR_NOT_SUPPORTED'),
  },
  delays: {
    stepTimeout: ({ context }) => context.stepTimeoutMs,
    stopTimeout: ({ context }) => context.stopTimeoutMs,
  },
});

/** The device machine. Provide the actors and actions by name. */
export const deviceMachine = machineSetup.createMachine({
  id: 'device',
  context: ({ input }) => ({
    deviceId: input.deviceId,
    bdf: input.bdf,
    stepTimeoutMs: input.stepTimeoutMs ?? 10_000,
    stopTimeoutMs: input.stopTimeoutMs ?? 10_000,
    cause: undefined,
    faultedIn: undefined,
    resets: 0,
    refusals: 0,
    lastRefusal: undefined,
    teardownError: undefined,
  }),
  initial: 'opening',
  on: {
    'device.stop': { target: '.stopping' },
  },
  states: {
    opening: {
      invoke: {
        src: 'openBackend',
        input: stepInput,
        onDone: 'connecting',
        onError: { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'opening' } } },
      },
      after: { stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'opening' } } } },
    },
    connecting: {
      invoke: {
        src: 'connectDevice',
        input: stepInput,
        onDone: 'probing',
        onError: { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'connecting' } } },
      },
      after: {
        stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'connecting' } } },
      },
    },
    probing: {
      invoke: {
        src: 'probeDevice',
        input: stepInput,
        onDone: 'mapping',
        onError: { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'probing' } } },
      },
      after: { stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'probing' } } } },
    },
    mapping: {
      invoke: {
        src: 'mapRegions',
        input: stepInput,
        onDone: 'wiringIrqs',
        onError: { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'mapping' } } },
      },
      after: { stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'mapping' } } } },
    },
    wiringIrqs: {
      invoke: {
        src: 'wireIrqs',
        input: stepInput,
        onDone: 'ready',
        onError: { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'wiringIrqs' } } },
      },
      after: { stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'wiringIrqs' } } } },
    },
    ready: {
      entry: 'onReady',
      on: {
        'device.reset': 'resetting',
        'device.fault': { target: 'faulted', actions: { type: 'recordFaultEvent', params: { state: 'ready' } } },
      },
    },
    resetting: {
      invoke: {
        src: 'resetDevice',
        input: stepInput,
        onDone: { target: 'ready', actions: 'countReset' },
        onError: [
          // A reset the device does not offer changed nothing: back to ready, the caller is told.
          { guard: 'resetRefused', target: 'ready', actions: 'recordRefusal' },
          { target: 'faulted', actions: { type: 'recordStepError', params: { state: 'resetting' } } },
        ],
      },
      after: {
        stepTimeout: { target: 'faulted', actions: { type: 'recordStepTimeout', params: { state: 'resetting' } } },
      },
      on: {
        'device.fault': { target: 'faulted', actions: { type: 'recordFaultEvent', params: { state: 'resetting' } } },
      },
    },
    faulted: {
      entry: 'onFaulted',
    },
    stopping: {
      invoke: {
        src: 'teardown',
        input: stepInput,
        onDone: 'stopped',
        onError: { target: 'stopped', actions: 'recordTeardownError' },
      },
      after: { stopTimeout: { target: 'stopped', actions: 'recordTeardownTimeout' } },
      // A second stop while stopping is a no-op (the root handler would re-enter and restart teardown).
      on: { 'device.stop': {} },
    },
    stopped: {
      type: 'final',
      entry: 'onStopped',
    },
  },
});

/** The machine's type, for provide()d variants. */
export type DeviceMachine = typeof deviceMachine;
