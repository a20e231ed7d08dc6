import { describe, expect, it } from 'vitest';
import {
  endpointChain, endpointProbability, MAX_ENDPOINTS, noNatBatch, notrackBatch, notrackChain, ownedByAnyRun, ownedByRun, ownsNotrackPath,
  removalBatch, serviceBatch, serviceChain, untrackedChain,
} from '../../src/host/iptables.js';

const RUN = 'ab12cd';
const VIP = { runId: RUN, clientSubnet: '10.213.0.0/24', vip: '10.213.1.250', port: 53, backends: ['10.213.1.2', '10.213.1.3', '10.213.1.4'] };

describe('service VIP rules (kube-proxy iptables shape)', () => {
  it('jumps from PREROUTING for the clients and the VIP only, tagged with the run', () => {
    const lines = serviceBatch(VIP).split('\n');
    expect(lines[0]).toBe('*nat');
    expect(lines).toContain(`-I PREROUTING 1 -s 10.213.0.0/24 -d 10.213.1.250/32 -m comment --comment repro:${RUN} -j REPRO-SVC-${RUN}`);
    expect(lines.filter((l) => l.startsWith(':')).sort()).toEqual([`:REPRO-SEPA-${RUN} - [0:0]`, `:REPRO-SEPB-${RUN} - [0:0]`, `:REPRO-SEPC-${RUN} - [0:0]`, `:REPRO-SVC-${RUN} - [0:0]`]);
    expect(lines.at(-2)).toBe('COMMIT');
  });

  it('picks endpoints with statistic random 1/(n-i), the last one unconditionally', () => {
    const svc = serviceBatch(VIP).split('\n').filter((l) => l.startsWith(`-A ${serviceChain(RUN)}`));
    expect(svc).toEqual([
      `-A REPRO-SVC-${RUN} -m statistic --mode random --probability 0.3333333333 -j REPRO-SEPA-${RUN}`,
      `-A REPRO-SVC-${RUN} -m statistic --mode random --probability 0.5000000000 -j REPRO-SEPB-${RUN}`,
      `-A REPRO-SVC-${RUN} -j REPRO-SEPC-${RUN}`,
    ]);
  });

  it('makes every endpoint equally likely', () => {
    for (const n of [1, 2, 3, 5, 26]) {
      let reach = 1;
      const shares: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = endpointProbability(i, n);
        const take = p === null ? 1 : Number(p);
        shares.push(reach * take);
        reach *= 1 - take;
      }
      for (const s of shares) expect(s).toBeCloseTo(1 / n, 8);
    }
  });

  it('DNATs UDP and TCP to each endpoint on the service port', () => {
    const lines = serviceBatch(VIP).split('\n');
    expect(lines).toContain(`-A REPRO-SEPB-${RUN} -p udp -m udp -j DNAT --to-destination 10.213.1.3:53`);
    expect(lines).toContain(`-A REPRO-SEPB-${RUN} -p tcp -m tcp -j DNAT --to-destination 10.213.1.3:53`);
    expect(lines.filter((l) => l.includes('DNAT'))).toHaveLength(6);
  });

  it('with one backend has no statistic rule', () => {
    const one = serviceBatch({ ...VIP, backends: ['10.213.1.2'] });
    expect(one).not.toContain('statistic');
    expect(one).toContain(`-A REPRO-SVC-${RUN} -j REPRO-SEPA-${RUN}`);
  });

  it('refuses zero or too many backends', () => {
    expect(() => serviceBatch({ ...VIP, backends: [] })).toThrow(/1\.\.26/);
    expect(() => serviceBatch({ ...VIP, backends: Array.from({ length: MAX_ENDPOINTS + 1 }, () => '10.0.0.1') })).toThrow();
    expect(() => endpointChain(RUN, 26)).toThrow();
  });

  it("names chains that cleanup's pattern and the run's owner test recognise", () => {
    for (const c of [serviceChain(RUN), endpointChain(RUN, 0), endpointChain(RUN, 25), notrackChain(RUN), untrackedChain(RUN)]) {
      expect(ownedByAnyRun(c)).toBe(true);
      expect(ownedByRun(RUN)(c)).toBe(true);
      expect(ownedByRun('ffffff')(c)).toBe(false);
    }
    expect(endpointChain(RUN, 25)).toBe(`REPRO-SEPZ-${RUN}`);
  });

  it('is removed whole by the removal batch, other rules untouched', () => {
    const save = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':KUBE-SERVICES - [0:0]',
      `:REPRO-SVC-${RUN} - [0:0]`,
      `:REPRO-SEPA-${RUN} - [0:0]`,
      `-A PREROUTING -s 10.213.0.0/24 -d 10.213.1.250/32 -m comment --comment repro:${RUN} -j REPRO-SVC-${RUN}`,
      '-A PREROUTING -j KUBE-SERVICES',
      `-A REPRO-SVC-${RUN} -j REPRO-SEPA-${RUN}`,
      `-A REPRO-SEPA-${RUN} -p udp -m udp -j DNAT --to-destination 10.213.1.2:53`,
      'COMMIT',
    ].join('\n');
    const batch = removalBatch(save, ownedByRun(RUN)).split('\n');
    expect(batch).toContain(`-D PREROUTING -s 10.213.0.0/24 -d 10.213.1.250/32 -m comment --comment repro:${RUN} -j REPRO-SVC-${RUN}`);
    expect(batch.filter((l) => l.startsWith('-X')).sort()).toEqual([`-X REPRO-SEPA-${RUN}`, `-X REPRO-SVC-${RUN}`]);
    // Every chain is flushed before any is deleted (the service chain refers to the endpoint chains).
    expect(batch.findIndex((l) => l.startsWith('-X'))).toBeGreaterThan(batch.findLastIndex((l) => l.startsWith('-F')));
    expect(batch.join('\n')).not.toContain('KUBE-SERVICES');
  });
});

describe('NOTRACK path for DNS', () => {
  const path = { runId: RUN, clientSubnet: '10.213.0.0/24', serverSubnet: '10.213.1.0/24', port: 53 };

  it('untracks UDP DNS between the two subnets both ways in raw PREROUTING', () => {
    const lines = notrackBatch(path).split('\n');
    expect(lines.slice(0, 2)).toEqual(['*raw', `:REPRO-NOTRACK-${RUN} - [0:0]`]);
    expect(lines).toContain(`-A REPRO-NOTRACK-${RUN} -s 10.213.0.0/24 -d 10.213.1.0/24 -p udp -m udp --dport 53 -j CT --notrack`);
    expect(lines).toContain(`-A REPRO-NOTRACK-${RUN} -s 10.213.1.0/24 -d 10.213.0.0/24 -p udp -m udp --sport 53 -j CT --notrack`);
    expect(lines).toContain(`-I PREROUTING 1 -m comment --comment repro:${RUN} -j REPRO-NOTRACK-${RUN}`);
  });

  it('accepts the untracked answers in its own filter chain, hung from the forward hook', () => {
    const lines = notrackBatch({ ...path, forwardHook: 'DOCKER-USER' }).split('\n');
    expect(lines).toContain(`-A REPRO-UNTRACKED-${RUN} -s 10.213.1.0/24 -d 10.213.0.0/24 -p udp -m udp --sport 53 -m conntrack --ctstate UNTRACKED -j ACCEPT`);
    expect(lines).toContain(`-I DOCKER-USER 1 -m comment --comment repro:${RUN} -j REPRO-UNTRACKED-${RUN}`);
    expect(notrackBatch(path)).toContain(`-I FORWARD 1 -m comment --comment repro:${RUN} -j REPRO-UNTRACKED-${RUN}`);
  });

  it("is removed alone after its mode, leaving the run's other rules", () => {
    const save = [
      '*raw',
      `:REPRO-NOTRACK-${RUN} - [0:0]`,
      `-A PREROUTING -m comment --comment repro:${RUN} -j REPRO-NOTRACK-${RUN}`,
      `-A REPRO-NOTRACK-${RUN} -p udp -j CT --notrack`,
      'COMMIT',
      '*filter',
      `:REPRO-FWD-${RUN} - [0:0]`,
      `:REPRO-UNTRACKED-${RUN} - [0:0]`,
      `-A FORWARD -m comment --comment repro:${RUN} -j REPRO-UNTRACKED-${RUN}`,
      `-A FORWARD -m comment --comment repro:${RUN} -j REPRO-FWD-${RUN}`,
      'COMMIT',
    ].join('\n');
    const batch = removalBatch(save, ownsNotrackPath(RUN));
    expect(batch).toContain(`-D PREROUTING -m comment --comment repro:${RUN} -j REPRO-NOTRACK-${RUN}`);
    expect(batch).toContain(`-D FORWARD -m comment --comment repro:${RUN} -j REPRO-UNTRACKED-${RUN}`);
    expect(batch).toContain(`-X REPRO-UNTRACKED-${RUN}`);
    expect(batch).not.toContain('REPRO-FWD');
  });

  it('empties the NAT chain for the notrack mode', () => {
    expect(noNatBatch(RUN)).toBe(`*nat\n-F REPRO-NAT-${RUN}\nCOMMIT\n`);
  });
});
