/**
 * The supervisor's view of one device: a pure xstate v5 machine (house rule
 * 14) that runs in the supervisor thread, one per attached device. The
 * device's own machine (device.machine.ts) runs inside its worker; this one
 * owns the worker's life: start it, notice its death, restart it by policy,
 * stop it in order. Effects are supplied by name (supervisor.ts).
 *
 * ```
 * starting ──done──→ running ──worker.exited──→ restarting ──allowed──→ starting
 *    │ error (first start)          │ device.faulted          └─limit──→ faulted (PT_ERR_RESTART_LIMIT)
 *    ↓                              ↓
 *  failed                        faulted
 * (any) ── device.stop ──→ stopping ──→ stopped
 * ```
 *
 * On `worker.exited` the `workerLost` action runs before any decision: the
 * supervisor marks the mailbox gone, rejects the dead worker's pending calls
 * and releases what it held (ownership, host resources), so a restart starts
 * from nothing (one-for-one: siblings are untouched).
 */
import { assign, fromPromise, setup } from 'xstate';
import { PassthroughError, toPassthroughError, type SerializedError } from '../errors.js';
import { decideRestart, type RestartPolicy } from './restart-policy.js';

/** Input of a supervision machine. */
export interface SupervisionInput {
  deviceId: string;
  bdf: string;
  policy: RestartPolicy;
  /** Clock in ms (Date.now in production, a fake in tests). */
  now: () => number;
}

/** Context of a supervision machine. */
export interface SupervisionContext {
  deviceId: string;
  bdf: string;
  policy: RestartPolicy;
  now: () => number;
  /** Times of restarts inside the window. */
  history: number[];
  /** Total restarts since attach. */
  restarts: number;
  /** Worker generation being started (0 = the first). */
  generation: number;
  /** Why the device is faulted or failed. */
  cause: SerializedError | undefined;
  /** Set by the restart decision in `restarting`. */
  restartAllowed: boolean;
}

/** Events of a supervision machine. */
export type SupervisionEvent =
  | { type: 'worker.exited'; exitCode: number; error: SerializedError | undefined }
  | { type: 'device.faulted'; cause: SerializedError }
  | { type: 'device.stop' };

/** Input of the start/stop actors. */
export interface SupervisionStepInput {
  deviceId: string;
  bdf: string;
  generation: number;
}

const unprovided = fromPromise<void, SupervisionStepInput>(async () => {
  throw new PassthroughError('PT_ERR_INTERNAL', 'supervisor.machine actor not provided');
});

function serialize(err: unknown, ctx: SupervisionContext): SerializedError {
  const data = toPassthroughError(err).toJSON();
  data.context = { deviceId: ctx.deviceId, bdf: ctx.bdf, ...data.context };
  return data;
}

/** The supervision machine. Provide `startWorker`, `stopWorker` and the notification actions. */
export const supervisionMachine = setup({
  types: {
    context: {} as SupervisionContext,
    events: {} as SupervisionEvent,
    input: {} as SupervisionInput,
  },
  actors: {
    /** Spawns (or takes a warm) worker and activates the device in it; resolves when the device is ready. */
    startWorker: unprovided,
    /** Orderly shutdown of the current worker (ack after teardown), then terminate. Never rejects for a dead worker. */
    stopWorker: unprovided,
  },
  actions: {
    /** The device is ready in a worker (generation in context). */
    onRunning: () => {},
    /** The first start failed: the attach call rejects with context.cause. */
    onFailed: () => {},
    /** The worker died: mark the mailbox gone, reject its calls, release what it held. */
    workerLost: (_, _params: { exitCode: number; error: SerializedError | undefined }) => {},
    /** A restart is about to start (`supervisor:restart` trace). */
    onRestart: () => {},
    /** The device faulted (restart limit, device fault, failed restart). */
    onFaulted: () => {},
    onStopped: () => {},
    decide: assign(({ context }) => {
      const d = decideRestart(context.policy, context.history, context.now());
      if (d.action === 'restart') {
        return { history: [...d.history], restartAllowed: true };
      }
      return {
        history: [...d.history],
        restartAllowed: false,
        cause: new PassthroughError(
          'PT_ERR_RESTART_LIMIT',
          `device ${context.deviceId} crashed ${d.restartsInWindow + 1} times within ${context.policy.windowMs} ms; giving up`,
          {
            deviceId: context.deviceId,
            bdf: context.bdf,
            restarts: context.restarts,
            maxRestarts: context.policy.maxRestarts,
            windowMs: context.policy.windowMs,
          },
        ).toJSON(),
      };
    }),
  },
  guards: {
    restartAllowed: ({ context }) => context.restartAllowed,
    firstStart: ({ context }) => context.generation === 0,
  },
}).createMachine({
  id: 'supervision',
  context: ({ input }) => ({
    deviceId: input.deviceId,
    bdf: input.bdf,
    policy: input.policy,
    now: input.now,
    history: [],
    restarts: 0,
    generation: 0,
    cause: undefined,
    restartAllowed: false,
  }),
  initial: 'starting',
  on: {
    'device.stop': '.stopping',
  },
  states: {
    starting: {
      invoke: {
        src: 'startWorker',
        input: ({ context }) => ({ deviceId: context.deviceId, bdf: context.bdf, generation: context.generation }),
        onDone: 'running',
        onError: [
          {
            guard: 'firstStart',
            target: 'failed',
            actions: assign({ cause: ({ context, event }) => serialize(event.error, context) }),
          },
          {
            target: 'faulted',
            actions: assign({ cause: ({ context, event }) => serialize(event.error, context) }),
          },
        ],
      },
      on: {
        // The start actor sees the exit too (its activate call rejects); record the loss here.
        'worker.exited': {
          actions: {
            type: 'workerLost',
            params: ({ event }) => ({ exitCode: event.exitCode, error: event.error }),
          },
        },
      },
    },
    running: {
      entry: 'onRunning',
      on: {
        'worker.exited': {
          target: 'restarting',
          actions: {
            type: 'workerLost',
            params: ({ event }) => ({ exitCode: event.exitCode, error: event.error }),
          },
        },
        'device.faulted': {
          target: 'faulted',
          actions: assign({ cause: ({ event }) => event.cause }),
        },
      },
    },
    restarting: {
      entry: 'decide',
      always: [
        {
          guard: 'restartAllowed',
          target: 'starting',
          actions: [
            assign({
              restarts: ({ context }) => context.restarts + 1,
              generation: ({ context }) => context.generation + 1,
            }),
            'onRestart',
          ],
        },
        { target: 'faulted' },
      ],
    },
    failed: {
      entry: 'onFailed',
    },
    faulted: {
      entry: 'onFaulted',
      on: {
        'worker.exited': {
          actions: {
            type: 'workerLost',
            params: ({ event }) => ({ exitCode: event.exitCode, error: event.error }),
          },
        },
      },
    },
    stopping: {
      invoke: {
        src: 'stopWorker',
        input: ({ context }) => ({ deviceId: context.deviceId, bdf: context.bdf, generation: context.generation }),
        onDone: 'stopped',
        onError: 'stopped',
      },
      on: {
        'device.stop': {},
        'worker.exited': {
          actions: {
            type: 'workerLost',
            params: ({ event }) => ({ exitCode: event.exitCode, error: event.error }),
          },
        },
      },
    },
    stopped: {
      type: 'final',
      entry: 'onStopped',
    },
  },
});

/** The supervision machine's type. */
export type SupervisionMachine = typeof supervisionMachine;
