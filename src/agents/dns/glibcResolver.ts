/**
 * What glibc's stub resolver does, as far as timing and resolv.conf go, for the agents that mimic it (raw,
 * burst) and for the resolv.conf the harness writes for the one that runs it (libc).
 *
 * glibc (res_send.c) sends a lookup's A and AAAA queries back to back from one UDP socket and waits
 * `timeout` seconds (default 5) for both answers; then it tries again, `attempts` times in all (default 2).
 * With one nameserver every try waits the full timeout (`retrans << ns` with ns = 0), so a lookup that lost
 * a query completes after about 5 s, one that lost it twice after about 10 s, or fails then.
 */
export const GLIBC_TIMEOUT_MS = 5000;
export const GLIBC_ATTEMPTS = 2;

/** resolv.conf options that change how a lookup's two queries travel. */
export const RESOLVER_OPTIONS = ['single-request', 'single-request-reopen', 'use-vc'] as const;
export type ResolverOption = (typeof RESOLVER_OPTIONS)[number];

/**
 * Wait of try `tryIndex` (0-based) for nameserver number `ns` of `nameservers`, as res_send.c computes it:
 * retrans << ns, divided by the nameserver count from the second server on, at least one second.
 */
export function tryTimeoutMs(timeoutMs: number, ns = 0, nameservers = 1): number {
  let ms = timeoutMs * 2 ** ns;
  if (ns > 0) ms = ms / nameservers;
  return Math.max(1000, ms);
}

/** When try `tryIndex` of a lookup with one nameserver gives up, counted from the lookup's start. */
export function tryDeadlineMs(tryIndex: number, timeoutMs = GLIBC_TIMEOUT_MS): number {
  return (tryIndex + 1) * tryTimeoutMs(timeoutMs);
}

/** After a try timed out: try again, or the lookup has failed. */
export function afterTimeout(tryIndex: number, attempts = GLIBC_ATTEMPTS): 'retry' | 'fail' {
  return tryIndex + 1 < attempts ? 'retry' : 'fail';
}

/** Completion time of a lookup whose first `lostTries` tries were lost: the timeout signature. */
export function stallSignatureMs(lostTries: number, timeoutMs = GLIBC_TIMEOUT_MS): number {
  return lostTries * tryTimeoutMs(timeoutMs);
}

export interface ResolvConf {
  nameserver: string;
  timeoutMs: number;
  attempts: number;
  options: readonly ResolverOption[];
}

/** The resolv.conf text: one nameserver, no search list (names are asked as given), explicit timing. */
export function renderResolvConf(c: ResolvConf): string {
  const opts = [`timeout:${Math.round(c.timeoutMs / 1000)}`, `attempts:${c.attempts}`, ...c.options];
  return [
    '# written by repro for this network namespace only; removed when the run ends',
    `nameserver ${c.nameserver}`,
    `options ${opts.join(' ')}`,
    '',
  ].join('\n');
}

/** resolv.h: RES_MAXRETRANS (timeout cap, s) and RES_MAXRETRY (attempts cap); RES_TIMEOUT and RES_DFLRETRY are the defaults. */
export const RES_MAXRETRANS = 30;
export const RES_MAXRETRY = 5;

/**
 * The timeout and attempts glibc takes from a resolv.conf text, as res_setoptions() reads `options` lines: the last
 * `timeout:n` / `attempts:n` wins, atoi() of the digits (0 for none), capped at RES_MAXRETRANS / RES_MAXRETRY;
 * without either, the defaults (5 s, 2).
 */
export function resolvConfTiming(text: string): { timeoutMs: number; attempts: number } {
  let timeoutS = GLIBC_TIMEOUT_MS / 1000;
  let attempts = GLIBC_ATTEMPTS;
  const atoi = (v: string): number => Number(/^\d*/.exec(v)?.[0] || '0');
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'options') continue;
    for (const w of words.slice(1)) {
      if (w.startsWith('timeout:')) timeoutS = Math.min(atoi(w.slice('timeout:'.length)), RES_MAXRETRANS);
      else if (w.startsWith('attempts:')) attempts = Math.min(atoi(w.slice('attempts:'.length)), RES_MAXRETRY);
    }
  }
  return { timeoutMs: timeoutS * 1000, attempts };
}

/** nsswitch.conf for the client namespaces: hosts from DNS only (no /etc/hosts, no systemd-resolved, no mDNS). */
export const NSSWITCH_DNS_ONLY = 'hosts: dns\n';
