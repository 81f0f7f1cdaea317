import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every error code', () => {
    const missing = ERROR_CODES.filter((c) => !readme.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });

  it('embeds examples/embed.ts verbatim (the example a test runs is the one users read)', () => {
    const example = readFileSync(new URL('../../examples/embed.ts', import.meta.url), 'utf8');
    expect(readme).toContain(example);
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });
});
