/**
 * The scale suite's memory baseline: a bare worker thread (an ES module
 * entry, like the device worker's) that loads nothing, says it is up and
 * waits until it is terminated.
 */
import { parentPort } from 'node:worker_threads';

parentPort!.on('message', () => {});
parentPort!.postMessage('ready');
