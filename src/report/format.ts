/** Number formatting shared by every rendering (terminal, Markdown, HTML, diff). */

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function int(n: number): string {
  return n.toLocaleString('en-US');
}

/** A counter delta: "+3", "0", or "-" when the counter does not exist. */
export function delta(n: number | undefined): string {
  return n === undefined ? '-' : n === 0 ? '0' : n > 0 ? `+${int(n)}` : int(n);
}

/** A rate per 100 000 with its interval: "5 (1.03–14.6)". */
export function fmtRate(r: { per100k: number; lower: number; upper: number }): string {
  return `${num(r.per100k)} (${num(r.lower)}–${num(r.upper)})`;
}

/** Up to three significant digits, no exponent for everyday sizes. */
export function num(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x) || x >= Number.MAX_VALUE) return '∞';
  const a = Math.abs(x);
  if (a >= 1000) return int(Math.round(x));
  return String(Number(x.toPrecision(3)));
}

export function fmtP(p: number): string {
  return p < 0.001 ? '< 0.001' : String(Number(p.toPrecision(2)));
}
