import { run, runInNetns } from '../../host/exec.js';
import { readNetnsCounters } from '../../host/netstat.js';

/**
 * A positive control for "no checksum errors": before the modes run, a few UDP datagrams go from the sender to
 * the receiver with their checksum deliberately broken on the way out (an nftables rule in the sender's own
 * namespace rewrites the UDP checksum field after every other hook), and the receiver's UdpInCsumErrors must
 * count them. If it does not, the receiver is not verifying checksums on this path and a zero says nothing.
 */
export const PROBE_TABLE = 'repro_csum_probe';
/** The discard port: nothing listens there; the checksum is verified before the socket lookup. */
export const PROBE_PORT = 9;
export const PROBE_DATAGRAMS = 3;
/** A checksum value no sender computes for the probe's payload by chance (any fixed nonzero value would do). */
const BAD_CHECKSUM = '0x1234';

/** The nft script that installs the corrupting rule (priority 300: after NAT and every iptables hook). */
export function probeRuleset(port: number = PROBE_PORT): string {
  return [
    `table ip ${PROBE_TABLE} {`,
    '  chain out {',
    '    type filter hook postrouting priority 300; policy accept;',
    `    udp dport ${port} udp checksum set ${BAD_CHECKSUM}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export type ProbeOutcome =
  | { ran: true; sent: number; counted: number; verified: boolean }
  | { ran: false; reason: string };

/** Node's dgram, run by the harness's own node binary inside the sender's namespace. */
function senderScript(host: string, port: number, count: number): string {
  return (
    `const s=require('node:dgram').createSocket('udp4');let n=0;` +
    `const next=()=>{if(n++>=${count}){s.close();return;}s.send('repro checksum probe',${port},'${host}',next);};next();`
  );
}

export async function runChecksumProbe(senderNs: string, receiverNs: string, receiverAddress: string): Promise<ProbeOutcome> {
  const install = await run('ip', ['netns', 'exec', senderNs, 'nft', '-f', '-'], { input: probeRuleset(), check: false }).catch(() => null);
  if (!install || install.code !== 0) {
    return { ran: false, reason: `nft could not install the probe rule (${install ? install.stderr.trim().split('\n')[0] ?? '' : 'nft not found'})` };
  }
  try {
    const before = await readNetnsCounters(receiverNs);
    await runInNetns(senderNs, process.execPath, ['-e', senderScript(receiverAddress, PROBE_PORT, PROBE_DATAGRAMS)], { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const after = await readNetnsCounters(receiverNs);
    const counted = (after['UdpInCsumErrors'] ?? 0) - (before['UdpInCsumErrors'] ?? 0);
    return { ran: true, sent: PROBE_DATAGRAMS, counted, verified: counted >= PROBE_DATAGRAMS };
  } finally {
    await runInNetns(senderNs, 'nft', ['delete', 'table', 'ip', PROBE_TABLE], { check: false }).catch(() => undefined);
  }
}

/** One sentence for the result: what the control showed. */
export function describeProbe(p: ProbeOutcome): string {
  if (!p.ran) return `checksum probe not run: ${p.reason}`;
  return p.verified
    ? `node B verifies checksums on this path: ${p.counted} of ${p.sent} datagrams sent with a broken UDP checksum were counted (UdpInCsumErrors)`
    : `node B counted only ${p.counted} of ${p.sent} datagrams sent with a broken UDP checksum: it does not verify checksums on this path, so "0 checksum errors" proves nothing`;
}
