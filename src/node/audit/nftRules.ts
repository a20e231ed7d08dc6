/**
 * Native nftables NAT statements from `nft -j list ruleset`. Pure. Statements that iptables-nft wrote show up as
 * `xt` compat targets (and their tables carry iptables' names); they are read from iptables-nft-save instead.
 */
export interface NftNatRule {
  family: string;
  table: string;
  chain: string;
  handle: number | null;
  statement: 'masquerade' | 'snat';
  flags: string[];
  /** The rule rendered back to nft's own syntax, as close as the JSON allows. */
  text: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function operand(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return /^[\w.:/-]+$/.test(v) && !/^[a-z]/i.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(operand).join(' ');
  const [key, body] = Object.entries(v)[0] ?? ['', null];
  if (key === 'meta' && isObject(body)) return String(body['key']);
  if (key === 'ct' && isObject(body)) return `ct ${String(body['key'])}`;
  if (key === 'payload' && isObject(body)) return `${String(body['protocol'])} ${String(body['field'])}`;
  if (key === 'prefix' && isObject(body)) return `${String(body['addr'])}/${String(body['len'])}`;
  if (key === 'range' && Array.isArray(body)) return body.map(operand).join('-');
  if (key === 'set' && Array.isArray(body)) return `{ ${body.map(operand).join(', ')} }`;
  if ((key === '&' || key === '|' || key === '^') && Array.isArray(body)) return body.map(operand).join(` ${key} `);
  return JSON.stringify(v);
}

function flagsOf(body: Json | undefined): string[] {
  if (!isObject(body)) return [];
  const f = body['flags'];
  if (typeof f === 'string') return [f];
  return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : [];
}

function statement(e: JsonObject): string {
  const [key, body] = Object.entries(e)[0] ?? ['', null];
  if (key === 'match' && isObject(body)) {
    const op = body['op'] === '==' || body['op'] === 'in' ? '' : `${String(body['op'])} `;
    return `${operand(body['left'])} ${op}${operand(body['right'])}`;
  }
  if (key === 'counter') return 'counter';
  if (key === 'masquerade') return ['masquerade', ...(isObject(body) && body['port'] !== undefined ? [`to :${operand(body['port'])}`] : []), flagsOf(body).join(',')].filter(Boolean).join(' ');
  if (key === 'snat' && isObject(body)) {
    const to = `${operand(body['addr'])}${body['port'] !== undefined ? `:${operand(body['port'])}` : ''}`;
    return ['snat to', to, flagsOf(body).join(',')].filter(Boolean).join(' ');
  }
  if (key === 'xt' && isObject(body)) return `xt ${String(body['type'])} "${String(body['name'])}"`;
  if (key === 'jump' || key === 'goto') return `${key} ${isObject(body) ? String(body['target']) : ''}`;
  return body === null ? key : `${key} ${JSON.stringify(body)}`;
}

/** The masquerade and snat statements of every native rule, with the flags each carries. */
export function nftNatRules(json: string): NftNatRule[] {
  const doc = JSON.parse(json) as Json;
  const items = isObject(doc) && Array.isArray(doc['nftables']) ? doc['nftables'] : null;
  if (!items) throw new Error('nft -j: no "nftables" list');
  const out: NftNatRule[] = [];
  for (const item of items) {
    const rule = isObject(item) ? item['rule'] : undefined;
    if (!isObject(rule) || !Array.isArray(rule['expr'])) continue;
    const exprs = rule['expr'].filter(isObject);
    for (const e of exprs) {
      const kind = 'masquerade' in e ? 'masquerade' : 'snat' in e ? 'snat' : null;
      if (!kind) continue;
      out.push({
        family: String(rule['family']),
        table: String(rule['table']),
        chain: String(rule['chain']),
        handle: typeof rule['handle'] === 'number' ? rule['handle'] : null,
        statement: kind,
        flags: flagsOf(e[kind]),
        text: exprs.map(statement).join(' '),
      });
    }
  }
  return out;
}
