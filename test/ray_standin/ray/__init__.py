"""A stand-in for the few Ray calls cuipc's driver makes (python/cuipc_ray), for what real Ray
cannot do on one test machine: several nodes. Never shipped. Standard library only.
test/launch/ray-standin.test.ts says which cases use it; every other Ray test runs real Ray.

It follows Ray's documented behaviour where the driver depends on it:
- RAY_STANDIN_NODES lists the nodes' GPU counts ("2,2": two nodes of two GPUs; default "4");
  each node has as many CPUs as GPUs, and GPU ids count from 0 on each node;
- placement groups reserve whole GPUs per bundle on a node chosen by the strategy
  (STRICT_PACK: one node; STRICT_SPREAD: a node per bundle; PACK/SPREAD: wherever they fit);
  one that cannot fit never becomes ready;
- ray.nodes(), cluster_resources() and available_resources() report those resources;
- actors are separate processes; an actor's environment is the cluster's (the environment
  ray.init saw) plus the job's runtime_env env_vars plus the actor's own, later ones winning;
- Ray sets CUDA_VISIBLE_DEVICES in each GPU actor to its assigned ids, unless
  RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES is non-empty in the actor's environment;
- ray.get_gpu_ids() in an actor lists its assigned ids whether or not it was set;
- max_concurrency > 1 runs an actor's method calls on threads, so one can run while
  another blocks; ray.kill ends the actor process at once; ray.shutdown kills every actor.
What it does not reproduce: the nodes are one machine (every rank sees the same simulated
devices, so a probe across "nodes" is not a cross-node probe), no raylet, GCS, runtime_env
agent, actor restarts, signal handlers or start-up times.
"""
import multiprocessing
import os
import signal
import threading
import time
import uuid

from . import exceptions  # noqa: F401  (ray.exceptions.* as in Ray)
from .exceptions import GetTimeoutError, RayActorError

NOSET_ENV = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"

_cluster = None  # in the driver: {"env", "num_gpus", "node_id", "actors", "free"}
_actor_context = None  # in an actor process: {"gpu_ids", "node_id"}


def is_initialized():
    return _cluster is not None


def init(address=None, runtime_env=None, **_ignored):
    global _cluster
    if _cluster is not None:
        raise RuntimeError("Maybe you called ray.init twice by accident?")
    env = dict(os.environ)
    env.update((runtime_env or {}).get("env_vars", {}))
    nodes = []
    for gpus in os.environ.get("RAY_STANDIN_NODES", "4").split(","):
        nodes.append({"node_id": uuid.uuid4().hex + uuid.uuid4().hex[:24], "gpus": int(gpus), "free": [1.0] * int(gpus), "cpus_free": int(gpus)})
    _cluster = {"env": env, "nodes": nodes, "actors": [], "address": address}


def nodes():
    return [{"NodeID": n["node_id"], "Alive": True, "Resources": {"CPU": float(n["gpus"]), "GPU": float(n["gpus"])}} for n in _need_cluster()["nodes"]]


def cluster_resources():
    all_nodes = _need_cluster()["nodes"]
    return {"CPU": float(sum(n["gpus"] for n in all_nodes)), "GPU": float(sum(n["gpus"] for n in all_nodes))}


def available_resources():
    all_nodes = _need_cluster()["nodes"]
    return {"CPU": float(sum(n["cpus_free"] for n in all_nodes)), "GPU": float(sum(sum(n["free"]) for n in all_nodes))}


def shutdown():
    global _cluster
    if _cluster is None:
        return
    for actor in list(_cluster["actors"]):
        kill(actor)
    _cluster = None


def _need_cluster():
    if _cluster is None:
        init()
    return _cluster


# ---- object refs ----------------------------------------------------------------------

class ObjectRef:
    def __init__(self):
        self._done = threading.Event()
        self._value = None
        self._error = None

    def _resolve(self, value=None, error=None):
        self._value, self._error = value, error
        self._done.set()


def _get_one(ref, deadline):
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not ref._done.wait(left):
        raise GetTimeoutError("Get timed out: some object(s) not ready.")
    if ref._error is not None:
        raise ref._error
    return ref._value


def get(refs, timeout=None):
    deadline = None if timeout is None else time.monotonic() + timeout
    if isinstance(refs, list):
        return [_get_one(r, deadline) for r in refs]
    return _get_one(refs, deadline)


def wait(refs, num_returns=1, timeout=None):
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        ready = [r for r in refs if r._done.is_set()]
        if len(ready) >= num_returns or (deadline is not None and time.monotonic() >= deadline):
            ready = ready[:num_returns]
            return ready, [r for r in refs if r not in ready]
        time.sleep(0.01)


# ---- actors ---------------------------------------------------------------------------

def _actor_main(cls, env, context, connection, max_concurrency, parent):
    global _actor_context
    # Ray's workers are the raylet's children, not in the driver's process group.
    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    _actor_context = context
    send_lock = threading.Lock()

    def watch_parent():
        # Actors share the fate of their owner: when the driver dies, so does the actor.
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()
    instance = cls()

    def call(call_id, method, args):
        try:
            reply = (call_id, getattr(instance, method)(*args), None)
        except BaseException as error:  # sent back, raised by ray.get
            reply = (call_id, None, "%s: %s" % (type(error).__name__, error))
        with send_lock:
            connection.send(reply)

    while True:
        try:
            call_id, method, args = connection.recv()
        except EOFError:
            os._exit(0)
        if max_concurrency > 1:
            threading.Thread(target=call, args=(call_id, method, args), daemon=True).start()
        else:
            call(call_id, method, args)


class _Method:
    def __init__(self, actor, name):
        self._actor, self._name = actor, name

    def remote(self, *args):
        return self._actor._call(self._name, args)


class ActorHandle:
    def __init__(self, process, connection):
        self._process = process
        self._connection = connection
        self._pending = {}
        self._lock = threading.Lock()
        self._next = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                call_id, value, error = self._connection.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                ref = self._pending.pop(call_id, None)
            if ref is not None:
                ref._resolve(value, None if error is None else exceptions.RayTaskError(error))
        with self._lock:
            pending, self._pending = self._pending, {}
        for ref in pending.values():
            ref._resolve(error=RayActorError("The actor died unexpectedly before finishing this task."))

    def _call(self, method, args):
        ref = ObjectRef()
        with self._lock:
            call_id = self._next
            self._next += 1
            self._pending[call_id] = ref
        try:
            self._connection.send((call_id, method, args))
        except (OSError, ValueError):
            with self._lock:
                self._pending.pop(call_id, None)
            ref._resolve(error=RayActorError("The actor is dead."))
        return ref

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self, name)


class ActorClass:
    def __init__(self, cls, options):
        self._cls = cls
        self._options = options

    def options(self, **options):
        merged = dict(self._options)
        merged.update(options)
        return ActorClass(self._cls, merged)

    def remote(self, *args):
        if args:
            raise NotImplementedError("the stand-in's actors take no constructor arguments")
        cluster = _need_cluster()
        num_gpus = self._options.get("num_gpus", 0) or 0
        strategy = self._options.get("scheduling_strategy")
        gpu_ids = []
        if num_gpus:
            if strategy is None:
                raise NotImplementedError("the stand-in places GPU actors only in placement group bundles")
            gpu_ids = strategy.placement_group._take(strategy.placement_group_bundle_index, num_gpus)
        env = dict(cluster["env"])
        env.update((self._options.get("runtime_env") or {}).get("env_vars", {}))
        if num_gpus and env.get(NOSET_ENV, "") == "":
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids)
        node_id = strategy.placement_group._node_of(strategy.placement_group_bundle_index) if strategy is not None else cluster["nodes"][0]["node_id"]
        context = {"gpu_ids": gpu_ids, "node_id": node_id}
        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(
            target=_actor_main,
            args=(self._cls, env, context, child_end, int(self._options.get("max_concurrency", 1)), os.getpid()),
            daemon=True)
        process.start()
        child_end.close()
        actor = ActorHandle(process, parent_end)
        cluster["actors"].append(actor)
        return actor


def remote(*args, **options):
    if len(args) == 1 and not options and isinstance(args[0], type):
        return ActorClass(args[0], {})
    if args:
        raise NotImplementedError("the stand-in implements ray.remote on classes only")
    return lambda cls: ActorClass(cls, options)


def kill(actor, no_restart=True):
    process = actor._process
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
    process.join(5)
    actor._connection.close()
    if _cluster is not None and actor in _cluster["actors"]:
        _cluster["actors"].remove(actor)


# ---- inside an actor ----------------------------------------------------------------------

def get_gpu_ids():
    return list(_actor_context["gpu_ids"]) if _actor_context else []


class _RuntimeContext:
    def get_node_id(self):
        if _actor_context is not None:
            return _actor_context["node_id"]
        return _need_cluster()["nodes"][0]["node_id"]


def get_runtime_context():
    return _RuntimeContext()
