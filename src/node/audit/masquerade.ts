import type { FixAssessment } from '../../analysis/kernelFixes.js';
import type { RulesetRead } from '../../host/rulesets.js';
import type { Finding, Severity } from './findings.js';
import { parseIptablesSave, targetOf } from './iptablesSave.js';
import { nftNatRules } from './nftRules.js';

/** Who writes a NAT rule, told by its chain (or nft table) and its comment; null when nothing tells. */
export function ownerOf(chain: string, spec: string): string | null {
  const text = `${chain} ${spec}`;
  if (/^KUBE-/.test(chain) || /\bkube-proxy\b/.test(chain)) return 'kube-proxy';
  if (/^FLANNEL/i.test(chain) || /flannel/i.test(text)) return 'flannel';
  if (/^cali-/.test(chain) || /^calico/i.test(chain)) return 'Calico';
  if (/^WEAVE/.test(chain) || /weave/i.test(spec)) return 'Weave Net';
  if (/^IP-MASQ/.test(chain) || /ip-masq-agent/.test(spec)) return 'ip-masq-agent';
  if (/^CNI-HOSTPORT/.test(chain)) return 'CNI portmap';
  if (/^CNI-/.test(chain)) return 'CNI bridge (ipMasq)';
  if (/^CILIUM_/.test(chain) || /\bcilium\b/i.test(spec)) return 'Cilium';
  if (/^DOCKER/.test(chain) || /^docker/.test(chain) || /\bdocker0\b|\bbr-[0-9a-f]{12}\b/.test(spec)) return 'Docker';
  return null;
}

const OWNER_FIX: Record<string, string> = {
  Docker:
    'Docker writes this rule and has no option for the flag: put your own rule with --random-fully before it (iptables -t nat -I POSTROUTING <same match> -j MASQUERADE --random-fully), or give the network com.docker.network.bridge.enable_ip_masquerade=false and masquerade it yourself',
  'kube-proxy': 'kube-proxy adds --random-fully itself when its iptables supports it (Kubernetes >= 1.16, iptables >= 1.6.2): upgrade kube-proxy or the iptables in its image; a hand edit is undone at its next sync',
  flannel: 'recent flannel releases add --random-fully when their iptables supports it: upgrade flannel; a hand edit is undone at its next sync',
  Calico: "Calico's Felix rewrites its chains: change the flag through Calico's own configuration or version, not by hand",
  'Weave Net': 'Weave Net rewrites its chains: change it through Weave, not by hand',
  'ip-masq-agent': "ip-masq-agent rewrites IP-MASQ-AGENT: use a release that supports --random-fully and enable it in its configuration",
  Cilium:
    "Cilium writes this rule in its iptables masquerading mode and has its own setting for the flag: iptablesRandomFully: true in its Helm values (agent flag --iptables-random-fully), or its BPF masquerading (bpf.masquerade=true), which does not use this rule; a hand edit is undone at its next sync",
  'CNI portmap': 'the CNI portmap plugin writes this rule: check whether your plugin version can add --random-fully',
  'CNI bridge (ipMasq)': 'the CNI bridge plugin writes this rule (ipMasq: true): check whether your plugin version can add --random-fully',
};

const GENERIC_FIX = 'add --random-fully to the rule (iptables >= 1.6.2; nft: masquerade fully-random / snat to ADDR fully-random)';

/** How often the no-flag race shows on this kernel: the port-search change decides (kernelFixes.ts, race tcp-syn). */
export function raceFrequency(kernel: readonly FixAssessment[]): { severity: 'high' | 'medium'; note: string } {
  const search = kernel.filter((k) => k.race === 'tcp-syn' && (k.id === 'port-search-random' || /port search/i.test(k.change)));
  if (search.some((k) => k.status === 'absent')) return { severity: 'high', note: `This kernel: ${search.find((k) => k.status === 'absent')?.meaning ?? 'the race is frequent'}.` };
  if (search.some((k) => k.status === 'uncertain' || k.status === 'unknown')) return { severity: 'medium', note: 'This kernel may or may not carry the randomised port search: the race may be frequent.' };
  return { severity: 'medium', note: search[0] ? `This kernel: ${search[0].meaning}.` : '' };
}

interface NatRule {
  /** iptables-nft-save etc., or nft. */
  tool: string;
  where: string;
  /** The chain and the rule, to tell the findings of one id apart. */
  subject: string;
  owner: string | null;
  evidence: string;
  flag: 'random-fully' | 'random' | 'none';
  statement: string;
}

function iptablesNatRules(read: RulesetRead): NatRule[] {
  if (read.text === null || read.tool.startsWith('nft')) return [];
  return parseIptablesSave(read.text)
    .filter((r) => r.table === 'nat' && (targetOf(r.spec) === 'MASQUERADE' || targetOf(r.spec) === 'SNAT'))
    .map((r) => ({
      tool: read.tool,
      where: `${r.table}/${r.chain}`,
      subject: `${r.table}/${r.chain}: ${r.line}`,
      owner: ownerOf(r.chain, r.spec),
      evidence: `${read.tool}: ${r.line}`,
      flag: /\s--random-fully\b/.test(r.spec) ? 'random-fully' : /\s--random\b/.test(r.spec) ? 'random' : 'none',
      statement: targetOf(r.spec) ?? '',
    }));
}

/** Tables that iptables-nft keeps in nf_tables, as the iptables-nft-save dumps list them. */
function iptablesNftTables(reads: readonly RulesetRead[]): Set<string> {
  const out = new Set<string>();
  for (const r of reads) {
    const nftBackend = r.text !== null && (r.tool.includes('-nft-') || (/^ip6?tables-save$/.test(r.tool) && /\(nf_tables\)/.test(r.text)));
    if (!nftBackend || r.text === null) continue;
    const family = r.tool.startsWith('ip6') ? 'ip6' : 'ip';
    for (const m of r.text.matchAll(/^\*(\S+)/gm)) out.add(`${family} ${m[1]}`);
  }
  return out;
}

function nativeNatRules(read: RulesetRead, skipTables: Set<string>): NatRule[] {
  if (read.text === null || !read.tool.startsWith('nft')) return [];
  return nftNatRules(read.text)
    .filter((r) => !skipTables.has(`${r.family} ${r.table}`))
    .map((r) => ({
      tool: 'nft',
      where: `table ${r.family} ${r.table} chain ${r.chain}`,
      subject: `table ${r.family} ${r.table} chain ${r.chain}: ${r.text}`,
      owner: ownerOf(r.table, r.chain),
      evidence: `nft: table ${r.family} ${r.table} chain ${r.chain}${r.handle === null ? '' : ` (handle ${r.handle})`}: ${r.text}`,
      flag: r.flags.includes('fully-random') ? 'random-fully' : r.flags.includes('random') ? 'random' : 'none',
      statement: r.statement,
    }));
}

/**
 * masquerade-without-random-fully: every MASQUERADE/SNAT rule (iptables, both backends and families) and every
 * native nftables masquerade/snat statement without the fully-random flag, one finding per rule. Rule sets that
 * could not be read or parsed are left to rulesetUnreadable.
 */
export function masqueradeFindings(reads: readonly RulesetRead[], kernel: readonly FixAssessment[]): Finding[] {
  const skip = iptablesNftTables(reads);
  const rules: NatRule[] = [];
  for (const read of reads) {
    rules.push(...iptablesNatRules(read));
    try {
      rules.push(...nativeNatRules(read, skip));
    } catch {
      // An nft dump that is not the JSON expected: rulesetUnreadable reports it.
    }
  }
  const freq = raceFrequency(kernel);
  return rules
    .filter((r) => r.flag !== 'random-fully')
    .map((r): Finding => {
      const name = r.statement === 'snat' || r.statement === 'SNAT' ? 'SNAT' : 'MASQUERADE';
      const by = r.owner ? ` (${r.owner})` : '';
      const base = {
        id: 'masquerade-without-random-fully' as const,
        subject: r.subject,
        evidence: [r.evidence],
        fix: r.owner ? (OWNER_FIX[r.owner] ?? GENERIC_FIX) : GENERIC_FIX,
      };
      if (r.flag === 'random') {
        return {
          ...base,
          severity: 'low',
          title: `${name} with --random but not --random-fully in ${r.where}${by}`,
          why: "--random randomises the port choice too; nftables documents it as equal to fully-random on kernels >= 5.0, and repro's tcp-syn runs measure it beside --random-fully. Only the fully-random flag is the documented fix.",
        };
      }
      return {
        ...base,
        severity: freq.severity,
        title: `${name} without --random-fully in ${r.where}${by}`,
        why: `Without a flag the NAT keeps a client's source port when it looks free: two clients that pick the same port at the same moment get one translated tuple, the second conntrack insert fails and its SYN is dropped (insert_failed, drop): connect() takes ~1 s. ${freq.note}`.trim(),
      };
    });
}

/**
 * ruleset-unreadable: a rule set that could not be read or parsed is a finding of its own, never a crash, at the
 * severity of the worst finding it can hide on this kernel (`hides`), so that a gate that could not look fails.
 */
export function rulesetUnreadable(reads: readonly RulesetRead[], hides: Severity): Finding[] {
  const out: Finding[] = [];
  for (const r of reads) {
    let problem = r.error;
    if (problem === null && r.text !== null && r.tool.startsWith('nft') && r.text.trim() !== '') {
      try {
        nftNatRules(r.text);
      } catch (err) {
        problem = `output not understood: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (problem === null) continue;
    out.push({
      id: 'ruleset-unreadable',
      severity: hides,
      subject: r.tool,
      title: r.text === null ? `${r.tool} could not be read: its rules were not checked` : `${r.tool} was read in part: the rest of its rules were not checked`,
      evidence: [problem],
      why: `A MASQUERADE or SNAT rule in it would go unchecked (on this kernel such a finding is ${hides}), so the other findings may be incomplete.`,
      fix: /not installed/.test(problem) ? `install the tool (Debian: apt-get install ${r.tool.startsWith('nft') ? 'nftables' : 'iptables'})` : 'run repro audit as root (CAP_NET_ADMIN) in the namespace to audit',
    });
  }
  return out;
}
