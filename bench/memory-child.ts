/**
 * Child process of the scale suite's memory stages: `node memory-child.js
 * <bare|modules|backend> <count>` starts `count` workers of that stage and
 * prints `{ "rssPerWorkerBytes": n }` (the RSS growth per worker).
 */
import { stageRss, type StageRss } from './memory.js';

const [stage, count] = process.argv.slice(2) as [StageRss['stage'], string];
const rssPerWorkerBytes = await stageRss(stage, Number(count));
process.stdout.write(`${JSON.stringify({ rssPerWorkerBytes })}\n`);
