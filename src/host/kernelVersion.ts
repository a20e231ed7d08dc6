import type { KernelVersion } from '../types.js';

/**
 * The upstream version of a kernel from what the machine says about it. Distributions put a placeholder where the
 * upstream sublevel goes (`uname -r`: Debian 4.19.0-20-amd64, Ubuntu 5.4.0-150-generic, RHEL 4.18.0-553.el8_10) and
 * say the real one elsewhere: Debian in the kernel's version string (`uname -v`, the tail of /proc/version:
 * "#1 SMP Debian 4.19.235-1 (2022-03-17)"), Ubuntu in /proc/version_signature ("Ubuntu 5.4.0-150.167-generic
 * 5.4.233"), a Debian kernel package in its Version ("6.1.192-3"). RHEL says it nowhere: its sublevel stays unknown.
 */
export interface KernelVersionInputs {
  /** `uname -r` (os.release()). */
  release: string;
  /** /proc/version, or `uname -v`; null or absent when it could not be read. */
  procVersion?: string | null;
  /** /proc/version_signature (Ubuntu kernels only); null or absent elsewhere. */
  versionSignature?: string | null;
  /** The Version of the kernel .deb the kernel came from (a `--kernel <deb>` run), e.g. "6.1.192-3". */
  debPackageVersion?: string | null;
}

/** These come from the kernel (and, in a VM, from a guest): only a short head of each is looked at. */
const MAX_INPUT = 4096;

interface Parsed {
  major: number;
  minor: number;
  /** null: the sublevel is a placeholder or missing. */
  sublevel: number | null;
}

/** "4.19.0-20-amd64", "4.18.0-553.el8_10.x86_64": a sublevel 0 followed by a distribution's ABI or build number. */
function parseRelease(release: string): Parsed | null {
  const m = /^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(.*)$/s.exec(release.trim());
  if (!m) return null;
  const sub = m[3];
  const placeholder = sub === undefined || (Number(sub) === 0 && /^-\d/.test(m[4] ?? ''));
  return { major: Number(m[1]), minor: Number(m[2]), sublevel: placeholder ? null : Number(sub) };
}

/** "Ubuntu 5.4.0-150.167-generic 5.4.233": the last field is the upstream stable version Ubuntu's kernel is based on. */
function parseSignature(text: string): Parsed | null {
  const m = /^Ubuntu \S+ (\d{1,4})\.(\d{1,4})\.(\d{1,6})\s*$/m.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]), sublevel: Number(m[3]) } : null;
}

/**
 * The "Debian 4.19.235-1" of the build's version string (after the "#": the compiler's own "(Debian 12.2.0-14)"
 * before it is not the kernel's), or Ubuntu's signature where a banner carries it in parentheses.
 */
function parseProcVersion(text: string): Parsed | null {
  const hash = text.indexOf('#');
  const tail = hash < 0 ? '' : text.slice(hash);
  const m = /\bDebian (\d{1,4})\.(\d{1,4})\.(\d{1,6})(?=[-~+\s]|$)/.exec(tail) ?? /\(Ubuntu \S+ (\d{1,4})\.(\d{1,4})\.(\d{1,6})\)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]), sublevel: Number(m[3]) } : null;
}

/**
 * A kernel package's Version: Debian's "6.1.192-3", "6.1.76-1~bpo11+1" carry the upstream version; Ubuntu's
 * "5.4.0-150.167" (ABI.upload) carries the same placeholder as its release.
 */
function parseDebVersion(text: string): Parsed | null {
  const m = /^(?:\d+:)?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(.*)$/s.exec(text.trim());
  if (!m) return null;
  const sub = m[3];
  const placeholder = sub === undefined || (Number(sub) === 0 && /^-\d+\.\d+/.test(m[4] ?? ''));
  return { major: Number(m[1]), minor: Number(m[2]), sublevel: placeholder ? null : Number(sub) };
}

function bounded(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : text.slice(0, MAX_INPUT);
}

/**
 * Pure: the upstream version, from the most specific source that names one for this kernel's series. A source whose
 * major.minor differs from `uname -r`'s is about another kernel and is ignored. Without any exact source the version
 * is uname's major.minor with `exact: false` (unless uname's own sublevel is real: Amazon Linux, Fedora, Arch ...).
 */
export function upstreamKernelVersion(inputs: KernelVersionInputs): KernelVersion {
  const uname = parseRelease(inputs.release);
  const sameSeries = (p: Parsed | null): p is Parsed => p !== null && (uname === null || (p.major === uname.major && p.minor === uname.minor));
  const candidates: [KernelVersion['source'], Parsed | null][] = [
    ['version-signature', parseSignature(bounded(inputs.versionSignature) ?? '')],
    ['proc-version', parseProcVersion(bounded(inputs.procVersion) ?? '')],
    ['deb-package', parseDebVersion(bounded(inputs.debPackageVersion) ?? '')],
    ['uname', uname],
  ];
  for (const [source, p] of candidates) {
    if (sameSeries(p) && p.sublevel !== null) return { version: `${p.major}.${p.minor}.${p.sublevel}`, source, exact: true };
  }
  if (uname) return { version: `${uname.major}.${uname.minor}`, source: 'uname', exact: false };
  return { version: inputs.release.slice(0, 64), source: 'uname', exact: false };
}
