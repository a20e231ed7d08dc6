/** One `-A CHAIN ...` line of an iptables-save dump, in the table it belongs to. */
export interface SavedRule {
  table: string;
  chain: string;
  /** The rule after `-A CHAIN `. */
  spec: string;
  /** The line exactly as the dump printed it. */
  line: string;
}

/** iptables-save / ip6tables-save output (any backend) into its rules, in order. Pure. */
export function parseIptablesSave(text: string): SavedRule[] {
  const rules: SavedRule[] = [];
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const m = /^-A (\S+) ?(.*)$/.exec(line);
    if (m) rules.push({ table, chain: m[1] as string, spec: m[2] as string, line });
  }
  return rules;
}

/** The target of a rule (`-j X`), or null for a rule that only counts. */
export function targetOf(spec: string): string | null {
  return /(?:^|\s)-j (\S+)/.exec(spec)?.[1] ?? null;
}
