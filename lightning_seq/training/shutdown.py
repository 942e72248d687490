"""A stop request (SIGTERM from ``timeout``, a scheduler or ``kill``) ends a run even when it is stuck.

Lightning answers SIGTERM gracefully: its handler sets a flag that the loops check between batches. A
process blocked inside a collective (a DDP rank waiting on a peer that never comes) never returns to
Python, so that handler never runs, and the run would ignore the request until the collective's
30-minute timeout. The signal still arrives, though: for any signal with a Python handler (Lightning
installs one for SIGTERM during ``fit`` and ``test``; outside them SIGTERM's default action ends the
process anyway), Python's C-level handler writes the signal's number to a wakeup file descriptor at
once. A thread watching that descriptor gives the graceful path ``grace_s`` seconds, then ends the
process with the status a SIGTERM death has (143).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from lightning_seq.errors import BadValue

SIGTERM_EXIT = 128 + signal.SIGTERM
GRACE_ENV = "LIGHTNING_SEQ_SIGTERM_GRACE_S"
# Long enough for the graceful stop to finish the step in progress (seconds on a loaded machine with a big model)
# and write its checkpoint; a scheduler's kill after SIGTERM usually comes later still (SLURM's KillWait: 30 s+).
DEFAULT_GRACE_S = 60.0


def end_stuck_process_on_sigterm(grace_s: float | None = None) -> bool:
    """Start the watchdog; returns False where it cannot run (not the main thread, or another wakeup fd is in use).

    ``grace_s`` defaults to ``$LIGHTNING_SEQ_SIGTERM_GRACE_S``, else 60 seconds.
    """
    if grace_s is None:
        try:
            grace_s = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S))
        except ValueError:
            raise BadValue(f"{GRACE_ENV}={os.environ[GRACE_ENV]}: give a number of seconds") from None
    if threading.current_thread() is not threading.main_thread():
        return False
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the C handler must never block
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    if previous != -1:  # someone else (an asyncio loop) owns the wakeup fd: leave it to them
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)
        return False
    threading.Thread(target=_watch, args=(read_end, grace_s), name="sigterm-watchdog", daemon=True).start()
    return True


def _watch(read_end: int, grace_s: float) -> None:
    while True:
        received = os.read(read_end, 64)
        if not received:
            return
        if signal.SIGTERM in received:
            time.sleep(grace_s)
            # Still alive: the main thread is stuck where no Python code runs. Say so and end without cleanup.
            message = f"error: stopped by SIGTERM; no clean exit within {grace_s:g} s, so the process ends now\n"
            os.write(2, message.encode())  # not sys.stderr: the stuck main thread may hold its lock
            os._exit(SIGTERM_EXIT)
