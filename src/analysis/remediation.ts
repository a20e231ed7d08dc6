/**
 * What to do about a finding, in words shared by `repro audit` (a node's rules) and the run reports (a run's
 * modes): one text per fix, so the ticket and the audit never disagree. Also the plain name of each mode a run
 * compares, for sentences ("MASQUERADE without a flag", not "none", which reads as "no NAT").
 */
import type { ModeResult, ResultFile } from '../types.js';

export const MASQUERADE_FULLY_RANDOM_FIX =
  'add --random-fully to the rule (iptables >= 1.6.2; nft: masquerade fully-random / snat to ADDR fully-random)';

export const VXLAN_PATCHED_CHAIN_FIX =
  'use a kube-proxy that writes the patched chain (RETURN unless marked, MARK --xor-mark 0x4000, then MASQUERADE; kubernetes/kubernetes#92035)';

export const DNS_NOTRACK_FIX =
  'a node-local DNS cache without conntrack (NOTRACK) avoids the race for every resolver';

const MASQUERADE_WORDS: Record<string, string> = {
  none: 'MASQUERADE without a flag',
  random: 'MASQUERADE --random',
  'random-fully': 'MASQUERADE --random-fully',
};

/** A mode as a sentence names it. */
export function modeInWords(scenario: ResultFile['scenario'], mode: string): string {
  if (scenario === 'vxlan') {
    const [rules, ...rest] = mode.split('+');
    // The flag is named only when the mode names one (kube-proxy's own is --random-fully).
    const flag = rest.find((p) => p in MASQUERADE_WORDS);
    const chain = rules === 'patched' ? "kube-proxy's patched KUBE-POSTROUTING" : "kube-proxy's legacy KUBE-POSTROUTING";
    const extra = [...(flag ? [MASQUERADE_WORDS[flag] ?? flag] : []), ...(rest.includes('offload-off') ? ['tx checksum offload off'] : [])];
    return extra.length > 0 ? `${chain} (${extra.join(', ')})` : chain;
  }
  if (mode in MASQUERADE_WORDS) return MASQUERADE_WORDS[mode] ?? mode;
  if (scenario === 'dns') {
    if (mode === 'notrack') return 'DNS untracked (NOTRACK, no NAT)';
    return `resolv.conf "options ${mode}" (MASQUERADE without a flag)`;
  }
  return mode;
}

const fixed = (m: ModeResult): boolean => m.verdict === 'not-reproduced';

/**
 * One line per finding of the run: which of its modes fixed what the baseline showed, and what to write on a
 * node. Empty when nothing was found (no mode reproduced, none hid the race).
 */
export function remediationLines(r: ResultFile): string[] {
  const found = r.modes.filter((m) => m.verdict === 'reproduced' || m.verdict === 'race-resolved');
  if (found.length === 0) return [];
  const fixers = r.modes.filter(fixed);
  const names = (ms: readonly ModeResult[]): string => ms.map((m) => modeInWords(r.scenario, m.mode)).join(', ');
  const out: string[] = [`Found with ${names(found)}.`];
  if (r.scenario === 'vxlan') {
    out.push(fixers.length > 0 ? `Not found with ${names(fixers)}.` : 'No mode of this run was free of it.');
    out.push(`To fix: ${VXLAN_PATCHED_CHAIN_FIX}. The drops it causes on older kernels also go with "netfilter: nat: never update the UDP checksum when it's 0" (5.7, 5.6.13, 5.4.41, 4.19.123, 4.14.181).`);
    return out;
  }
  const flagFix = fixers.find((m) => m.mode === 'random-fully') ?? fixers.find((m) => m.mode === 'random');
  if (flagFix) {
    // "Fixed" only when the comparison says so; a clean mode beside a rare race may just be luck.
    const c = r.comparisons?.find((x) => x.candidate === flagFix.mode && (x.metric === 'race' || x.metric === 'lost'));
    const words = modeInWords(r.scenario, flagFix.mode);
    out.push(c?.verdict === 'better'
      ? `${words} fixed it here: significantly fewer than ${modeInWords(r.scenario, c.baseline)}. The rule this run wrote for it: ${flagFix.rule}`
      : `${words} showed none here, but not significantly fewer than ${modeInWords(r.scenario, c?.baseline ?? found[0]?.mode ?? '')} (${c ? `comparison: ${c.verdict}` : 'not compared'}; more attempts would tell). The rule this run wrote for it: ${flagFix.rule}`);
  }
  out.push(`To fix a node's rule: ${MASQUERADE_FULLY_RANDOM_FIX}. \`repro audit\` names every rule on a node that lacks it and who wrote it.`);
  if (r.scenario === 'dns') {
    const resolv = fixers.filter((m) => m.mode.startsWith('single-request') || m.mode === 'use-vc');
    for (const m of resolv) out.push(`resolv.conf: "options ${m.mode}" fixed it here (glibc's resolver only; musl ignores it). In a pod: spec.dnsConfig.options: [{name: ${m.mode}}].`);
    if (fixers.some((m) => m.mode === 'notrack')) out.push(`Without conntrack: ${DNS_NOTRACK_FIX}.`);
  }
  if (!flagFix && fixers.length === 0) out.push('No mode of this run was free of it: compare the modes above with more attempts.');
  return out;
}
