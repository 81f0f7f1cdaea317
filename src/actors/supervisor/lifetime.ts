/**
 * Process lifetime: a supervisor left open must not hold the process
 * silently. Idle device workers do not hold the event loop (workers.ts
 * `holdWhileBusy`), so a program that forgets `close()` reaches the end of
 * its event loop; then, from a `beforeExit` hook, each supervisor still open
 * is reported once with a warning (code PT_WARN_UNCLOSED, the fix in the
 * message) and closed in order (detach, teardown, workers ended), after
 * which the process exits by itself.
 */

/** What the hook needs of a supervisor. */
export interface Closable {
  close(): Promise<void>;
}

/** The warning code emitted for a supervisor that was not closed. */
const kUnclosedWarningCode = 'PT_WARN_UNCLOSED';

const open = new Set<Closable>();
let hooked = false;
let warned = false;

function onBeforeExit(): void {
  if (open.size === 0) return;
  const left = [...open];
  open.clear();
  if (!warned) {
    warned = true;
    process.emitWarning(
      `pcipt: ${left.length === 1 ? 'a supervisor was' : `${left.length} supervisors were`} not closed; call \`await supervisor.close()\` when you are done with it (closing it now)`,
      { code: kUnclosedWarningCode },
    );
  }
  // Closing schedules work, so the loop runs again and beforeExit comes back once it is done.
  for (const s of left) void s.close().catch(() => {});
}

/** Registers an open supervisor (at creation). */
export function trackOpen(s: Closable): void {
  open.add(s);
  if (!hooked) {
    hooked = true;
    process.on('beforeExit', onBeforeExit);
  }
}

/** Forgets a supervisor (its close() began). */
export function trackClosed(s: Closable): void {
  open.delete(s);
}
