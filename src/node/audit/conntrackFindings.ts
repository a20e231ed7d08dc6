import type { ConntrackStatReading, ConntrackStatsSource } from '../../host/conntrackStat.js';
import type { Finding, Severity } from './findings.js';

const WATCHED = ['insert_failed', 'drop', 'clashres', 'early_drop'] as const;

const MEANING: Record<(typeof WATCHED)[number], { withClashres: string; without: string }> = {
  insert_failed: {
    withClashres: 'insert_failed: a new entry lost a clash at confirm time that the kernel could not resolve (the TCP SYN port race, an unresolved UDP clash)',
    without: 'insert_failed: a new entry clashed at confirm time; without a clashres column this kernel may count resolved clashes here too',
  },
  drop: { withClashres: 'drop: packets conntrack dropped (the losers of unresolved clashes, a full table)', without: 'drop: packets conntrack dropped (clash losers, a full table)' },
  clashres: { withClashres: 'clashres: clashes the kernel resolved (UDP: the packet went through)', without: '' },
  early_drop: { withClashres: 'early_drop: entries evicted because the table was full', without: 'early_drop: entries evicted because the table was full' },
};

/** Sum of a counter over the CPU rows (null when the column is absent). */
function total(rows: readonly Record<string, number>[], column: string): number | null {
  if (!rows.some((r) => column in r)) return null;
  return rows.reduce((s, r) => s + (r[column] ?? 0), 0);
}

/** conntrack-counters: the race-relevant counters since boot, per CPU, with what they mean on this kernel. */
export function conntrackCounterFindings(netns: string, reading: ConntrackStatReading): Finding[] {
  const { stat, source } = reading;
  const hasClashres = stat.columns.includes('clashres');
  const present = WATCHED.filter((c) => stat.columns.includes(c));
  const perCpu = stat.rows.map((r, i) => `cpu${i}: ${present.map((c) => `${c}=${r[c] ?? 0}`).join(' ')}`);
  const sums = present.map((c) => `${c}=${total(stat.rows, c) ?? 0}`).join(' ');
  const insertFailed = total(stat.rows, 'insert_failed') ?? 0;
  const drop = total(stat.rows, 'drop') ?? 0;
  const earlyDrop = total(stat.rows, 'early_drop') ?? 0;
  const severity: Severity = insertFailed > 0 || drop > 0 || earlyDrop > 0 ? 'low' : 'info';
  const meanings = present.map((c) => (hasClashres ? MEANING[c].withClashres : MEANING[c].without)).filter(Boolean);
  return [
    {
      id: 'conntrack-counters',
      severity,
      subject: netns,
      title: `conntrack counters of ${netns} since boot: ${sums}`,
      evidence: [`source: ${sourceLine(source, reading.procfsError)}`, `total: ${sums}`, ...perCpu],
      why: `${meanings.join('; ')}. The counters belong to the network namespace: inside a pod or container they read 0 while the node's own move.`,
      fix: severity === 'info' ? 'nothing to do; repro watch follows them live' : 'follow them live with repro watch: a move of insert_failed during stalls points at the race; then repro tcp-syn --load burst on a lab',
    },
  ];
}

function sourceLine(source: ConntrackStatsSource, procfsError: string | undefined): string {
  return source === 'procfs' ? '/proc/net/stat/nf_conntrack' : `conntrack -S (netlink)${procfsError ? `; procfs: ${procfsError}` : ''}`;
}

export interface TableFacts {
  count: number | null;
  max: number | null;
  buckets: number | null;
}

/** conntrack-table-pressure: the table's count against its max, and the chain length its buckets allow. */
export function tablePressureFindings(netns: string, t: TableFacts): Finding[] {
  if (t.count === null || t.max === null || t.max <= 0) return [];
  const share = t.count / t.max;
  const severity: Severity = share >= 0.9 ? 'high' : share >= 0.75 ? 'medium' : 'info';
  const pct = Math.round(share * 1000) / 10;
  const chain = t.buckets && t.buckets > 0 ? t.max / t.buckets : null;
  return [
    {
      id: 'conntrack-table-pressure',
      severity,
      subject: netns,
      title: `conntrack table of ${netns}: ${t.count} of ${t.max} entries (${pct} %)`,
      evidence: [
        `net.netfilter.nf_conntrack_count = ${t.count}`,
        `net.netfilter.nf_conntrack_max = ${t.max}`,
        ...(t.buckets === null ? [] : [`net.netfilter.nf_conntrack_buckets = ${t.buckets}`]),
      ],
      why: `A full table drops new flows (early_drop, then drop), which looks like the race but is not.${chain === null ? '' : ` At max the hash chains average ${Math.round(chain * 10) / 10} entries per bucket.`}`,
      fix: severity === 'info' ? 'nothing to do' : 'raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets with it), or shorten the timeouts of closed flows',
    },
  ];
}

/** conntrack-stats-unreadable: neither source answered, and why each did not. */
export function statsUnreadableFindings(netns: string, reasons: Partial<Record<ConntrackStatsSource, string>>): Finding[] {
  return [
    {
      id: 'conntrack-stats-unreadable',
      severity: 'medium',
      subject: netns,
      title: `the conntrack stats of ${netns} could not be read`,
      evidence: Object.entries(reasons).map(([s, r]) => `${s}: ${r}`),
      why: 'Without insert_failed and drop there is no telling whether stalls on this node are the race.',
      fix: 'install conntrack-tools (netlink) and run as root (CAP_NET_ADMIN); kernels with CONFIG_NF_CONNTRACK_PROCFS also have /proc/net/stat/nf_conntrack',
    },
  ];
}
