/**
 * Types for comlink's Node adapter, which ships as `.mjs` without a `.d.mts`
 * (comlink 4.4.2 has no exports map). Same shape as its `node-adapter.d.ts`.
 */
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  /** What comlink needs from a Node MessagePort / Worker / parentPort. */
  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: unknown[]): void;
    on(type: string, listener: (...args: unknown[]) => void, options?: object): void;
    off(type: string, listener: (...args: unknown[]) => void, options?: object): void;
    start?: () => void;
  }
  /** Wraps a Node endpoint into comlink's DOM-style Endpoint. */
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
