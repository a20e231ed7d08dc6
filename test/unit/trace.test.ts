import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bpftraceProgram, confirmCandidate, netfilterDropReason, parseDropLine, symbolRange, IPS_CONFIRMED, IPS_DST_NAT_DONE, IPS_SRC_NAT_DONE } from '../../src/node/trace/program.js';
import { classify, intervalCheck, makeRecord, recordLine } from '../../src/node/trace/records.js';
import { parseEventLine, replyKey } from '../../src/node/trace/partners.js';
import { clean, ownerFromLabels } from '../../src/node/trace/owners.js';
import { startTicksOf } from '../../src/node/trace/tracerState.js';
import { reconcile } from '../../src/node/trace/tracer.js';
import { parseConntrackFlows } from '../../src/host/conntrackFlows.js';

// This kernel's (6.18) kfree_skb format, copied from /sys/kernel/tracing/events/skb/kfree_skb/format.
const FORMAT_618 = readFileSync(new URL('./fixtures/kfree_skb.format.6.18', import.meta.url), 'utf8');

// A line the tracepoint route printed beside the race lab (status 0x190: SRC_NAT, SRC_NAT_DONE, DST_NAT_DONE; not confirmed).
const RACE_LINE = 'D 5123456789012 4026532435 400 2 6 10.78.1.2 20006 10.78.9.2 80 10.78.9.2 80 10.78.9.1 20006';

describe('trace: the bpftrace programs', () => {
  it("reads NETFILTER_DROP's number from the format (12 on 6.18; 6 when it was added, 2df3041ba3be)", () => {
    expect(netfilterDropReason(FORMAT_618)).toBe(12);
    expect(netfilterDropReason('__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 7, "NETFILTER_DROP" }, { 8, "MAX" })')).toBe(7);
    expect(netfilterDropReason('print fmt: "skbaddr=%p protocol=%u location=%p"')).toBeNull();
  });

  it('filters the tracepoint by reason or by location, and by namespace', () => {
    const p = bpftraceProgram({ hook: 'kfree_skb-reason', netfilterDropReason: 12, netnsInodes: [11, 22] });
    expect(p).toMatch(/^tracepoint:skb:kfree_skb \/args->reason == 12\//);
    expect(p).toContain('if ($ct->ct_net.net->ns.inum == 11 || $ct->ct_net.net->ns.inum == 22)');
    const l = bpftraceProgram({ hook: 'kfree_skb-location', nfHookSlow: { start: 0xffff0010n, end: 0xffff0200n }, netnsInodes: [] });
    expect(l).toContain('/(uint64)args->location >= (uint64)kaddr("nf_hook_slow") && (uint64)args->location - (uint64)kaddr("nf_hook_slow") < 496/');
    expect(l).not.toContain('ns.inum ==');
    expect(l).toContain('if (1) {');
    expect(bpftraceProgram({ hook: 'fexit', netnsInodes: [] })).toMatch(/^kretfunc:__nf_conntrack_confirm \/retval == 0\//);
    const k = bpftraceProgram({ hook: 'kretprobe', netnsInodes: [] });
    expect(k).toContain('kprobe:__nf_conntrack_confirm { @skb[tid] = arg0; }');
    expect(k).toContain('if (retval == 0)');
    expect(() => bpftraceProgram({ hook: 'kfree_skb-reason', netnsInodes: [] })).toThrow(/reason number/);
  });

  it("finds a function's range in kallsyms, and none when addresses are hidden", () => {
    const syms = 'ffffffff81000000 T _stext\nffffffff81a00100 T nf_hook_slow\nffffffff81a00300 t nf_hook_slow_list\nffffffff81a00200 T nf_hook_entries_insert_raw\n';
    expect(symbolRange(syms, 'nf_hook_slow')).toEqual({ start: 0xffffffff81a00100n, end: 0xffffffff81a00200n });
    expect(symbolRange('0000000000000000 T nf_hook_slow\n0000000000000000 T x\n', 'nf_hook_slow')).toBeNull();
    expect(symbolRange(syms, 'absent')).toBeNull();
  });

  it('parses a drop line, and refuses anything else', () => {
    const d = parseDropLine(RACE_LINE);
    expect(d).toEqual({
      ktimeNs: 5123456789012n,
      netnsInode: 4026532435,
      status: 400,
      family: 4,
      protocol: 6,
      original: { src: '10.78.1.2', sport: 20006, dst: '10.78.9.2', dport: 80 },
      reply: { src: '10.78.9.2', sport: 80, dst: '10.78.9.1', dport: 20006 },
    });
    expect(parseDropLine('D 99 1 2 10 17 fd00::2 53 fd00::1 53 fd00::1 53 fd00::9 4000')?.family).toBe(6);
    for (const bad of ['Attaching 1 probe...', 'R', 'D 1 2 3', RACE_LINE.replace('D 5123456789012', 'D x'), RACE_LINE.replace('20006', '70000'), RACE_LINE.replace('10.78.1.2', '$(rm)'), RACE_LINE + ' extra']) {
      expect(parseDropLine(bad)).toBeNull();
    }
  });
});

describe('trace: kinds and records', () => {
  const d = parseDropLine(RACE_LINE)!;
  const partner = parseConntrackFlows('tcp 6 120 SYN_SENT src=10.78.2.2 dst=10.78.9.2 sport=20006 dport=80 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 sport=80 dport=20006')[0]!;

  it('an unconfirmed entry after both NAT hooks is a candidate; a confirmed one or one before SNAT is not', () => {
    const natDone = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
    expect(confirmCandidate('kfree_skb-reason', natDone)).toBe(true);
    expect(confirmCandidate('kfree_skb-reason', natDone | IPS_CONFIRMED)).toBe(false);
    // A FORWARD rule drops after DNAT's hook but before SNAT's.
    expect(confirmCandidate('kfree_skb-reason', IPS_DST_NAT_DONE)).toBe(false);
    expect(confirmCandidate('fexit', 0)).toBe(true);
  });

  it('the race needs a partner of another source holding the same reply tuple', () => {
    expect(classify('kfree_skb-reason', d, partner).kind).toBe('insert-race');
    expect(classify('kfree_skb-reason', d, null).kind).toBe('netfilter-drop');
    expect(classify('kretprobe', d, null).kind).toBe('confirm-failed');
    // Its own entry seen again (same source) is no partner.
    const self = parseConntrackFlows('tcp 6 120 SYN_SENT src=10.78.1.2 dst=10.78.9.2 sport=20006 dport=80 src=10.78.9.2 dst=10.78.9.1 sport=80 dport=20006')[0]!;
    expect(classify('kfree_skb-reason', d, self).kind).toBe('netfilter-drop');
    expect(classify('kfree_skb-reason', { ...d, status: IPS_DST_NAT_DONE }, partner).kind).toBe('netfilter-drop');
  });

  it('a record names the translated tuple, the client and the partner', () => {
    const r = makeRecord(new Date('2026-12-08T01:15:02.564Z'), 'kfree_skb-reason', 'netns:rtr', d, partner, { id: 'netns:c1' }, { id: 'pod:web/api-1', pod: 'api-1', namespace: 'web', container: 'app' });
    expect(r.translated).toEqual({ src: '10.78.9.1', sport: 20006, dst: '10.78.9.2', dport: 80 });
    expect(r.partner?.original.src).toBe('10.78.2.2');
    expect(r.hook).toMatch(/^tracepoint:skb:kfree_skb reason NETFILTER_DROP/);
    expect(recordLine(r)).toBe('01:15:02.564  insert-race  netns:rtr  tcp 10.78.1.2:20006 -> 10.78.9.2:80 as 10.78.9.1:20006  client netns:c1  partner 10.78.2.2:20006 pod:web/api-1 (app)');
  });

  it('the interval check is quiet when records and insert_failed agree, and names causes when not', () => {
    expect(intervalCheck('host', 3, { insert_failed: 3 }, 0, 0)).toBeNull();
    expect(intervalCheck('host', 0, { drop: 2 }, 0, 0)).toBeNull();
    expect(intervalCheck('host', 1, { insert_failed: 4, chainlength: 2 }, 1, 0)).toBe('! host: insert_failed +4 but 1 insert-race records: 2 from hash chains too long (chaintoolong counts in insert_failed, no race); 1 events lost by the buffers or drops beyond the lookups at once');
    expect(intervalCheck('host', 0, { insert_failed: 1 }, 0, 0)).toMatch(/drops the hook did not see/);
  });
});

describe('trace: partners and owners', () => {
  it('reads a NEW event, with or without a timestamp, into its flow and reply key', () => {
    const line = '[1796692241.330386]\t    [NEW] tcp      6 120 SYN_SENT src=10.78.1.2 dst=10.78.9.2 sport=32000 dport=80 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 sport=80 dport=48443';
    const f = parseEventLine(line)!;
    expect(replyKey(f.proto, f.reply)).toBe('tcp 10.78.9.2:80>10.78.9.1:48443');
    expect(parseEventLine(line.replace('[1796692241.330386]\t', ''))?.original.sport).toBe(32000);
    expect(parseEventLine(' [DESTROY] tcp 6 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1')).toBeNull();
  });

  it("names a pod by Kubernetes' labels, cleaned of what a pod may put there", () => {
    expect(ownerFromLabels('0123456789ab', '/k8s_app', { 'io.kubernetes.pod.name': 'api-1', 'io.kubernetes.pod.namespace': 'web', 'io.kubernetes.container.name': 'app' })).toEqual({ id: 'pod:web/api-1', pod: 'api-1', namespace: 'web', container: 'app' });
    expect(ownerFromLabels('0123456789ab', '/plain', {})).toEqual({ id: 'container:0123456789ab', container: 'plain' });
    expect(clean('evil\x1b[31m\nname')).toBe('evil??31m?name');
    expect(clean('x'.repeat(500))).toHaveLength(128);
  });

  it("reads a process's start time past a command name with spaces and parentheses", () => {
    expect(startTicksOf('1234 (bpf (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50')).toBe(987654);
  });
});

describe('trace: the interval check by kernel time', () => {
  it('counts every record before the reading, and of those inside it as many as the counter asks', () => {
    expect(reconcile([5n, 1n, 12n, 30n], 10n, 20n, 3)).toEqual({ counted: 3, rest: [30n] });
    expect(reconcile([5n, 1n, 12n, 30n], 10n, 20n, 2)).toEqual({ counted: 2, rest: [12n, 30n] });
    // Fewer in the counter than surely before it: all of those are counted (the check reports the difference).
    expect(reconcile([5n, 1n], 10n, 20n, 0)).toEqual({ counted: 2, rest: [] });
    expect(reconcile([], 10n, 20n, 4)).toEqual({ counted: 0, rest: [] });
  });
});
