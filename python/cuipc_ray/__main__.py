"""python3 -m cuipc_ray --spec FILE: the driver `cuipc probe --launcher ray` starts.

Writes one JSON line per event to stdout: {"event": "ready", ...} once Ray placed every actor
(the coordinator's start-up clock starts then), {"event": "rank-exit", ...} as each rank ends
(stopped ones too), {"event": "pending" or "note", "message": ...} for the user to read while
Ray places the ranks, and, when it cannot run, {"event": "error", "message": ...} and exit
status 3. The spec holds the probe's token: the driver removes the file as soon as it has
read it. SIGTERM and SIGINT stop the ranks and clean up (actors, placement group, a Ray it
started), and so does the end of the process that started it (its parent).
"""
import argparse
import json
import os
import sys

from . import PlacementError, SpecError, Stopped, run_probe_ranks
from ._process import Stopper, emit as _emit

def _remove_spec(path):
    try:
        os.unlink(path)
        # cuipc writes the spec into a folder of its own; remove that too when it is now empty.
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(folder).startswith("cuipc-ray-"):
            os.rmdir(folder)
    except OSError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m cuipc_ray", description="run cuipc probe ranks in Ray actors")
    parser.add_argument("--spec", required=True, help="the JSON spec cuipc wrote (removed once read)")
    args = parser.parse_args(argv)
    try:
        with open(args.spec, encoding="utf-8") as handle:
            spec = json.load(handle)
    except (OSError, ValueError) as error:
        _emit({"event": "error", "message": "cannot read the spec %s: %s" % (args.spec, error)})
        return 3
    finally:
        _remove_spec(args.spec)
    stopper = Stopper()
    stop, stopped_by = stopper.event, stopper.signals
    try:
        run_probe_ranks(
            spec,
            on_rank_exit=lambda result: _emit(dict(result, event="rank-exit")),
            stop_event=stop,
            on_ready=lambda info: _emit(dict(info, event="ready")),
            on_init=stopper.install,  # again after ray.init
            on_pending=lambda message: _emit({"event": "pending", "message": message}),
            on_note=lambda message: _emit({"event": "note", "message": message}),
        )
    except ImportError as error:
        _emit({"event": "error", "message": "Ray is not importable by %s (%s); install it with `pip install ray`" % (sys.executable, error)})
        return 3
    except Stopped as error:
        _emit({"event": "error", "message": "%s (%s)" % (error, ", ".join(stopped_by) or "its parent is gone")})
        return 3
    except (SpecError, PlacementError) as error:
        _emit({"event": "error", "message": str(error)})
        return 3
    except SystemExit:
        # Ray's own SIGTERM handler, when the signal came inside ray.init: cleaned up already.
        _emit({"event": "error", "message": "stopped while Ray started (SIGTERM)"})
        return 3
    except Exception as error:  # Ray's own failures (ConnectionError for a wrong address, ...)
        _emit({"event": "error", "message": "Ray failed: %s: %s" % (type(error).__name__, error)})
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
