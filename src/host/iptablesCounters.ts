import { runInNetns } from './exec.js';

/**
 * Rule counters from `iptables-save -c`: each rule line starts with [packets:bytes]. In the nat table a rule's
 * packets are the first packets of new flows that reached it (later packets of a flow skip nat).
 */
export interface RuleCounter {
  table: string;
  chain: string;
  packets: number;
  bytes: number;
  /** The rule as saved, without the counters and the leading "-A ". */
  rule: string;
  /** The rule's `--comment`, unquoted; null without one. */
  comment: string | null;
}

export function parseRuleCounters(saveText: string): RuleCounter[] {
  const out: RuleCounter[] = [];
  let table = '';
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    const m = /^\[(\d+):(\d+)\]\s+-A\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[4] ?? '';
    const comment = /--comment\s+(?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(rest);
    out.push({
      table,
      chain: m[3] ?? '',
      packets: Number(m[1]),
      bytes: Number(m[2]),
      rule: `${m[3] ?? ''} ${rest}`.trim(),
      comment: comment ? (comment[1] ?? comment[2] ?? null) : null,
    });
  }
  return out;
}

/** Packets of the rules in `chain` whose comment is `comment` and whose text contains `contains` (summed). */
export function packetsOf(rules: readonly RuleCounter[], chain: string, comment: string, contains = ''): number {
  return rules
    .filter((r) => r.chain === chain && r.comment === comment && r.rule.includes(contains))
    .reduce((s, r) => s + r.packets, 0);
}

/** The counters of one table inside a network namespace. */
export async function readRuleCounters(netns: string, table: string): Promise<RuleCounter[]> {
  const { stdout } = await runInNetns(netns, 'iptables-save', ['-c', '-t', table]);
  return parseRuleCounters(stdout);
}
