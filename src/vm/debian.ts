/**
 * `--kernel debian:<release>`: the current kernel of a Debian release (bullseye 5.10, bookworm 6.1, trixie 6.12),
 * fetched with apt through a private sources list, lists and cache in repro's cache: the machine's own apt
 * configuration is read (for its mirror) but never changed.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';

export interface DebianRelease {
  suite: string;
  number: string;
  /** The upstream series its kernel follows. */
  kernel: string;
}

export const DEBIAN_RELEASES: readonly DebianRelease[] = [
  { suite: 'bullseye', number: '11', kernel: '5.10' },
  { suite: 'bookworm', number: '12', kernel: '6.1' },
  { suite: 'trixie', number: '13', kernel: '6.12' },
];

/**
 * Pure: `debian` (null: the host's own release, through the host's apt) or `debian:<suite|number|kernel series>`
 * (that release); undefined when the spec is not a Debian one. An unknown release is a UserError naming the known.
 */
export function parseDebianSpec(spec: string): DebianRelease | null | undefined {
  if (spec === 'debian') return null;
  if (!spec.startsWith('debian:')) return undefined;
  const want = spec.slice('debian:'.length);
  const r = DEBIAN_RELEASES.find((d) => d.suite === want || d.number === want || d.kernel === want);
  if (!r) {
    const known = DEBIAN_RELEASES.map((d) => `debian:${d.suite} (${d.number}, ${d.kernel})`).join(', ');
    throw new UserError(`--kernel ${spec}: no such Debian release; known: ${known}`);
  }
  return r;
}

export interface DebianMirrors {
  /** The archive's URI (…/debian). */
  archive: string;
  /** The security archive's URI (…/debian-security), where a release's newest kernel often is; null when none. */
  security: string | null;
}

/** Pure: the URIs of the Debian archives an apt configuration names (one-line .list and deb822 .sources). */
export function debianMirrors(texts: readonly string[]): DebianMirrors | null {
  const uris: string[] = [];
  for (const t of texts) {
    for (const line of t.split('\n')) {
      const l = line.trim();
      const deb = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(l);
      const deb822 = /^URIs:\s*(.+)$/i.exec(l);
      if (deb?.[1]) uris.push(deb[1]);
      else if (deb822?.[1]) uris.push(...deb822[1].split(/\s+/));
    }
  }
  const clean = uris.filter((u) => /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/.test(u)).map((u) => u.replace(/\/+$/, ''));
  const archive = clean.find((u) => /\/debian$/.test(u));
  if (!archive) return null;
  return { archive, security: clean.find((u) => /\/debian-security$/.test(u)) ?? null };
}

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Pure: the private sources list of a release: its main suite and, when known, its security suite. */
export function privateSourcesList(m: DebianMirrors, suite: string, keyring: string = DEBIAN_KEYRING): string {
  const lines = [`deb [signed-by=${keyring}] ${m.archive} ${suite} main`];
  if (m.security !== null) lines.push(`deb [signed-by=${keyring}] ${m.security} ${suite}-security main`);
  return lines.join('\n') + '\n';
}

/** Pure: apt options that make apt-get/apt-cache use only the private list, lists and cache under `dir`. */
export function privateAptOptions(dir: string): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${path.join(dir, 'sources.list')}`,
    '-o', `Dir::Etc::SourceParts=${path.join(dir, 'sources.list.d')}`,
    '-o', `Dir::State::Lists=${path.join(dir, 'lists')}`,
    '-o', `Dir::Cache=${path.join(dir, 'cache')}`,
    '-o', 'APT::Architectures=amd64',
    // The directory is root's 0700 cache, which apt's unprivileged download user cannot enter.
    '-o', 'APT::Sandbox::User=root',
  ];
}

/** The host's apt sources (read only, for the mirror they name). */
export async function hostAptSources(): Promise<string[]> {
  const texts: string[] = [];
  texts.push(await readFile('/etc/apt/sources.list', 'utf8').catch(() => ''));
  const dir = '/etc/apt/sources.list.d';
  for (const f of (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.(list|sources)$/.test(n)).sort()) {
    texts.push(await readFile(path.join(dir, f), 'utf8').catch(() => ''));
  }
  return texts;
}
