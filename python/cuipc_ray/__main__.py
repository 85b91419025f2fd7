"""python3 -m cuipc_ray --spec FILE: the driver `cuipc probe --launcher ray` starts.

Writes one JSON line per rank to stdout as it ends ({"event": "rank-exit", ...}) and, when
it cannot run, {"event": "error", "message": ...} and exit status 3. SIGTERM stops the ranks
and cleans up (actors, placement group, a Ray it started).
"""
import argparse
import json
import signal
import sys
import threading

from . import SpecError, run_probe_ranks


def _emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m cuipc_ray", description="run cuipc probe ranks in Ray actors")
    parser.add_argument("--spec", required=True, help="the JSON spec cuipc wrote")
    args = parser.parse_args(argv)
    try:
        with open(args.spec, encoding="utf-8") as handle:
            spec = json.load(handle)
    except (OSError, ValueError) as error:
        _emit({"event": "error", "message": "cannot read the spec %s: %s" % (args.spec, error)})
        return 3
    stop = threading.Event()
    # The coordinator sends SIGTERM on timeout or abort: stop the ranks, then clean up.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_probe_ranks(spec, on_rank_exit=lambda result: _emit(dict(result, event="rank-exit")), stop_event=stop)
    except ImportError as error:
        _emit({"event": "error", "message": "Ray is not importable by %s (%s); install it with `pip install ray`" % (sys.executable, error)})
        return 3
    except (SpecError, RuntimeError) as error:
        _emit({"event": "error", "message": str(error)})
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
