// Every relative link in README.md and docs/*.md must lead somewhere: to a file of the
// repository, and, when it names a heading (`page.md#anchor`), to a heading of that page.
// Pages move and headings get reworded; a broken link is found here, not by a reader.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';

/** The anchor GitHub gives a heading: its text without markup, lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The text outside fenced code blocks and code spans, where a link is a link. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '');
}

/** The anchors of a page's headings, numbered as GitHub numbers repeated ones. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const outsideCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const match of outsideCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Each relative link of a page that leads nowhere, with the reason. */
function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const text = readFileSync(file, 'utf8');
  for (const match of prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // another site
    const hash = target.indexOf('#');
    const linkPath = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = linkPath === '' ? file : path.resolve(path.dirname(file), linkPath);
    if (!existsSync(resolved)) {
      problems.push(`${target}: no file ${path.relative(repoRoot, resolved)}`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
      problems.push(`${target}: no heading with the anchor #${anchor} in ${path.relative(repoRoot, resolved)}`);
    }
  }
  return problems;
}

function pages(): string[] {
  const docs = path.join(repoRoot, 'docs');
  return [
    path.join(repoRoot, 'README.md'),
    ...readdirSync(docs).filter((name) => name.endsWith('.md')).sort().map((name) => path.join(docs, name)),
  ];
}

describe('documentation links', () => {
  it('lead to files and headings that exist, in README.md and every page of docs/', () => {
    const broken = pages().flatMap((file) => brokenLinks(file).map((problem) => `${path.relative(repoRoot, file)}: ${problem}`));
    assert.deepEqual(broken, []);
  });

  it('are checked at all: the README links to the docs, and the docs index to every page', () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    assert.match(readme, /\]\(docs\/README\.md\)/);
    const index = readFileSync(path.join(repoRoot, 'docs', 'README.md'), 'utf8');
    for (const page of pages().map((file) => path.basename(file)).filter((name) => name !== 'README.md')) {
      assert.ok(index.includes(`](${page})`), `docs/README.md links to docs/${page}`);
    }
  });
});

describe('the link check', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'pm-docs-links-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('names GitHub\'s anchors for headings with code, punctuation and repeats', () => {
    const anchors = anchorsOf([
      '# remove() and reset()',
      '## PM2 with `NODE_APP_INSTANCE` as the identity',
      "## Compaction: dead workers' files stop piling up",
      '## The `/metrics` route',
      '```sh',
      '# a comment, not a heading',
      '```',
      '## Options',
      '## Options',
    ].join('\n'));
    assert.deepEqual([...anchors], [
      'remove-and-reset',
      'pm2-with-node_app_instance-as-the-identity',
      'compaction-dead-workers-files-stop-piling-up',
      'the-metrics-route',
      'options',
      'options-1',
    ]);
  });

  it('finds a missing file and a missing heading, and leaves code and other sites alone', () => {
    writeFileSync(path.join(work, 'other.md'), '# Other\n\n## Known part\n');
    const page = path.join(work, 'page.md');
    writeFileSync(page, [
      '# Page',
      '[fine](other.md#known-part) [here](#page) [site](https://example.com/x.md)',
      '[gone](missing.md) [no heading](other.md#unknown-part) [not here](#nowhere)',
      '`[in code](missing-too.md)`',
      '```md',
      '[in a block](missing-three.md)',
      '```',
    ].join('\n'));
    assert.deepEqual(brokenLinks(page), [
      'missing.md: no file ' + path.relative(repoRoot, path.join(work, 'missing.md')),
      'other.md#unknown-part: no heading with the anchor #unknown-part in ' + path.relative(repoRoot, path.join(work, 'other.md')),
      '#nowhere: no heading with the anchor #nowhere in ' + path.relative(repoRoot, page),
    ]);
  });
});
