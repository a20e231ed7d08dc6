import { errorMessage } from '../errors.js';
import { CommandFailedError, CommandNotFoundError, readFileIn, runInNamespace, type NetnsRef } from './exec.js';

/**
 * The NAT-relevant rule sets of a namespace, read only (the *-save tools and `nft list` change nothing):
 * iptables' nf_tables and legacy backends for IPv4 and IPv6, and native nftables as JSON.
 */
export type RulesetTool =
  | 'iptables-nft-save'
  | 'iptables-legacy-save'
  | 'iptables-save'
  | 'ip6tables-nft-save'
  | 'ip6tables-legacy-save'
  | 'ip6tables-save'
  | 'nft -j list ruleset';

export interface RulesetRead {
  tool: RulesetTool;
  /**
   * The tool's output; null when it could not be read (then `error` says why). Over RULESET_MAX_BYTES, the
   * iptables dump's complete lines before the cap (`error` says it was cut); an nft JSON dump so cut is null.
   */
  text: string | null;
  error: string | null;
}

const TIMEOUT_MS = 10_000;
/**
 * The most of one tool's output kept in memory. The size is the node's (kube-proxy writes a chain per service and
 * endpoint; ~10 MB for 10 000 services); the audit Job has 256 MiB for all seven reads.
 */
export const RULESET_MAX_BYTES = 24 * 1024 * 1024;
const NOT_INSTALLED = ' is not installed';

async function readOne(ns: NetnsRef, tool: RulesetTool): Promise<RulesetRead> {
  const [cmd, ...args] = tool.split(' ') as [string, ...string[]];
  try {
    const r = await runInNamespace(ns, cmd, args, { timeoutMs: TIMEOUT_MS, maxStdoutBytes: RULESET_MAX_BYTES });
    if (!r.truncated) return { tool, text: r.stdout, error: null };
    const capped = `output over ${RULESET_MAX_BYTES / 1024 / 1024} MiB: the tool was stopped there`;
    if (tool.startsWith('nft')) return { tool, text: null, error: `${capped}, and a cut JSON dump cannot be read` };
    // The complete lines before the cap are checked; what came after is not.
    return { tool, text: r.stdout.slice(0, r.stdout.lastIndexOf('\n') + 1), error: `${capped}; only the rules before it were checked` };
  } catch (err) {
    return { tool, text: null, error: err instanceof CommandNotFoundError || notFoundInNamespace(cmd, err) ? `${cmd}${NOT_INSTALLED}` : errorMessage(err) };
  }
}

/**
 * In another namespace the command runs under `ip netns exec` or `nsenter`, which report a missing one themselves
 * ("exec of "X" failed: No such file or directory", "failed to execute X: No such file or directory").
 */
function notFoundInNamespace(cmd: string, err: unknown): boolean {
  if (!(err instanceof CommandFailedError)) return false;
  const m = errorMessage(err);
  return m.includes(`exec of "${cmd}" failed: No such file or directory`) || m.includes(`failed to execute ${cmd}: No such file or directory`);
}

/**
 * One family's two backends. Legacy tables exist only when x_tables lists them (/proc/net/ip_tables_names, per
 * namespace): without any, there is nothing for the legacy tool to read, installed or not. Where a backend's own
 * tool is missing (iptables before 1.8 has neither variant), the plain *-save stands in for the backend it is built
 * for: its header says "(nf_tables)" for that one, anything else is legacy. It never stands for both, nor is read
 * beside the variant of its own backend (the same rules twice).
 */
async function readFamily(ns: NetnsRef, nft: RulesetTool, legacy: RulesetTool, plain: RulesetTool, names: string): Promise<RulesetRead[]> {
  // Absent: x_tables is not loaded, no legacy table. Unreadable (mode 0440: not root): the legacy tool is asked, and
  // says itself why it cannot read them, rather than the tables passing for empty.
  const legacyTables = await readFileIn(ns, names).catch((err: unknown) => (/ENOENT|No such file/.test(errorMessage(err)) ? '' : null));
  const [n, l] = await Promise.all([
    readOne(ns, nft),
    legacyTables !== null && legacyTables.trim() === '' ? Promise.resolve({ tool: legacy, text: '', error: null }) : readOne(ns, legacy),
  ]);
  const nftMissing = n.error?.endsWith(NOT_INSTALLED) ?? false;
  const legacyMissing = l.error?.endsWith(NOT_INSTALLED) ?? false;
  if (!nftMissing && !legacyMissing) return [n, l];
  const p = await readOne(ns, plain);
  if (p.text === null) return nftMissing ? [p, l] : [n, l];
  const backend = p.text.trim() === '' ? (nftMissing ? 'nft' : 'legacy') : /\(nf_tables\)/.test(p.text) ? 'nft' : 'legacy';
  if (backend === 'nft') return [nftMissing ? p : n, l];
  // Legacy-built: nf_tables rules an absent iptables-nft could have written still show in `nft list ruleset`.
  if (!legacyMissing) return [l];
  return nftMissing ? [p] : [n, p];
}

export async function readRulesets(ns: NetnsRef): Promise<RulesetRead[]> {
  const [v4, v6, nft] = await Promise.all([
    readFamily(ns, 'iptables-nft-save', 'iptables-legacy-save', 'iptables-save', '/proc/net/ip_tables_names'),
    readFamily(ns, 'ip6tables-nft-save', 'ip6tables-legacy-save', 'ip6tables-save', '/proc/net/ip6_tables_names'),
    readOne(ns, 'nft -j list ruleset'),
  ]);
  return [...v4, ...v6, nft];
}
