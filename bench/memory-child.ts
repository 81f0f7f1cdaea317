/**
 * Child process of the scale suite's memory stages: `node memory-child.js
 * <bare|modules|backend|attached> <count> <settledAfterMs>` starts `count`
 * workers of that stage and prints `{ "freshBytes": n, "settledBytes": n }`
 * (the RSS growth per worker, right away and after settledAfterMs idle).
 */
import { stageRss, type MemoryStage } from './memory.js';

const [stage, count, settledAfterMs] = process.argv.slice(2) as [MemoryStage, string, string];
const got = await stageRss(stage, Number(count), Number(settledAfterMs));
process.stdout.write(`${JSON.stringify(got)}\n`);
