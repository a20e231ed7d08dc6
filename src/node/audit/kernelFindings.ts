import { kernelVersionWithSource, VENDOR_CAVEAT, type FixAssessment } from '../../analysis/kernelFixes.js';
import type { KernelVersion } from '../../types.js';
import type { Finding, Severity } from './findings.js';

const RACE_NAME: Record<FixAssessment['race'], string> = {
  'tcp-syn': 'the TCP SYN port race',
  dns: 'the DNS A/AAAA race',
  vxlan: 'VXLAN double SNAT',
  all: 'every race',
};

/**
 * kernel-missing-fix: each known change (analysis/kernelFixes.ts) that this kernel lacks or may lack, with what it
 * means for this node. Changes that only improve the counters are low; the ones that leave a race unresolved medium;
 * the ones the version cannot tell (uncertain, or unknown without the sublevel) low: they may well be there.
 */
export function kernelFindings(kernelRelease: string, version: KernelVersion, kernel: readonly FixAssessment[]): Finding[] {
  return kernel
    .filter((k) => k.status !== 'present')
    .map((k): Finding => {
      const severity: Severity = k.race === 'all' ? 'low' : k.status === 'absent' ? 'medium' : 'low';
      return {
        id: 'kernel-missing-fix',
        severity,
        subject: k.id,
        title: `kernel ${kernelRelease} ${k.status === 'absent' ? 'lacks' : 'may lack'}: ${k.change}`,
        evidence: [`uname -r: ${kernelRelease}`, `upstream version: ${kernelVersionWithSource(version)}`, `${k.status}: ${k.basis}`],
        why: `For ${RACE_NAME[k.race]} on this node: ${k.meaning}. ${VENDOR_CAVEAT}`,
        fix: 'a kernel that carries the change (or confirm with your distribution that it is backported)',
      };
    });
}
