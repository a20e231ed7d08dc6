import { UserError } from '../../errors.js';

/** `--modes a,b,c`: each a known name, none twice, at least one; a one-line UserError otherwise. */
export function parseModeList<M extends string>(text: string, known: readonly M[], what: string): M[] {
  const parts = String(text).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError(`--modes needs at least one of ${known.join(', ')}`);
  const out: M[] = [];
  for (const p of parts) {
    if (!(known as readonly string[]).includes(p)) throw new UserError(`--modes: unknown ${what} "${p}" (expected ${known.join(', ')})`);
    if (out.includes(p as M)) throw new UserError(`--modes: "${p}" is listed twice`);
    out.push(p as M);
  }
  return out;
}
