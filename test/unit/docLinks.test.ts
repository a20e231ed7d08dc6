/**
 * The README is short and points into docs/; the reference pages point at each other. Every relative link in
 * README.md and docs/*.md must name a file that exists, and a #fragment must name a heading of that file (GitHub's
 * anchor rule: lower case, punctuation but '-' and '_' dropped, spaces to '-').
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors GitHub generates for a Markdown file's headings (outside code fences), duplicates numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = githubAnchor(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative link targets of a Markdown file (inline links and images, outside code fences and code spans). */
function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) { fenced = !fenced; continue; }
    if (fenced) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;   // https:, mailto:
      links.push(target);
    }
  }
  return links;
}

/** Every broken relative link of `file` as "file: target (why)". */
function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const text = readFileSync(file, 'utf8');
  for (const link of relativeLinks(text)) {
    const [pathPart, fragment] = link.split('#', 2) as [string, string | undefined];
    const target = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
    if (!target.startsWith(root + '/') && target !== root) { problems.push(`${file}: ${link} (outside the repository)`); continue; }
    if (!existsSync(target)) { problems.push(`${file}: ${link} (no such file)`); continue; }
    if (fragment !== undefined && statSync(target).isFile() && target.endsWith('.md')) {
      if (!anchorsOf(readFileSync(target, 'utf8')).has(fragment)) problems.push(`${file}: ${link} (no such heading)`);
    }
  }
  return problems;
}

const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f));

describe('documentation links', () => {
  it('every docs page is reachable from README.md, and the README\'s links resolve', () => {
    // A page may be linked from another page (docs/trace.md from docs/nodes.md), not only from the README.
    const reached = new Set<string>();
    const queue = [join(root, 'README.md')];
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      if (reached.has(file) || !existsSync(file) || !file.endsWith('.md')) continue;
      reached.add(file);
      for (const l of relativeLinks(readFileSync(file, 'utf8'))) queue.push(resolve(dirname(file), l.split('#')[0]!));
    }
    expect(docs.filter((d) => !reached.has(d)).map((d) => d.slice(root.length + 1))).toEqual([]);
    expect(brokenLinks(join(root, 'README.md'))).toEqual([]);
  });

  it.each(docs.map((d) => [d.slice(root.length + 1), d]))('%s: every relative link resolves', (_name, file) => {
    expect(brokenLinks(file)).toEqual([]);
  });

  it('finds a broken file, a broken anchor, and passes the good ones (synthetic)', () => {
    expect(relativeLinks('[a](x.md) [b](https://e.org) `[c](y.md)` [d](#top)\n```\n[e](z.md)\n```')).toEqual(['x.md', '#top']);
    expect([...anchorsOf('# The result: `result.json` (`repro/result@1`)\n## `repro vxlan`\n## A\n## A')]).toEqual([
      'the-result-resultjson-reproresult1', 'repro-vxlan', 'a', 'a-1',
    ]);
  });
});
