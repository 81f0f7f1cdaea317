/**
 * Word indexes of the config bench's own SharedArrayBuffer (the raw
 * ping-pong baseline; the ConfigPort uses the device control block).
 */
/** Int32 index: request counter of the raw ping-pong. */
export const kPingIndex = 0;
/** Int32 index: response counter of the raw ping-pong (its own cache line). */
export const kPongIndex = 16;
/** Int32 index: 1 while the worker runs the raw ping-pong loop. */
export const kPingLoopIndex = 32;
/** Int32 index: set to 1 to make the worker leave the ping-pong loop. */
export const kPingStopIndex = 48;
/** Bench buffer size in bytes. */
export const kConfigBenchBytes = 256;
