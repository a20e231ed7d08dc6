import { describe, expect, it } from 'vitest';
import {
  describePostrouting, kubePostroutingRules, kubeProxyNatBatch, MARKED_VXLAN_COMMENT, SNAT_COMMENT, type KubeService,
} from '../../src/scenarios/vxlan/kubeProxyRules.js';

const svc: KubeService = {
  clusterCidr: '10.213.1.0/24', serviceIp: '10.213.2.10', servicePort: 80, endpointIp: '10.213.1.130', endpointPort: 8080, vxlanPort: 8472,
};

describe('KUBE-POSTROUTING variants', () => {
  it('legacy masquerades whatever carries the mark and never clears it', () => {
    const rules = kubePostroutingRules('legacy', 'random-fully');
    expect(rules).toEqual([
      `-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -m comment --comment "${SNAT_COMMENT}" -j MASQUERADE --random-fully`,
    ]);
    expect(rules.join('\n')).not.toContain('xor');
  });

  it('patched returns unless marked, clears the mark with xor, then masquerades (kubernetes#92035)', () => {
    expect(kubePostroutingRules('patched', 'random-fully')).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
      `-A KUBE-POSTROUTING -m comment --comment "${SNAT_COMMENT}" -j MASQUERADE --random-fully`,
    ]);
  });

  it('takes the MASQUERADE flag from the mode', () => {
    expect(kubePostroutingRules('legacy', 'none')[0]).toMatch(/-j MASQUERADE$/);
    expect(kubePostroutingRules('patched', 'random')[2]).toMatch(/-j MASQUERADE --random$/);
  });

  it('describes the chain in one line without the -A prefixes', () => {
    expect(describePostrouting('patched', 'none')).toBe(
      `KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN ; KUBE-POSTROUTING -j MARK --xor-mark 0x4000 ; KUBE-POSTROUTING -m comment --comment "${SNAT_COMMENT}" -j MASQUERADE`,
    );
  });
});

describe('kubeProxyNatBatch', () => {
  const batch = kubeProxyNatBatch(svc, 'legacy', 'random-fully');
  const lines = batch.split('\n');

  it('is one nat-table transaction declaring every chain it uses', () => {
    expect(lines[0]).toBe('*nat');
    expect(lines.filter((l) => l === 'COMMIT')).toHaveLength(1);
    const declared = new Set(lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]));
    for (const l of lines.filter((x) => x.startsWith('-A '))) {
      expect(declared.has(l.split(' ')[1])).toBe(true);
      const target = /-j (\S+)/.exec(l)?.[1];
      if (target?.startsWith('KUBE-')) expect(declared.has(target)).toBe(true);
    }
  });

  it('marks service traffic from outside the cluster CIDR and DNATs it to the endpoint', () => {
    expect(batch).toContain('-A OUTPUT -j KUBE-SERVICES');
    expect(batch).toContain('-A KUBE-SERVICES -d 10.213.2.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-REPRO');
    expect(batch).toContain('-A KUBE-SVC-REPRO ! -s 10.213.1.0/24 -d 10.213.2.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ');
    expect(batch).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000');
    expect(batch).toContain('-j DNAT --to-destination 10.213.1.130:8080');
  });

  it('counts marked outer VXLAN flows before KUBE-POSTROUTING, with a rule that has no target', () => {
    const counting = lines.findIndex((l) => l.includes(MARKED_VXLAN_COMMENT));
    const jump = lines.indexOf('-A POSTROUTING -j KUBE-POSTROUTING');
    expect(counting).toBeGreaterThan(0);
    expect(counting).toBeLessThan(jump);
    expect(lines[counting]).toContain('--dport 8472 -m mark --mark 0x4000/0x4000');
    expect(lines[counting]).not.toMatch(/ -j /);
  });

  it('differs between the variants only in KUBE-POSTROUTING', () => {
    const patched = kubeProxyNatBatch(svc, 'patched', 'random-fully').split('\n');
    const notPost = (l: string): boolean => !l.startsWith('-A KUBE-POSTROUTING');
    expect(patched.filter(notPost)).toEqual(lines.filter(notPost));
    expect(patched.filter((l) => !notPost(l))).toEqual(kubePostroutingRules('patched', 'random-fully'));
  });
});
