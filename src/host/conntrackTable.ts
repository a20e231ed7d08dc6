import { run, runInNetns, CommandNotFoundError } from './exec.js';
import { PrerequisiteError } from '../errors.js';
import { parsePrefix, formatIpv4, type Prefix } from './subnets.js';

function maskString(p: Prefix): string {
  return formatIpv4(p.length === 0 ? 0 : 2 ** 32 - 2 ** (32 - p.length));
}

/**
 * Delete the conntrack entries whose original source lies in `subnet` (the harness's own clients),
 * never the host's whole table. Returns how many entries went.
 */
export async function deleteEntriesFromSubnet(subnet: string): Promise<number> {
  const p = parsePrefix(subnet);
  try {
    // conntrack prints every deleted entry on stdout (100 000 lookups: 100 000 lines) and the count on stderr.
    const r = await run('conntrack', ['-D', '-s', formatIpv4(p.network), '--mask-src', maskString(p)], { check: false, discardStdout: true });
    // conntrack exits 1 when nothing matched; its count line is what says the deletion ran.
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr + r.stdout);
    if (!m?.[1]) throw new Error(`conntrack -D -s ${subnet} failed: ${(r.stderr + r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`);
    return Number(m[1]);
  } catch (err) {
    if (err instanceof CommandNotFoundError) {
      throw new PrerequisiteError('conntrack not found: install conntrack-tools (Debian: apt-get install conntrack)');
    }
    throw err;
  }
}

/** Empty the conntrack table of a namespace of the harness's own (a table nobody else uses). */
export async function flushNetnsTable(netns: string): Promise<void> {
  const r = await runInNetns(netns, 'conntrack', ['-F'], { check: false });
  if (r.code !== 0 || !/table has been emptied/.test(r.stderr + r.stdout)) {
    throw new Error(`conntrack -F in ${netns} failed: ${(r.stderr + r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`);
  }
}
