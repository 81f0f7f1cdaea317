/**
 * README.md's fenced code blocks and the `<!-- readme-test: KIND args… -->`
 * line before each, which says how the tests check the block:
 *
 * | kind | checked by | how |
 * |---|---|---|
 * | `run ID` | test/cli/readme.test.ts | TypeScript compiled with tsc (strict) and run; `ID` names its assertions |
 * | `output-of ID` | test/cli/readme.test.ts | the output the `run ID` program must print |
 * | `output-of pcipt …` | test/cli/readme.test.ts | lines the command must print, in order |
 * | `json-of pcipt …` | test/cli/readme.test.ts | the JSON document the command must print, equal |
 * | `cli` | test/cli/readme.test.ts | every `pcipt …` line runs in a scratch directory and exits 0 |
 * | `machine` | test/cli/readme.test.ts | a sim machine file `pcipt --machine` must accept |
 * | `schema NAME` | test/unit/readme.test.ts | valid against src/cli/schemas.ts NAME |
 * | `file PATH` | test/unit/readme.test.ts | equal to the file (which its own test runs) |
 * | `package` | test/package/consumer.test.ts | run in a fresh project against the packed tarball |
 * | `ci` | test/unit/readme.test.ts | the quick start: `.ci/run` runs it |
 * | `guest` | test/guest/cli-guest.test.ts | its `pcipt guest` line runs against the tier's kernel and initramfs, exit 0 |
 * | `figure` | — | a picture, not code |
 */

/** The kinds a README block may name. */
export const README_TEST_KINDS: readonly string[] = ['run', 'output-of', 'json-of', 'cli', 'machine', 'schema', 'file', 'package', 'ci', 'guest', 'figure'];

/** One fenced block of the README. */
export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string (`ts`, `sh`, `json`, `text`, or ''). */
  lang: string;
  code: string;
  /** The whole annotation comment, if any. */
  annotation: string | undefined;
  kind: string | undefined;
  /** The annotation's words after the kind, up to a `(` remark. */
  args: string[];
}

/** Every fenced block of `markdown`, with its annotation. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const out: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    const prev = start > 0 ? lines[start - 1]! : '';
    const ann = /^<!-- readme-test: ([^(]*?)\s*(?:\(.*\))?\s*-->$/.exec(prev);
    const words = ann === null ? [] : ann[1]!.trim().split(/\s+/);
    out.push({
      line: start + 1,
      lang: open[1]!,
      code: `${lines.slice(start + 1, end).join('\n')}\n`,
      annotation: ann === null ? undefined : prev,
      kind: words[0],
      args: words.slice(1),
    });
    i = end;
  }
  return out;
}
