/**
 * A one-line progress bar on stderr (`\r`-redrawn on a TTY) with an ETA. Off
 * when CI is set, and under `--json` unless stderr is a TTY; on a non-TTY
 * stderr it prints one line per top-level step instead of redrawing. The ETA
 * extrapolates the time spent so far over the fraction done (shown once a
 * second has passed and 2% is done).
 */
import type { TextSink } from './io.js';
import { envFlag } from './io.js';

/** A progress reporter. */
export interface Progress {
  /** Reports `fraction` (0–1) done, currently running `label`. */
  update(fraction: number, label: string): void;
  /** Clears the bar (TTY) and stops reporting. */
  done(): void;
}

const kNoProgress: Progress = { update() {}, done() {} };

/** Whether progress should be shown (see the module comment). */
export function progressEnabled(stderr: TextSink, env: Record<string, string | undefined>, json: boolean): boolean {
  if (envFlag(env, 'CI')) return false;
  if (json && stderr.isTTY !== true) return false;
  return true;
}

/** `1m05s`, `12s`. */
export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The ETA text for `fraction` done after `elapsedMs`, or '' while it would be a guess. */
export function etaText(fraction: number, elapsedMs: number): string {
  if (fraction < 0.02 || fraction >= 1 || elapsedMs < 1000) return '';
  return `ETA ${formatEta((elapsedMs * (1 - fraction)) / fraction)}`;
}

/** Creates a progress reporter writing to `stderr` (a no-op when disabled). `now` is injectable for tests. */
export function createProgress(stderr: TextSink, opts: { enabled: boolean; title: string; now?: () => number }): Progress {
  if (!opts.enabled) return kNoProgress;
  const now = opts.now ?? Date.now;
  const startMs = now();
  const tty = stderr.isTTY === true;
  const width = 28;
  let lastLabel = '';
  let lastDraw = 0;
  let drawn = false;
  return {
    update(fraction: number, label: string) {
      const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
      if (!tty) {
        // A log, not a terminal: one line per top-level step (`mmio`, `irq`, …), not per redraw.
        const step = label.split(':')[0]!;
        const eta = etaText(f, now() - startMs);
        if (step !== lastLabel) stderr.write(`${opts.title}: ${step} (${Math.round(f * 100)}%${eta === '' ? '' : `, ${eta}`})\n`);
        lastLabel = step;
        return;
      }
      const t = now();
      if (t - lastDraw < 80 && label === lastLabel && f < 1) return;
      lastDraw = t;
      const eta = etaText(f, t - startMs);
      lastLabel = label;
      const filled = Math.round(f * width);
      // A pty without a size reports 0 columns.
      const cols = stderr.columns !== undefined && stderr.columns >= 20 ? stderr.columns : 80;
      const line = `${opts.title} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}%${eta === '' ? '' : ` ${eta}`} ${label}`;
      stderr.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
      drawn = true;
    },
    done() {
      if (tty && drawn) stderr.write('\r\x1b[K');
    },
  };
}
