import { renderTable } from './table.js';
import { fmtMs, fmtP, int, num } from './format.js';
import type { DiffResult } from '../analysis/diff.js';
import type { Comparison } from '../types.js';

function ratio(c: Comparison): string {
  const est = c.rateRatio.estimate === null ? (c.candidateCount > 0 ? '∞' : '–') : num(c.rateRatio.estimate);
  return `x${est} (${num(c.rateRatio.lower)}–${c.rateRatio.upper === null ? '∞' : num(c.rateRatio.upper)})`;
}

/** `repro diff` for a terminal: per run and mode, old → new, the test's verdict, caveats, threshold failures. */
export function renderDiff(d: DiffResult): string {
  const out: string[] = [];
  for (const r of d.runs) {
    out.push(`${r.label} (${r.scenario})`);
    for (const c of r.caveats) out.push(`  caveat: ${c}`);
    if (r.kernelChanges.length > 0) {
      out.push(`  what differs between these kernels (${r.kernels.old} → ${r.kernels.new}, known conntrack/NAT changes by version):`);
      for (const k of r.kernelChanges) out.push(`    ${k.id} (${k.race}): ${k.old} → ${k.new}: ${k.meaning}`);
    }
    const rows: string[][] = [];
    for (const m of r.modes) {
      if (m.presence !== 'both') {
        rows.push([m.mode, m.presence === 'old-only' ? 'only in old' : 'only in new', '', '', '', '', '', '']);
        continue;
      }
      for (const c of m.metrics) {
        rows.push([
          c.metric === m.metrics[0]?.metric ? m.mode : '',
          c.metric,
          `${int(c.baselineCount)}/${int(c.baselineAttempts)}`,
          `${int(c.candidateCount)}/${int(c.candidateAttempts)}`,
          ratio(c),
          fmtP(c.pValue),
          c.verdict,
          c.verdict === 'inconclusive' && c.attemptsToSettle !== null ? `~${int(c.attemptsToSettle)} attempts` : '',
        ]);
      }
      rows.push(['', 'verdict', m.verdict.old ?? '-', m.verdict.new ?? '-', '', '', '', '']);
      rows.push(['', 'connect p99', fmtMs(m.p99Ms.old), fmtMs(m.p99Ms.new), '', '', '', '']);
      rows.push(['', 'connects/s', int(m.connectsPerSecond.old), int(m.connectsPerSecond.new), '', '', '', '']);
    }
    out.push(renderTable(['mode', 'metric', 'old', 'new', 'new/old rate (95 % CI)', 'p', 'change', 'settles at'], rows).replace(/^/gm, '  '), '');
  }
  if (d.unmatched.old.length > 0) out.push(`only in old: ${d.unmatched.old.join(', ')}`);
  if (d.unmatched.new.length > 0) out.push(`only in new: ${d.unmatched.new.join(', ')}`);
  if (d.runs.length === 0) out.push('nothing to compare: no scenario is in both');
  out.push(d.failures.length > 0 ? `FAIL: ${d.failures.length} threshold(s) crossed` : 'ok: no threshold crossed');
  for (const f of d.failures) out.push(`  ${f}`);
  return out.join('\n');
}
