"""cuipc's Ray payload: runs the probe's rank program inside Ray actors.

`cuipc probe --launcher ray` writes a spec (JSON) and runs `python3 -m cuipc_ray --spec FILE`.
The driver connects to the running Ray cluster (or starts a local one), makes a placement
group with one {GPU: 1, CPU: 1} bundle per rank, starts one actor per bundle with the asked
num_gpus and runtime_env env_vars, and each actor runs the rank program as a subprocess in
its own environment (Ray's CUDA_VISIBLE_DEVICES included). What Ray gave each actor is passed
to its rank in CUIPC_RAY_* variables, so it lands in the probe's report.

Python code that already holds a Ray session can call run_probe_ranks(spec) itself. Spec keys:
  ranks (int), num_gpus (0 < x <= 1), strategy (STRICT_PACK, PACK, SPREAD, STRICT_SPREAD),
  env_vars (runtime_env env_vars, dict), rank_argv (list of str: the rank program),
  rank_env (dict: the coordinator's variables for every rank), address (str or None),
  placement_timeout_s (float).
Only Ray itself is needed; nothing else outside the standard library.
"""
import os
import signal
import subprocess
import threading

NOSET_ENV = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"
STRATEGIES = ("STRICT_PACK", "PACK", "SPREAD", "STRICT_SPREAD")
STDERR_TAIL_BYTES = 4096
# How long a rank gets between SIGTERM and SIGKILL when the driver is told to stop.
KILL_GRACE_S = 1.0

__all__ = ["run_probe_ranks", "check_spec", "SpecError", "NOSET_ENV", "STRATEGIES"]


class SpecError(ValueError):
    """A spec that cannot be run."""


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
    timeout = spec.get("placement_timeout_s", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise SpecError("placement_timeout_s must be a positive number")
    return {
        "ranks": ranks,
        "num_gpus": num_gpus,
        "strategy": strategy,
        "rank_argv": list(argv),
        "env_vars": dict(spec.get("env_vars", {})),
        "rank_env": dict(spec.get("rank_env", {})),
        "address": address,
        "placement_timeout_s": float(timeout),
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


def run_probe_ranks(spec, on_rank_exit=None, stop_event=None):
    """Runs one rank per actor and returns the per-rank results, in rank order.

    Each result: rank, pid, code, signal, stderr_tail, placement (gpu_ids,
    cuda_visible_devices, node_id, noset, actor_pid), and error when the actor failed.
    on_rank_exit(result) is called as each rank ends. Setting stop_event stops the ranks
    early. Ray is initialised here only when it is not already; then it is also shut down
    here. Actors and the placement group are always removed.
    """
    spec = check_spec(spec)
    import ray
    from ray.util import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    started_ray = False
    if not ray.is_initialized():
        ray.init(address=spec["address"])
        started_ray = True
    group = None
    actors = []
    results = [None] * spec["ranks"]
    try:
        group = placement_group([{"GPU": 1, "CPU": 1} for _ in range(spec["ranks"])], strategy=spec["strategy"])
        try:
            ray.get(group.ready(), timeout=spec["placement_timeout_s"])
        except Exception as error:  # GetTimeoutError, or an infeasible group
            raise RuntimeError(
                "the placement group (%d bundles of {GPU: 1, CPU: 1}, %s) was not ready within %g s: %s"
                % (spec["ranks"], spec["strategy"], spec["placement_timeout_s"], type(error).__name__)) from error
        actor_class = ray.remote(_make_rank_actor(ray))
        runtime_env = {"env_vars": spec["env_vars"]}
        pending = {}
        for rank in range(spec["ranks"]):
            actor = actor_class.options(
                num_gpus=spec["num_gpus"], num_cpus=1, max_concurrency=2, runtime_env=runtime_env,
                scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=rank),
            ).remote()
            actors.append(actor)
            pending[actor.run_rank.remote(rank, spec["rank_argv"], spec["rank_env"])] = rank
        while pending:
            if stop_event is not None and stop_event.is_set():
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
            for ref in ready:
                rank = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as error:  # the actor died (RayActorError) or could not start
                    result = {"rank": rank, "pid": None, "code": None, "signal": None, "stderr_tail": "",
                              "placement": None, "error": "%s: %s" % (type(error).__name__, error)}
                results[rank] = result
                if on_rank_exit is not None:
                    on_rank_exit(result)
        if pending:
            # Stopped early: ask each actor to end its rank, then wait a little for the answers.
            stops = [actor.terminate.remote() for actor in actors]
            ray.wait(stops, num_returns=len(stops), timeout=3 * KILL_GRACE_S)
        return results
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:
                pass
        if group is not None:
            try:
                remove_placement_group(group)
            except Exception:
                pass
        if started_ray:
            ray.shutdown()
