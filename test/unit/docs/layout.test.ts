/**
 * The README's "Repository layout" block matches the tree: every path it names exists, and every
 * folder of src/ (two levels deep), test/ and test/helpers/, and every top-level folder, is named.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

const root = new URL('../../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const block = /## Repository layout\n+```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';

/** Each entry is the first word of a line, read relative to the last top-level folder above it. */
function entries(text: string): string[] {
  const out: string[] = [];
  let parent = '';
  for (const line of text.split('\n')) {
    const m = /^( *)(\S+)/.exec(line);
    if (!m || !/^[.\w-]+(\/[\w.-]+)*\/?(\.\w+)?$/.test(m[2])) continue;
    const indent = m[1].length;
    if (indent === 0) {
      out.push(m[2]);
      parent = m[2].endsWith('/') ? m[2] : '';
    } else if (indent <= 4 && parent) {
      out.push(parent + m[2]);
    }
  }
  return out;
}

/** Tracked folders only: what a clone has, not what a run left behind. */
const tracked = execFileSync('git', ['ls-files'], { cwd: new URL('.', root), encoding: 'utf8' }).split('\n');
const dirs = (path: string) => [
  ...new Set(
    tracked
      .filter((f) => f.startsWith(path) && f.slice(path.length).includes('/') && !f.slice(path.length).startsWith('.'))
      .map((f) => `${path}${f.slice(path.length).split('/')[0]}/`),
  ),
];

describe('README repository layout', () => {
  const named = entries(block);

  test('has a layout block', () => assert.ok(named.length > 20, 'README.md must have a "## Repository layout" code block'));

  test('every path it names exists', () => {
    const missing = named.filter((p) => !existsSync(new URL(p, root)));
    assert.deepEqual(missing, [], 'paths in the README layout that are not in the tree');
  });

  test('every folder of src/, test/ and test/helpers/, and every top-level folder, is named', () => {
    const wanted = [...dirs(''), ...dirs('src/'), ...dirs('src/').flatMap((d) => dirs(d)), ...dirs('test/'), ...dirs('test/helpers/')];
    const mentioned = new Set(named.map((p) => (p.endsWith('/') ? p : `${p}/`)));
    // A nested folder may be named in its parent's line (`saml.ts with saml/checks/`).
    const mentionedAnywhere = (d: string) => mentioned.has(d) || block.includes(d.split('/').slice(-2).join('/'));
    const unnamed = wanted.filter((d) => !mentionedAnywhere(d) && !d.includes('/fixtures/') && !d.startsWith('test/fixtures'));
    assert.deepEqual(unnamed, [], 'folders missing from the README layout');
  });
});
