import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The architecture's one rule (docs/architecture.md): nothing below imports from above. Each source file belongs
 * to a layer; an import may only reach its own group or a lower layer. And no import cycle between files.
 */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Groups from the bottom up: a group may import its own files and any group of a lower rank. */
const LAYERS: readonly (readonly string[])[] = [
  ['types.ts', 'errors.ts', 'exitCodes.ts', 'histogram.ts', 'atomicWrite.ts'],
  ['native', 'agents', 'host', 'analysis'],
  ['report', 'runner'],
  ['backends', 'vm'],
  ['scenarios/shared'],
  // node/: the production diagnostics (audit, watch, trace), beside the scenarios: neither may import the other.
  ['scenarios/tcpSyn', 'scenarios/dns', 'scenarios/vxlan', 'node'],
  ['scenarios/registry.ts'],
  ['scenarioFile'],
  // matrix/: the same scenarios on several kernels (it reads the registry and the scenario files; runs cells as commands).
  ['matrix'],
  ['commands', 'bench', 'deploy'],
  ['cli.ts', 'prepack.ts'],
];

function groupOf(rel: string): { group: string; rank: number } {
  for (const [rank, groups] of LAYERS.entries()) {
    // The bottom layer is one group: its few files may use each other.
    for (const g of groups) if (rel === g || rel.startsWith(`${g}/`)) return { group: rank === 0 ? 'base' : g, rank };
  }
  throw new Error(`src/${rel} belongs to no layer: add it to LAYERS`);
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic and type-only), as src-relative paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] ?? '');
  return specs.map((s) => path.relative(SRC, path.resolve(path.dirname(file), s)).replace(/\.js$/, '.ts'));
}

const files = sources(SRC).map((f) => path.relative(SRC, f));
const graph = new Map(files.map((f) => [f, importsOf(path.join(SRC, f))]));

describe('layers', () => {
  it('every import reaches its own group or a lower layer', () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = groupOf(file);
      for (const dep of deps) {
        const to = groupOf(dep);
        if (to.group !== from.group && to.rank >= from.rank) upward.push(`${file} -> ${dep}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) visit(d, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('knows every file it checks (a moved file must not slip out of the rule)', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) expect(() => groupOf(f)).not.toThrow();
  });
});
