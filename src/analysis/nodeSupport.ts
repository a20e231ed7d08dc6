/**
 * Whether a Node.js version lies in package.json's engines range, for the forms that range uses: alternatives
 * joined by `||`, each `^X.Y.Z`, `>=X.Y.Z`, `X` or `X.x`. null: a form this does not read (say nothing then).
 */
type Triple = [number, number, number];

function parse(v: string): Triple | null {
  const m = /^v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(v.trim());
  if (!m) return null;
  const n = (s: string | undefined): number => (s === undefined || s === 'x' ? 0 : Number(s));
  return [n(m[1]), n(m[2]), n(m[3])];
}

function cmp(a: Triple, b: Triple): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function nodeSatisfies(version: string, range: string): boolean | null {
  const v = parse(version.replace(/-.*$/, ''));
  if (!v || range.trim() === '') return null;
  let answer = false;
  for (const alt of range.split('||').map((s) => s.trim())) {
    const m = /^(\^|>=)?\s*(\S+)$/.exec(alt);
    const b = m?.[2] ? parse(m[2]) : null;
    if (!m || !b) return null;
    if (m[1] === '>=') answer ||= cmp(v, b) >= 0;
    else if (m[1] === '^') answer ||= v[0] === b[0] && cmp(v, b) >= 0;
    else answer ||= v[0] === b[0];
  }
  return answer;
}
