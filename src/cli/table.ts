/**
 * A plain text table (columns padded to width; numbers right-aligned) for
 * human output. No borders, so it pastes well into issues.
 */

/** One column. */
export interface Column {
  header: string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Renders rows under headers; `paint` may colour a cell after padding (colour codes do not count toward width). */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  paint: (row: number, col: number, padded: string) => string = (_r, _c, s) => s,
): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (text: string, i: number) => (columns[i]!.right === true ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const lines = [columns.map((c, i) => pad(c.header, i)).join('  ').trimEnd()];
  rows.forEach((r, ri) => lines.push(columns.map((_c, i) => paint(ri, i, pad(r[i] ?? '', i))).join('  ').trimEnd()));
  return lines;
}

/** A latency in ns as `123 ns`, `4.56 µs`, `7.89 ms`, `1.23 s`. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  if (ns < 1000) return `${ns < 10 ? ns.toFixed(2) : ns < 100 ? ns.toFixed(1) : ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

/** Operations per second with a k/M/G suffix. */
export function formatOps(ops: number): string {
  if (!Number.isFinite(ops)) return '-';
  if (ops >= 1e9) return `${(ops / 1e9).toPrecision(3)}G`;
  if (ops >= 1e6) return `${(ops / 1e6).toPrecision(3)}M`;
  if (ops >= 1e3) return `${(ops / 1e3).toPrecision(3)}k`;
  return ops.toPrecision(3);
}
