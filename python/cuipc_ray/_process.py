"""What cuipc's Python processes (the Ray driver, `python -m cuipc_ray`, and bisect's Ray session,
`python -m cuipc_ray.session`) share: one JSON event a line on stdout for the Node side, and a
watch that stops them when whoever started them is gone (killed outright), and the SIGTERM/SIGINT
handling that asks them to stop."""
import json
import os
import signal
import sys
import threading

PARENT_POLL_S = 0.2


def emit(event):
    try:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass  # the Node side is gone; the parent watch stops this process


def _watch_parent(stop, parent):
    while not stop.wait(PARENT_POLL_S):
        if os.getppid() != parent:
            stop.set()


def watch_parent(stop):
    """Sets `stop` once this process's parent is gone (a daemon thread)."""
    threading.Thread(target=_watch_parent, args=(stop, os.getppid()), daemon=True).start()


class Stopper:
    """One stop flag for a process: set by SIGTERM or SIGINT (their names kept in `signals`) or by
    its parent's end. `install()` puts the handlers (back) in place: ray.init installs its own
    SIGTERM handler (sys.exit), so the callers install again after it."""

    def __init__(self):
        self.event = threading.Event()
        self.signals = []
        self.install()
        watch_parent(self.event)

    def _on_signal(self, signum, _frame):
        self.signals.append(signal.Signals(signum).name)
        self.event.set()

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
