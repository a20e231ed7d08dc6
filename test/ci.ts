/**
 * Whether the tests run under CI, where a missing root, iptables, docker or engine FAILS instead of skipping: any
 * non-empty CI other than false/0 (CI=true, CI=1, CI=yes... as CI services set it). One place decides, so a CI that
 * sets CI=1 can never turn the integration suite into skips.
 */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env['CI'] ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0';
}
