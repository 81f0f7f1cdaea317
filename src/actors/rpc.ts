/**
 * The one module that uses comlink (house rule 13; eco §2.2). It carries the
 * control-plane {@link Command}/{@link Reply} protocol over a MessagePort and
 * adds what comlink lacks:
 *
 * - a deadline on every call (PT_ERR_DEADLINE) that follows progress: the
 *   worker reports each step of a long command and {@link RpcClient.touch}
 *   restarts the deadlines, so silence, not a slow machine, is what times out;
 * - typed errors across threads: the worker side turns every failure into
 *   `{ ok: false, error: PassthroughError#toJSON() }` and the client rebuilds
 *   it with `PassthroughError.fromJSON`, so code and context survive (comlink's
 *   own throw path keeps only message, name and stack);
 * - rejection of every pending call when the worker exits or errors
 *   ({@link RpcClient.failAll}); comlink never settles them itself (#601, #692);
 * - `releaseProxy` on {@link RpcClient.close}; the proxy is held strongly while
 *   in use so a GC cannot drop in-flight replies (#692).
 *
 * Swapping comlink for a hand-written request/response would touch this file only.
 */
import * as Comlink from 'comlink';
import type { MessagePort } from 'node:worker_threads';
// comlink has no exports map; this is its documented Node adapter (eco §2.2).
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { PassthroughError, toPassthroughError, type ErrorContext } from '../errors.js';
import type { Command, CommandType, Reply, ReplyValues } from './protocol.js';

/** What the worker exposes through comlink: one entry point. */
interface RpcSurface {
  call(command: Command): Promise<Reply<unknown>>;
}

/** The worker-side command handler: returns the value or throws. */
export type CommandHandler = (command: Command) => Promise<unknown> | unknown;

/**
 * Serves `handler` on `port` (worker side). Every throw becomes an error reply
 * with the PassthroughError as data; non-PassthroughErrors become PT_ERR_INTERNAL.
 */
export function serveRpc(port: MessagePort, handler: CommandHandler): void {
  const surface: RpcSurface = {
    async call(command: Command): Promise<Reply<unknown>> {
      try {
        const value = await handler(command);
        return { ok: true, value: value ?? null };
      } catch (err) {
        return { ok: false, error: toPassthroughError(err, { command: command.type }).toJSON() };
      }
    },
  };
  Comlink.expose(surface, nodeEndpoint(port as unknown as Parameters<typeof nodeEndpoint>[0]));
}

/** Options of {@link RpcClient}. */
export interface RpcClientOptions {
  /** Default deadline per call in milliseconds (> 0). */
  timeoutMs: number;
  /** Context merged into every error (deviceId, bdf). */
  context?: ErrorContext;
}

/** Longest deadline a call may ask for (setTimeout's limit: a larger value fires at once). */
export const kMaxTimeoutMs = 2 ** 31 - 1;

interface Pending {
  reject(err: PassthroughError): void;
  timer: NodeJS.Timeout;
  /** (Re)arms the deadline. */
  arm(): void;
}

/**
 * The supervisor side of one worker's control channel. Not reusable after
 * {@link close} or {@link failAll}: a restarted worker gets a new client.
 */
export class RpcClient {
  readonly #proxy: Comlink.Remote<RpcSurface>;
  readonly #port: MessagePort;
  readonly #timeoutMs: number;
  readonly #context: ErrorContext;
  readonly #pending = new Set<Pending>();
  #failure: PassthroughError | undefined;
  /**
   * Called when the channel becomes busy (a first call is pending) and idle
   * again (no call pending). The supervisor refs the worker while busy and
   * unrefs it while idle, so an idle device does not hold the process.
   */
  onBusyChange: ((busy: boolean) => void) | undefined;

  constructor(port: MessagePort, options: RpcClientOptions) {
    this.#port = port;
    this.#timeoutMs = options.timeoutMs;
    this.#context = options.context ?? {};
    this.#proxy = Comlink.wrap<RpcSurface>(nodeEndpoint(port as unknown as Parameters<typeof nodeEndpoint>[0]));
  }

  /** Calls still waiting for a reply (a leak check after teardown expects 0). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Sends `command` and resolves with its value.
   * Rejects with the worker's error (code and context kept), PT_ERR_DEADLINE
   * after `timeoutMs`, PT_ERR_WORKER_EXITED when the worker dies first, or the
   * error given to {@link failAll} / PT_ERR_CLOSED after {@link close}.
   */
  call<C extends Command>(command: C, timeoutMs = this.#timeoutMs): Promise<ReplyValues[C['type'] & CommandType]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (!(timeoutMs > 0 && timeoutMs <= kMaxTimeoutMs)) {
      return Promise.reject(
        new PassthroughError('PT_ERR_INVALID_ARGUMENT', `timeoutMs must be in (0, ${kMaxTimeoutMs}]`, { ...this.#context, timeoutMs }),
      );
    }
    return new Promise((resolve, reject) => {
      const expire = () =>
        entry.reject(
          new PassthroughError('PT_ERR_DEADLINE', `${command.type} got no reply (and no progress) within ${timeoutMs} ms`, {
            ...this.#context,
            command: command.type,
            timeoutMs,
          }),
        );
      const entry: Pending = {
        reject: (err) => {
          clearTimeout(entry.timer);
          this.#settled(entry);
          reject(err);
        },
        timer: setTimeout(expire, timeoutMs),
        arm: () => {
          clearTimeout(entry.timer);
          entry.timer = setTimeout(expire, timeoutMs);
        },
      };
      this.#pending.add(entry);
      if (this.#pending.size === 1) this.onBusyChange?.(true);
      this.#proxy.call(command).then(
        (reply) => {
          if (!this.#pending.has(entry)) return; // already timed out or failed
          clearTimeout(entry.timer);
          this.#settled(entry);
          if (reply.ok) resolve(reply.value as ReplyValues[C['type'] & CommandType]);
          else reject(PassthroughError.fromJSON(reply.error));
        },
        (err: unknown) => {
          if (this.#pending.has(entry)) entry.reject(toPassthroughError(err, { ...this.#context, command: command.type }));
        },
      );
    });
  }

  #settled(entry: Pending): void {
    if (this.#pending.delete(entry) && this.#pending.size === 0) this.onBusyChange?.(false);
  }

  /** The worker made progress: every pending call's deadline starts again. */
  touch(): void {
    for (const entry of this.#pending) entry.arm();
  }

  /** Lets the process exit while this channel is idle (an idle warm worker). */
  unref(): void {
    this.#port.unref();
  }

  /** Keeps the process alive while the channel is open (an attached device). */
  ref(): void {
    this.#port.ref();
  }

  /** Rejects every pending and later call with `err` (worker exit/error). Idempotent. */
  failAll(err: PassthroughError): void {
    this.#failure ??= err;
    for (const entry of [...this.#pending]) entry.reject(err);
  }

  /** Rejects what is pending with PT_ERR_CLOSED, releases the comlink proxy and closes the port. Idempotent. */
  close(): void {
    if (this.#failure === undefined || this.#failure.code !== 'PT_ERR_CLOSED') {
      this.failAll(new PassthroughError('PT_ERR_CLOSED', 'control channel closed', this.#context));
    }
    try {
      this.#proxy[Comlink.releaseProxy]();
    } catch {
      // Already released: releaseProxy throws on a second call; idempotence is what we want.
    }
    this.#port.close();
  }
}
