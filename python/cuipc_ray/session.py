"""python3 -m cuipc_ray.session: one Ray for many probes (what `cuipc bisect --launcher ray` starts).

Each probe's driver (python3 -m cuipc_ray) starts a local Ray of its own when no cluster is
found, which takes seconds every time; a bisect runs many probes. This process starts that
local Ray once, with the settings a probe's driver would use (_init_ray: loopback only, the
simulated devices as GPUs), says its address, and holds it until told to stop; every probe
then joins it by address. When a cluster is found (an address, RAY_ADDRESS, a running one),
nothing is started: it says so and exits, and the probes join that cluster themselves.

JSON lines on stdout: {"event": "cluster", "started": bool, "address": str or null,
"startup_s": float} once Ray is up (or found), {"event": "error", "message": ...} and exit 3
when it cannot start, {"event": "stopped"} after the local Ray was shut down. SIGTERM, SIGINT
and the end of its parent stop it.
"""
import argparse
import sys
import time

from . import _init_ray, _starts_local_ray
from ._process import PARENT_POLL_S, Stopper, emit as _emit

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m cuipc_ray.session", description="start one local Ray for several cuipc probes")
    parser.add_argument("--ranks", type=int, required=True, help="the ranks each probe places (a local Ray gets a CPU per rank at least)")
    parser.add_argument("--sim-devices", type=int, default=None, help="simulated devices a local Ray declares as GPUs (--backend sim)")
    parser.add_argument("--address", default=None, help="the cluster address the probes were given, if any")
    args = parser.parse_args(argv)
    stopper = Stopper()
    stop = stopper.event
    started = time.monotonic()
    try:
        import ray
    except ImportError as error:
        _emit({"event": "error", "message": "Ray is not importable by %s (%s); install it with `pip install ray`" % (sys.executable, error)})
        return 3
    if not _starts_local_ray(ray, args.address):
        # A cluster exists: every probe joins it by itself; nothing to hold here.
        _emit({"event": "cluster", "started": False, "address": args.address, "startup_s": time.monotonic() - started})
        return 0
    spec = {"address": args.address, "sim_devices": args.sim_devices, "ranks": args.ranks}
    try:
        _init_ray(ray, spec, True)
        stopper.install()  # ray.init puts its own SIGTERM handler in place
        address = ray.get_runtime_context().gcs_address
    except SystemExit:
        ray.shutdown()
        _emit({"event": "error", "message": "stopped while Ray started"})
        return 3
    except Exception as error:  # Ray's own failures
        ray.shutdown()
        _emit({"event": "error", "message": "a local Ray could not be started: %s: %s" % (type(error).__name__, error)})
        return 3
    try:
        _emit({"event": "cluster", "started": True, "address": address, "startup_s": time.monotonic() - started})
        while not stop.wait(PARENT_POLL_S):
            pass
    finally:
        ray.shutdown()
        _emit({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
