"""cuipc's Ray payload: runs the probe's rank program inside Ray actors.

`cuipc probe --launcher ray` writes a spec (JSON) and runs `python3 -m cuipc_ray --spec FILE`.
The driver connects to the running Ray cluster (or starts a local one), makes a placement
group with one {GPU: 1, CPU: 1} bundle per rank (no CPU when the probe was started inside a Ray
task or actor, which holds its own until the probe ends: placement.py), starts one actor per
bundle with the asked num_gpus and runtime_env env_vars, and each actor runs the rank program
as a subprocess in its own environment (Ray's CUDA_VISIBLE_DEVICES included). What Ray gave each actor is passed
to its rank in CUIPC_RAY_* variables, so it lands in the probe's report.

Ray's start-up (connecting or starting a local Ray, placing the group, starting the actors)
has its own budget, startup_timeout_s, apart from the probe's per-step timeout: on_ready is
called when it is done, and the ranks' clock starts then. A group that cannot be placed is
refused at once, naming what the cluster has.

Python code that already holds a Ray session can call run_probe_ranks(spec) itself. Spec keys:
  ranks (int), num_gpus (0 < x <= 1), strategy (STRICT_PACK, PACK, SPREAD, STRICT_SPREAD),
  env_vars (runtime_env env_vars, dict), rank_argv (list of str: the rank program),
  rank_env (dict: the coordinator's variables for every rank), address (str or None),
  startup_timeout_s (float), sim_devices (int or None: a local Ray this driver starts
  declares that many simulated devices as GPUs, for cuipc's simulated backend),
  placement_group (str or None: an existing group's name or hex id; the ranks go into its
  bundles, it is neither created nor removed, and the actors reserve no CPU of their own),
  bundle_indices (list of int or None: each rank's bundle in it, default 0..ranks-1),
  namespace (str or None: the Ray namespace the driver joins; a placement_group name is looked
  up there, or, when None, in every namespace, where it must name exactly one live group).
Only Ray itself is needed; nothing else outside the standard library.

For Ray users (`pip install` of this folder): capture_env(label=...) takes the snapshot
`cuipc env capture --json` takes, in pure Python (inside an actor, no Node needed), and
probe(ranks=4, **options) runs a probe through the cuipc CLI and returns its report as a dict;
trace_runtime_env(DIR) gives the runtime_env that traces every CUDA process of a Ray job with
`cuipc trace`'s injection (then `cuipc trace report DIR`).
"""
import os
import signal
import subprocess
import threading
import time

from .api import ProbeError, probe
from .capture import capture_env
from .errors import ConnectError, PlacementError, SpecError, Stopped
from .placement import (CALLER_CHECK_S, bundle, bundle_text, caller_check, check_placeable, cluster_summary,
                        caller_gcs_address, existing_group, ray_caller)
from .probe_options import check_probe_options
from .trace import TraceSetupError, trace_runtime_env

NOSET_ENV = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"
SIM_DEVICES_ENV = "CUIPC_SIM_DEVICES"
STRATEGIES = ("STRICT_PACK", "PACK", "SPREAD", "STRICT_SPREAD")
STDERR_TAIL_BYTES = 4096
# How long a rank gets between SIGTERM and SIGKILL when the driver is told to stop.
KILL_GRACE_S = 1.0
DEFAULT_STARTUP_TIMEOUT_S = 120.0
# How often the driver's waits look at the stop event.
POLL_S = 0.2
# How long the driver tries to reach a cluster address before it says it cannot.
CONNECT_TIMEOUT_S = 8.0
# How often a wait for Ray to place the ranks says what is pending.
PENDING_REPORT_S = 5.0

__all__ = ["run_probe_ranks", "check_spec", "SpecError", "PlacementError", "ConnectError", "Stopped", "NOSET_ENV", "STRATEGIES",
           "capture_env", "probe", "ProbeError", "check_probe_options", "trace_runtime_env", "TraceSetupError"]


def check_spec(spec):
    """Returns the spec with defaults filled in; raises SpecError naming the bad key."""
    if not isinstance(spec, dict):
        raise SpecError("the spec must be a JSON object")
    ranks = spec.get("ranks")
    if not isinstance(ranks, int) or isinstance(ranks, bool) or not 1 <= ranks <= 64:
        raise SpecError("ranks must be an integer from 1 to 64")
    num_gpus = spec.get("num_gpus", 1)
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or not 0 < num_gpus <= 1:
        raise SpecError("num_gpus must be above 0 and at most 1 (one bundle of one GPU per rank)")
    strategy = spec.get("strategy", "STRICT_PACK")
    if strategy not in STRATEGIES:
        raise SpecError("strategy must be one of " + ", ".join(STRATEGIES))
    argv = spec.get("rank_argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise SpecError("rank_argv must be a non-empty list of strings")
    for key in ("env_vars", "rank_env"):
        value = spec.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise SpecError(key + " must map strings to strings")
    address = spec.get("address")
    if address is not None and not isinstance(address, str):
        raise SpecError("address must be a string or null")
    timeout = spec.get("startup_timeout_s", DEFAULT_STARTUP_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise SpecError("startup_timeout_s must be a positive number")
    sim_devices = spec.get("sim_devices")
    if sim_devices is not None and (isinstance(sim_devices, bool) or not isinstance(sim_devices, int) or not 1 <= sim_devices <= 64):
        raise SpecError("sim_devices must be an integer from 1 to 64, or null")
    group = spec.get("placement_group")
    if group is not None and (not isinstance(group, str) or not group):
        raise SpecError("placement_group must be a non-empty string (a name or a hex id), or null")
    namespace = spec.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not namespace.strip()):
        raise SpecError("namespace must be a non-empty string, or null")
    indices = spec.get("bundle_indices")
    if indices is not None:
        if group is None:
            raise SpecError("bundle_indices apply to an existing placement_group")
        if (not isinstance(indices, list) or len(indices) != ranks or len(set(indices)) != ranks
                or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)):
            raise SpecError("bundle_indices must be %d different bundle numbers, one per rank" % ranks)
    return {
        "placement_group": group,
        "bundle_indices": list(indices) if indices is not None else None,
        "ranks": ranks,
        "num_gpus": num_gpus,
        "strategy": strategy,
        "rank_argv": list(argv),
        "env_vars": dict(spec.get("env_vars", {})),
        "rank_env": dict(spec.get("rank_env", {})),
        "address": address,
        "startup_timeout_s": float(timeout),
        "sim_devices": sim_devices,
        "namespace": namespace,
    }


def _make_rank_actor(ray):
    # Defined here, not at module level, so that Ray ships the class by value: workers on
    # other nodes need not have this package installed. (So it uses no function of this module.)
    def signal_name(returncode):
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return "signal %d" % -returncode

    class RankActor:
        def __init__(self):
            self._process = None
            self._stopped = False
            self._lock = threading.Lock()

        def placement(self):
            """What Ray gave this actor, read inside it."""
            return {
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "node_id": str(ray.get_runtime_context().get_node_id()),
                "noset": os.environ.get(NOSET_ENV, "") != "",
                "actor_pid": os.getpid(),
            }

        def run_rank(self, rank, argv, rank_env):
            placement = self.placement()
            env = dict(os.environ)
            env.update(rank_env)
            env["CUIPC_RANK"] = str(rank)
            env["CUIPC_RAY_GPU_IDS"] = ",".join(placement["gpu_ids"])
            env["CUIPC_RAY_NODE_ID"] = placement["node_id"]
            # The actor's own value, kept apart: the rank's CUDA_VISIBLE_DEVICES is the same
            # variable, but this one says it came from Ray ("" when Ray left it unset).
            env["CUIPC_RAY_CUDA_VISIBLE_DEVICES"] = placement["cuda_visible_devices"] or ""
            env["CUIPC_RAY_NOSET"] = "1" if placement["noset"] else "0"
            with self._lock:
                if self._stopped:
                    return {"rank": rank, "pid": None, "code": None, "signal": None, "stderr_tail": "",
                            "placement": placement, "error": "stopped before the rank started"}
                # Its own session, so that terminate() takes the rank's children too.
                self._process = subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, start_new_session=True)
            tail = b""
            for chunk in iter(lambda: self._process.stderr.read1(65536), b""):
                tail = (tail + chunk)[-STDERR_TAIL_BYTES:]
            returncode = self._process.wait()
            return {
                "rank": rank,
                "pid": self._process.pid,
                "code": returncode if returncode >= 0 else None,
                "signal": signal_name(returncode) if returncode < 0 else None,
                "stderr_tail": tail.decode("utf-8", "replace"),
                "placement": placement,
            }

        def terminate(self):
            with self._lock:
                self._stopped = True
                process = self._process
            if process is None or process.poll() is not None:
                return
            for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    return
                try:
                    process.wait(timeout=wait)
                    return
                except subprocess.TimeoutExpired:
                    pass

    return RankActor


def _starts_local_ray(ray, address):
    """Whether ray.init(address) would start a local Ray rather than connect to a cluster."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
        return canonicalize_bootstrap_address(address) is None
    except Exception:  # a private API: fall back to Ray's documented rule, without the address file
        return address in (None, "local") and not os.environ.get("RAY_ADDRESS")


def _wait(ray, refs, deadline, stop_event, what, on_pending=None, check=None):
    """ray.get within the start-up deadline, looking at the stop event while waiting; on_pending(seconds) every PENDING_REPORT_S;
    check() every second from CALLER_CHECK_S on (it raises to give up)."""
    pending = list(refs)
    started = time.monotonic()
    next_report = started + PENDING_REPORT_S
    next_check = started + CALLER_CHECK_S
    while True:
        if stop_event is not None and stop_event.is_set():
            raise Stopped("stopped while " + what)
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=min(POLL_S, left))
        if len(ready) == len(pending):
            return True
        if check is not None and time.monotonic() >= next_check:
            next_check += 1.0
            check()
        if on_pending is not None and time.monotonic() >= next_report:
            next_report += PENDING_REPORT_S
            on_pending(time.monotonic() - started)


def cluster_address(address):
    """(host, port) of a cluster address to check before ray.init, or None (local, auto, or unparsable)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None or address in ("auto", "local"):
        return None
    default_port = 6379
    if address.startswith("ray://"):
        address, default_port = address[len("ray://"):], 10001
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit():
        return None
    return host, int(port)


def check_reachable(address, timeout_s=CONNECT_TIMEOUT_S):
    """Raises ConnectError naming the address when nothing answers there within timeout_s (ray.init would wait minutes)."""
    target = cluster_address(address)
    if target is None:
        return
    import socket
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            socket.create_connection(target, timeout=max(0.1, min(2.0, deadline - time.monotonic()))).close()
            return
        except OSError as error:
            last = error
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise ConnectError("no Ray cluster answers at %s (%s:%d) within %g s: %s; check the address (--ray-address, RAY_ADDRESS) and that the head node is up"
                       % (address or os.environ.get("RAY_ADDRESS"), target[0], target[1], timeout_s, last))


def _init_ray(ray, spec, local):
    namespace = {"namespace": spec["namespace"]} if spec.get("namespace") is not None else {}
    if not local:
        check_reachable(spec["address"])
        ray.init(address=spec["address"], **namespace)
        return
    # A Ray the driver starts itself listens on loopback only, like everything cuipc starts.
    options = {"_node_ip_address": "127.0.0.1", "include_dashboard": False, **namespace}
    if spec["sim_devices"] is not None:
        # No cluster and the simulated backend: the local Ray declares the simulated devices as
        # GPUs (and a CPU per rank at least), and its workers, so the ranks, see as many.
        os.environ[SIM_DEVICES_ENV] = str(spec["sim_devices"])
        options.update(num_gpus=spec["sim_devices"], num_cpus=max(os.cpu_count() or 1, spec["ranks"]))
    ray.init(address=spec["address"], **options)


def _rank_env_vars(ray, spec):
    """The runtime_env variables: the spec's, and for the simulated backend as many simulated devices as a node has GPUs
    (a cluster the user started need not have CUIPC_SIM_DEVICES in its own environment)."""
    env_vars = dict(spec["env_vars"])
    if spec["sim_devices"] is not None and SIM_DEVICES_ENV not in env_vars:
        gpus = [int(n.get("Resources", {}).get("GPU", 0)) for n in ray.nodes() if n.get("Alive")]
        env_vars[SIM_DEVICES_ENV] = str(min(64, max([spec["sim_devices"]] + gpus)))
    return env_vars


def run_probe_ranks(spec, on_rank_exit=None, stop_event=None, on_ready=None, on_init=None, on_pending=None, on_note=None):
    """Runs one rank per actor and returns the per-rank results, in rank order.

    Each result: rank, pid, code, signal, stderr_tail, placement (gpu_ids,
    cuda_visible_devices, node_id, noset, actor_pid), and error when the actor failed or the
    rank was stopped before it started. on_rank_exit(result) is called as each rank ends,
    stopped ones included. on_init() is called once Ray is initialised (Ray replaces the
    SIGTERM handler in ray.init: install yours there), on_ready(info) once every actor runs,
    on_pending(message) every few seconds while Ray has not placed the group (what is asked and
    what the cluster has), on_note(message) once for what the driver chose that the caller did not
    ask (bundles without a CPU under a Ray task or actor). A cluster address nothing answers at
    raises ConnectError within seconds.
    Setting stop_event stops the ranks early. Raises PlacementError when the ranks cannot be
    placed within startup_timeout_s, Stopped when stopped before they started. Ray is
    initialised here only when it is not already; then it is also shut down here. Actors and
    the placement group are always removed.
    """
    spec = check_spec(spec)
    import ray
    from ray.util import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    deadline = time.monotonic() + spec["startup_timeout_s"]
    started_ray = False
    group = None
    own_group = None  # the group this driver made (removed at the end); None for the caller's
    actors = []
    results = [None] * spec["ranks"]
    try:
        started_local = False
        # Started inside a Ray task or actor: it waits for this probe holding what it holds (the
        # only CPU, say), so the probe joins its cluster, the bundles ask no CPU and a group it
        # keeps from placing is refused soon.
        caller = ray_caller()
        if not ray.is_initialized():
            started_ray = True  # before init: a stop inside it must still shut down what it started
            if caller is not None and spec["address"] is None and not os.environ.get("RAY_ADDRESS"):
                spec["address"] = caller_gcs_address()
            started_local = _starts_local_ray(ray, spec["address"])
            _init_ray(ray, spec, started_local)
        if on_init is not None:
            on_init()
        if stop_event is not None and stop_event.is_set():
            raise Stopped("stopped while Ray started")
        if started_local:
            caller = None  # a Ray of its own: the caller holds nothing there
        cpu = 0 if caller is not None else 1
        check = None
        if spec["placement_group"] is None:
            check_placeable(ray, spec, started_local, SIM_DEVICES_ENV, cpu)
            group = placement_group([bundle(cpu) for _ in range(spec["ranks"])], strategy=spec["strategy"])
            own_group, indices = group, list(range(spec["ranks"]))
            asked = "%d bundles of %s, %s" % (spec["ranks"], bundle_text(cpu), spec["strategy"])
            if caller is not None:
                check = caller_check(ray, spec, caller, cpu, asked)
                if on_note is not None:
                    on_note("this probe runs inside the Ray task or actor %s (pid %d), which holds its resources until the probe ends: "
                            "the ranks' bundles ask no CPU (%s)" % (caller[1], caller[0], asked))
        else:
            # The caller's group (its engines may hold its bundles already): used, never removed.
            group, indices, found_in = existing_group(ray, spec)
            if found_in is not None and on_note is not None:
                on_note("placement group %r found in Ray namespace %r (the only live group of that name)" % (spec["placement_group"], found_in))
            asked = "bundles %s of placement group %s" % (indices, spec["placement_group"])

        def report_pending(seconds):
            if on_pending is not None:
                on_pending("waiting %.0f s for Ray to place the placement group (%s), pending: the cluster has %s" % (seconds, asked, cluster_summary(ray)))
        if not _wait(ray, [group.ready()], deadline, stop_event, "placing the group", report_pending, check):
            raise PlacementError(
                "the placement group (%s) was not ready within Ray's start-up budget of %g s; the cluster has %s"
                % (asked, spec["startup_timeout_s"], cluster_summary(ray)))
        actor_class = ray.remote(_make_rank_actor(ray))
        runtime_env = {"env_vars": _rank_env_vars(ray, spec)}
        for rank in range(spec["ranks"]):
            actors.append(actor_class.options(
                num_gpus=spec["num_gpus"], num_cpus=cpu if own_group is not None else 0, max_concurrency=2, runtime_env=runtime_env,
                scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=indices[rank]),
            ).remote())
        placed = [actor.placement.remote() for actor in actors]
        def report_starting(seconds):
            if on_pending is not None:
                on_pending("waiting %.0f s for Ray to start the %d actors (%s); the cluster has %s" % (seconds, spec["ranks"], asked, cluster_summary(ray)))
        if not _wait(ray, placed, deadline, stop_event, "starting the actors", report_starting):
            raise PlacementError("the %d actors did not start within Ray's start-up budget of %g s; the cluster has %s"
                                 % (spec["ranks"], spec["startup_timeout_s"], cluster_summary(ray)))
        try:
            placements = ray.get(placed)
        except Exception as error:  # an actor that could not start (runtime_env, worker crash)
            raise PlacementError("an actor could not start: %s: %s" % (type(error).__name__, error)) from error
        if on_ready is not None:
            on_ready({"placements": placements, "cluster": cluster_summary(ray), "started_ray": started_ray})
        pending = {}
        for rank, actor in enumerate(actors):
            pending[actor.run_rank.remote(rank, spec["rank_argv"], spec["rank_env"])] = rank

        def collect(ready):
            for ref in ready:
                rank = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as error:  # the actor died (RayActorError)
                    result = {"rank": rank, "pid": None, "code": None, "signal": None, "stderr_tail": "",
                              "placement": None, "error": "%s: %s" % (type(error).__name__, error)}
                results[rank] = result
                if on_rank_exit is not None:
                    on_rank_exit(result)

        while pending and not (stop_event is not None and stop_event.is_set()):
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            collect(ready)
        if pending:
            # Stopped early: each actor ends its rank (TERM, then KILL), and each rank's end is
            # reported as it comes; a rank that does not answer in time is reported as stopped.
            stops = [actor.terminate.remote() for actor in actors]
            ray.wait(stops, num_returns=len(stops), timeout=3 * KILL_GRACE_S)
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=KILL_GRACE_S)
            collect(ready)
            for ref, rank in list(pending.items()):
                pending.pop(ref)
                results[rank] = {"rank": rank, "pid": None, "code": None, "signal": None, "stderr_tail": "",
                                 "placement": placements[rank], "error": "stopped; its actor did not report the rank's end"}
                if on_rank_exit is not None:
                    on_rank_exit(results[rank])
        return results
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:
                pass
        if own_group is not None:
            try:
                remove_placement_group(own_group)
            except Exception:
                pass
        if started_ray:
            ray.shutdown()
