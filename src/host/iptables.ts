import { run, runInNetns, CommandNotFoundError, CommandFailedError } from './exec.js';
import { PrerequisiteError, UserError } from '../errors.js';
import type { MasqueradeMode } from '../types.js';

/**
 * The one module that writes iptables rules. Everything it writes lives in chains named REPRO-*
 * (created by the harness), reached from built-in chains by jumps tagged `-m comment --comment repro:<runId>`.
 * Changes go through `iptables-restore --noflush` as atomic batches; chains the harness did not create
 * are never flushed or reordered, only given (and later cleared of) the tagged jump.
 */

export const CHAIN_PREFIX = 'REPRO-';
export const COMMENT_PREFIX = 'repro:';

export type Table = 'nat' | 'filter' | 'raw' | 'mangle';

export function natChain(runId: string): string {
  return `${CHAIN_PREFIX}NAT-${runId}`;
}
export function forwardChain(runId: string): string {
  return `${CHAIN_PREFIX}FWD-${runId}`;
}
export function runComment(runId: string): string {
  return `${COMMENT_PREFIX}${runId}`;
}

export interface IptablesInfo {
  version: string;
  backend: string;
}

export function parseIptablesVersion(text: string): IptablesInfo {
  const m = /iptables v(\S+)(?:\s+\(([^)]+)\))?/.exec(text);
  if (!m?.[1]) throw new Error(`unrecognised iptables --version output: ${text.trim()}`);
  return { version: m[1], backend: m[2] ?? 'legacy' };
}

export async function iptablesInfo(): Promise<IptablesInfo> {
  try {
    const { stdout } = await run('iptables', ['--version']);
    return parseIptablesVersion(stdout);
  } catch (err) {
    if (err instanceof CommandNotFoundError) {
      throw new PrerequisiteError('iptables not found: install it (Debian: apt-get install iptables)');
    }
    throw err;
  }
}

export function masqueradeFlag(mode: MasqueradeMode): string {
  switch (mode) {
    case 'none': return '';
    case 'random': return ' --random';
    case 'random-fully': return ' --random-fully';
  }
}

/** The docker0-shaped rule: -s <client subnet> ! -o <client bridge> -j MASQUERADE [flag]. */
export function masqueradeRule(chain: string, clientSubnet: string, clientBridge: string, mode: MasqueradeMode): string {
  return `-A ${chain} -s ${clientSubnet} ! -o ${clientBridge} -j MASQUERADE${masqueradeFlag(mode)}`;
}

export interface SnatTopology {
  runId: string;
  clientSubnet: string;
  clientBridge: string;
  serverSubnet: string;
  /** Chain the forward accepts hang from: FORWARD (default), or DOCKER-USER on a Docker host, which Docker
   * evaluates before its isolation chains that would drop traffic between two of its networks. */
  forwardHook?: string;
  /** The namespace whose tables hold the rules; absent or null: the host's. */
  netns?: string | null;
}

/** Batch creating the run's chains and jumps: NAT chain (empty until a mode is set) and forward accepts. */
export function installBatch(t: SnatTopology): string {
  const nat = natChain(t.runId);
  const fwd = forwardChain(t.runId);
  const tag = `-m comment --comment ${runComment(t.runId)}`;
  return [
    '*nat',
    `:${nat} - [0:0]`,
    `-I POSTROUTING 1 ${tag} -j ${nat}`,
    'COMMIT',
    '*filter',
    `:${fwd} - [0:0]`,
    `-A ${fwd} -s ${t.clientSubnet} -d ${t.serverSubnet} -j ACCEPT`,
    `-A ${fwd} -s ${t.serverSubnet} -d ${t.clientSubnet} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-I ${t.forwardHook ?? 'FORWARD'} 1 ${tag} -j ${fwd}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** Batch replacing the NAT chain's content with the MASQUERADE rule of one mode. */
export function modeBatch(t: SnatTopology, mode: MasqueradeMode): string {
  const nat = natChain(t.runId);
  return ['*nat', `-F ${nat}`, masqueradeRule(nat, t.clientSubnet, t.clientBridge, mode), 'COMMIT', ''].join('\n');
}

/**
 * From `iptables-save` output, the batch that removes the harness's rules: tagged jumps in chains it did not create
 * are deleted one by one (-D with the same spec), its own chains are flushed and deleted.
 * `owns` decides which chain names and comment tags are the harness's (one run, or all runs for cleanup).
 */
export function removalBatch(saveText: string, owns: (name: string) => boolean): string {
  const out: string[] = [];
  let table: string | null = null;
  let dels: string[] = [];
  let chains: string[] = [];
  const flush = (): void => {
    if (table && (dels.length > 0 || chains.length > 0)) {
      out.push(`*${table}`, ...dels, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT');
    }
    dels = [];
    chains = [];
  };
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      flush();
      table = line.slice(1);
    } else if (line === 'COMMIT') {
      flush();
      table = null;
    } else if (line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0] ?? '';
      if (name.startsWith(CHAIN_PREFIX) && owns(name)) chains.push(name);
    } else if (line.startsWith('-A ')) {
      const chain = line.split(/\s+/)[1] ?? '';
      if (chain.startsWith(CHAIN_PREFIX) && owns(chain)) continue; // goes with its chain
      const target = /\s-[jg]\s+(\S+)/.exec(line)?.[1] ?? '';
      // The whole comment (iptables-save quotes one with spaces): "repro:<id> and more" is not our tag.
      const c = /\s--comment\s+(?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line);
      const tag = c?.[1] ?? c?.[2] ?? '';
      const ownedTarget = target.startsWith(CHAIN_PREFIX) && owns(target);
      const ownedTag = tag.startsWith(COMMENT_PREFIX) && owns(tag.slice(COMMENT_PREFIX.length));
      if (ownedTarget || ownedTag) dels.push(`-D ${line.slice(3)}`);
    }
  }
  flush();
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

/** Does this name (a chain or a comment's run id) belong to run runId? */
export function ownedByRun(runId: string): (name: string) => boolean {
  // Exactly the shapes the harness makes: the id itself (a comment's), or REPRO-<WORD>-<id> (a chain's).
  return (name) => name === runId || (/^REPRO-[A-Z]+-[0-9a-f]{6}$/.test(name) && name.slice(-7) === `-${runId}`);
}

/** Any name the harness could have made, for `repro cleanup`. */
export const ownedByAnyRun = (name: string): boolean =>
  /^[0-9a-f]{6}$/.test(name) || /^REPRO-[A-Z]+-[0-9a-f]{6}$/.test(name);

/** Add to the tables as they are (`--noflush`): whatever else they hold stays untouched. `netns` null: the host's. */
export async function applyBatch(batch: string, netns: string | null = null): Promise<void> {
  await restore(['--noflush'], batch, netns);
}

/** Replace whole tables inside a namespace of the harness's own, where the tables are the harness's alone. */
export async function restoreNetnsTables(netns: string, batch: string): Promise<void> {
  await restore([], batch, netns);
}

/**
 * Pure: what the user reads when iptables-restore refuses a batch: the command, the refused line of the batch (its
 * "line N:" names it, counted from 1 as iptables-restore counts) and iptables' whole output, not its first line
 * alone (on nf_tables the reason, e.g. "RULE_INSERT failed (No such file or directory)", is on a later line).
 */
export function restoreRefusal(args: readonly string[], netns: string | null, batch: string, output: string): string {
  const command = [...(netns === null ? [] : ['ip', 'netns', 'exec', netns]), 'iptables-restore', ...args].join(' ');
  const lines = batch.split('\n');
  const refused = [...output.matchAll(/\bline (\d+)\b/g)]
    .map((m) => Number(m[1]))
    .filter((n, i, all) => n >= 1 && n <= lines.length && all.indexOf(n) === i)
    .map((n) => `  refused line ${n}: ${lines[n - 1] ?? ''}`);
  const said = output.trim().split('\n').map((l) => `  ${l}`).join('\n');
  return [`iptables-restore refused the harness's rules (${command}):`, ...refused, said === '' ? '  (no output)' : said].join('\n');
}

async function restore(flags: readonly string[], batch: string, netns: string | null): Promise<void> {
  if (batch.trim() === '') return;
  const args = ['-w', '10', ...flags];
  try {
    await (netns === null ? run('iptables-restore', args, { input: batch }) : runInNetns(netns, 'iptables-restore', args, { input: batch }));
  } catch (err) {
    if (err instanceof CommandNotFoundError) {
      throw new PrerequisiteError('iptables-restore not found: install iptables (Debian: apt-get install iptables)');
    }
    if (err instanceof CommandFailedError) throw new UserError(restoreRefusal(args, netns, batch, err.output));
    throw err;
  }
}

export async function iptablesSave(netns: string | null = null): Promise<string> {
  return (netns === null ? await run('iptables-save', []) : await runInNetns(netns, 'iptables-save', [])).stdout;
}

export async function installRules(t: SnatTopology): Promise<void> {
  await applyBatch(installBatch(t), t.netns ?? null);
}

export async function setMasqueradeMode(t: SnatTopology, mode: MasqueradeMode): Promise<string> {
  await applyBatch(modeBatch(t, mode), t.netns ?? null);
  return masqueradeRule(natChain(t.runId), t.clientSubnet, t.clientBridge, mode).slice(3);
}

/**
 * The run's rules as `iptables-save` prints them while `mode` is set: the NAT chain's rule, the forward accepts
 * and the two tagged jumps. A mode is only valid if all of them are still there when it ends.
 */
export function expectedRules(t: SnatTopology, mode: MasqueradeMode): string[] {
  const nat = natChain(t.runId);
  const fwd = forwardChain(t.runId);
  // iptables-save quotes comments.
  const tag = `-m comment --comment "${runComment(t.runId)}"`;
  return [
    `-A POSTROUTING ${tag} -j ${nat}`,
    masqueradeRule(nat, t.clientSubnet, t.clientBridge, mode),
    `-A ${t.forwardHook ?? 'FORWARD'} ${tag} -j ${fwd}`,
    `-A ${fwd} -s ${t.clientSubnet} -d ${t.serverSubnet} -j ACCEPT`,
    `-A ${fwd} -s ${t.serverSubnet} -d ${t.clientSubnet} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
}

/** What of the run's rules is missing from `iptables-save` output, and what its own NAT chain holds besides. */
export function rulesChanged(saveText: string, t: SnatTopology, mode: MasqueradeMode): string[] {
  const lines = new Set(saveText.split('\n').map((l) => l.trim()));
  const expected = expectedRules(t, mode);
  const out = expected.filter((r) => !lines.has(r)).map((r) => `missing: ${r}`);
  const nat = `-A ${natChain(t.runId)} `;
  for (const l of lines) if (l.startsWith(nat) && !expected.includes(l)) out.push(`added: ${l}`);
  return out;
}

/** Check the run's rules where they live; returns what changed (nothing: they are as the run wrote them). */
export async function verifyRules(t: SnatTopology, mode: MasqueradeMode): Promise<string[]> {
  return rulesChanged(await iptablesSave(t.netns ?? null), t, mode);
}

/** Remove every rule and chain of one run (or, with ownedByAnyRun, of all runs). Returns how many rules/chains went. */
export async function removeRules(owns: (name: string) => boolean, netns: string | null = null, dryRun = false): Promise<number> {
  const batch = removalBatch(await iptablesSave(netns), owns);
  if (!dryRun) await applyBatch(batch, netns);
  return batch.split('\n').filter((l) => l.startsWith('-D ') || l.startsWith('-X ')).length;
}

/** Tables that `iptables-save` shows (with the nf_tables backend a table exists once anything touched it). */
export function tablesIn(saveText: string): string[] {
  return saveText.split('\n').filter((l) => l.startsWith('*')).map((l) => l.slice(1).trim());
}

/** A table that holds nothing but built-in chains with policy ACCEPT and no rules: what iptables creates on first use. */
export function isPristineTable(saveText: string, table: string): boolean {
  let inTable = false;
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inTable = line.slice(1) === table;
    else if (!inTable || line === 'COMMIT' || line.startsWith('#') || line === '') continue;
    else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (policy !== 'ACCEPT' || !/^[A-Z]+$/.test(name ?? '')) return false;
    } else return false;
  }
  return true;
}

/**
 * Drop the nf_tables tables the harness's first rule brought into being, once they are empty again,
 * so iptables-save reads as before the run. Tables that existed before, or hold anything, are left alone;
 * the legacy backend's tables cannot be removed and are left too.
 */
export async function dropTablesCreatedByRun(createdTables: readonly string[]): Promise<string[]> {
  if (createdTables.length === 0) return [];
  const info = await iptablesInfo();
  if (info.backend !== 'nf_tables') return [];
  const save = await iptablesSave();
  const dropped: string[] = [];
  for (const t of createdTables) {
    if (!tablesIn(save).includes(t) || !isPristineTable(save, t)) continue;
    const r = await run('nft', ['delete', 'table', 'ip', t], { check: false }).catch(() => null);
    if (r && r.code === 0) dropped.push(t);
  }
  return dropped;
}

/** The tables the harness writes to that do not exist yet: they will be created by its rules. */
export async function tablesToBeCreated(tables: readonly Table[] = ['nat', 'filter']): Promise<string[]> {
  const present = tablesIn(await iptablesSave());
  return tables.filter((t) => !present.includes(t));
}

// ---- DNS scenario: a kube-proxy-shaped service VIP, and a NOTRACK path for DNS -------------------------------

export function serviceChain(runId: string): string {
  return `${CHAIN_PREFIX}SVC-${runId}`;
}

/** Endpoint chains are lettered (SEPA, SEPB, ...): chain kinds are letters only, as cleanup's pattern expects. */
export const MAX_ENDPOINTS = 26;
export function endpointChain(runId: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_ENDPOINTS) throw new Error(`endpoint index ${index} is outside 0..${MAX_ENDPOINTS - 1}`);
  return `${CHAIN_PREFIX}SEP${String.fromCharCode(65 + index)}-${runId}`;
}
export function notrackChain(runId: string): string {
  return `${CHAIN_PREFIX}NOTRACK-${runId}`;
}
export function untrackedChain(runId: string): string {
  return `${CHAIN_PREFIX}UNTRACKED-${runId}`;
}

export interface ServiceVip {
  runId: string;
  /** Only the harness's clients are DNAT'd. */
  clientSubnet: string;
  vip: string;
  port: number;
  /** Endpoint addresses (the DNS server's backends), in order. */
  backends: readonly string[];
}

/**
 * kube-proxy's iptables mode picks endpoint i of n with probability 1/(n-i), the last one unconditionally,
 * which makes every endpoint equally likely; it prints the probability with ten decimals.
 */
export function endpointProbability(index: number, count: number): string | null {
  if (index === count - 1) return null;
  return (1 / (count - index)).toFixed(10);
}

/**
 * Batch creating the service VIP the way kube-proxy does: a tagged jump from nat PREROUTING to the service
 * chain, one `statistic --mode random` rule per endpoint jumping to the endpoint's chain, a DNAT per protocol
 * in each endpoint chain.
 */
export function serviceBatch(s: ServiceVip): string {
  if (s.backends.length < 1 || s.backends.length > MAX_ENDPOINTS) throw new Error(`a service needs 1..${MAX_ENDPOINTS} backends, got ${s.backends.length}`);
  const svc = serviceChain(s.runId);
  const seps = s.backends.map((_, i) => endpointChain(s.runId, i));
  const tag = `-m comment --comment ${runComment(s.runId)}`;
  const lines = ['*nat', `:${svc} - [0:0]`, ...seps.map((c) => `:${c} - [0:0]`)];
  s.backends.forEach((_, i) => {
    const p = endpointProbability(i, s.backends.length);
    lines.push(`-A ${svc}${p === null ? '' : ` -m statistic --mode random --probability ${p}`} -j ${seps[i]}`);
  });
  s.backends.forEach((addr, i) => {
    for (const proto of ['udp', 'tcp']) lines.push(`-A ${seps[i]} -p ${proto} -m ${proto} -j DNAT --to-destination ${addr}:${s.port}`);
  });
  lines.push(`-I PREROUTING 1 -s ${s.clientSubnet} -d ${s.vip}/32 ${tag} -j ${svc}`, 'COMMIT', '');
  return lines.join('\n');
}

export interface NotrackPath {
  runId: string;
  clientSubnet: string;
  serverSubnet: string;
  port: number;
  forwardHook?: string;
}

/**
 * Batch exempting the harness's DNS packets (UDP to and from `port` between its two subnets) from conntrack,
 * as a node-local DNS cache does, and accepting the untracked answers on their way back (a stateful accept
 * cannot: they carry no state). Untracked packets are never NATed.
 */
export function notrackBatch(n: NotrackPath): string {
  const raw = notrackChain(n.runId);
  const fwd = untrackedChain(n.runId);
  const tag = `-m comment --comment ${runComment(n.runId)}`;
  return [
    '*raw',
    `:${raw} - [0:0]`,
    `-A ${raw} -s ${n.clientSubnet} -d ${n.serverSubnet} -p udp -m udp --dport ${n.port} -j CT --notrack`,
    `-A ${raw} -s ${n.serverSubnet} -d ${n.clientSubnet} -p udp -m udp --sport ${n.port} -j CT --notrack`,
    `-I PREROUTING 1 ${tag} -j ${raw}`,
    'COMMIT',
    '*filter',
    `:${fwd} - [0:0]`,
    `-A ${fwd} -s ${n.serverSubnet} -d ${n.clientSubnet} -p udp -m udp --sport ${n.port} -m conntrack --ctstate UNTRACKED -j ACCEPT`,
    `-I ${n.forwardHook ?? 'FORWARD'} 1 ${tag} -j ${fwd}`,
    'COMMIT',
    '',
  ].join('\n');
}

/** Batch emptying the run's NAT chain: no MASQUERADE at all (the notrack mode). */
export function noNatBatch(runId: string): string {
  return ['*nat', `-F ${natChain(runId)}`, 'COMMIT', ''].join('\n');
}

/** Owner test for the NOTRACK path's two chains and the jumps to them only (the run's other rules stay). */
export function ownsNotrackPath(runId: string): (name: string) => boolean {
  const mine = new Set([notrackChain(runId), untrackedChain(runId)]);
  return (name) => mine.has(name);
}
