import { describe, expect, it } from 'vitest';
import { parseConntrackFlows, sourceTranslated } from '../../src/host/conntrackFlows.js';
import { summarizeOuterFlows } from '../../src/scenarios/vxlan/doubleSnat.js';

// Lines as `conntrack -L -p udp --dport 8472` printed them in node A's namespace on kernel 6.18 (legacy rules).
const REMAPPED = 'udp      17 29 src=10.213.250.1 dst=10.213.250.2 sport=54711 dport=8472 [UNREPLIED] src=10.213.250.2 dst=10.213.250.1 sport=8472 dport=11650 mark=0 use=1';
const KEPT = 'udp      17 29 src=10.213.250.1 dst=10.213.250.2 sport=35783 dport=8472 [UNREPLIED] src=10.213.250.2 dst=10.213.250.1 sport=8472 dport=35783 mark=0 use=1';
const INCOMING = 'udp      17 29 src=10.213.250.2 dst=10.213.250.1 sport=55186 dport=8472 [UNREPLIED] src=10.213.250.1 dst=10.213.250.2 sport=8472 dport=55186 mark=0 use=1';
const TCP = 'tcp      6 119 TIME_WAIT src=10.213.250.1 dst=10.213.252.10 sport=58912 dport=80 src=10.213.251.130 dst=10.213.251.0 sport=8080 dport=58699 [ASSURED] mark=0 use=1';
const SUMMARY = 'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.';

describe('parseConntrackFlows', () => {
  it('splits each line into its original and reply tuples and flags', () => {
    const [f] = parseConntrackFlows(REMAPPED);
    expect(f?.proto).toBe('udp');
    expect(f?.original).toEqual({ src: '10.213.250.1', dst: '10.213.250.2', sport: 54711, dport: 8472 });
    expect(f?.reply).toEqual({ src: '10.213.250.2', dst: '10.213.250.1', sport: 8472, dport: 11650 });
    expect(f?.flags).toEqual(['UNREPLIED']);
    expect(f?.line).toBe(REMAPPED);
  });

  it('reads TCP lines with a state word and flags after the reply tuple', () => {
    const [f] = parseConntrackFlows(TCP);
    expect(f?.proto).toBe('tcp');
    expect(f?.reply).toEqual({ src: '10.213.251.130', dst: '10.213.251.0', sport: 8080, dport: 58699 });
    expect(f?.flags).toEqual(['ASSURED']);
  });

  it('reads the extended format with its layer-3 prefix, and skips the summary line and noise', () => {
    const flows = parseConntrackFlows(['ipv4     2 ' + KEPT, SUMMARY, '', 'garbage line'].join('\n'));
    expect(flows).toHaveLength(1);
    expect(flows[0]?.original.sport).toBe(35783);
  });

  it('tells a translated source from an untouched one', () => {
    const [remapped, kept, tcp] = parseConntrackFlows([REMAPPED, KEPT, TCP].join('\n'));
    expect(remapped && sourceTranslated(remapped)).toBe(true);
    expect(kept && sourceTranslated(kept)).toBe(false);
    // masqueraded to the vxlan device's address: the reply goes to 10.213.251.0, not to 10.213.250.1
    expect(tcp && sourceTranslated(tcp)).toBe(true);
  });
});

describe('summarizeOuterFlows', () => {
  const flows = parseConntrackFlows([REMAPPED, KEPT, INCOMING, TCP, SUMMARY].join('\n'));

  it("counts only the node's own outer flows to the vxlan port, and those remapped", () => {
    expect(summarizeOuterFlows(flows, '10.213.250.1', 8472)).toEqual({ outerFlows: 2, outerFlowsRemapped: 1, example: REMAPPED });
  });

  it('finds nothing from another address or on another port', () => {
    expect(summarizeOuterFlows(flows, '10.213.250.9', 8472)).toEqual({ outerFlows: 0, outerFlowsRemapped: 0, example: null });
    expect(summarizeOuterFlows(flows, '10.213.250.1', 4789).outerFlows).toBe(0);
  });

  it('sees the peer as the sender of the incoming flows', () => {
    expect(summarizeOuterFlows(flows, '10.213.250.2', 8472)).toEqual({ outerFlows: 1, outerFlowsRemapped: 0, example: null });
  });
});
