/**
 * Process lifetime: a supervisor left open must not hold the process
 * silently. Idle device workers do not hold the event loop (workers.ts
 * `holdWhileBusy`), so a program that forgets `close()` reaches the end of
 * its event loop; then, from a `beforeExit` hook, each supervisor still open
 * with devices is reported once with a warning (code PT_WARN_UNCLOSED, the
 * fix in the message) and from then on holds the process, so its devices
 * stay usable. It is never closed behind the program's back: the loop can
 * also drain while a program waits for something only a device worker
 * delivers (the fault campaign and the VM tier both met that), and closing
 * then would fail the program's next call with PT_ERR_CLOSED.
 */

/** What the hook needs of a supervisor. */
export interface Closable {
  /** Devices attached now. */
  deviceCount(): number;
  /** Holds the event loop until close(). */
  keepOpen(): void;
}

/** The warning code emitted for a supervisor that was not closed. */
const kUnclosedWarningCode = 'PT_WARN_UNCLOSED';

const open = new Set<Closable>();
let hooked = false;
let warned = false;

function onBeforeExit(): void {
  const left = [...open].filter((s) => s.deviceCount() > 0);
  if (left.length === 0) return;
  for (const s of left) open.delete(s);
  if (!warned) {
    warned = true;
    process.emitWarning(
      `pcipt: the event loop is empty but ${left.length === 1 ? 'a supervisor with attached devices is' : `${left.length} supervisors with attached devices are`} open; the process stays alive for them until \`await supervisor.close()\``,
      { code: kUnclosedWarningCode },
    );
  }
  for (const s of left) s.keepOpen();
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
