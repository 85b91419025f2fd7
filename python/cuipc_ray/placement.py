"""Where the ranks' actors go: the bundles the driver asks, whether the cluster can hold them,
an existing placement group found by id or by name (in the namespace given, else in any
namespace where the name is unique: a driver joins an anonymous namespace of its own, so a
group named by another job is never in it), and the Ray task or actor the probe may have been
started from.

A probe started inside a Ray task or actor (cuipc_ray.probe() in a task, or `cuipc probe` run
from an actor) is waited for by that task, which holds its resources until the probe ends: with
bundles of {GPU: 1, CPU: 1} on a cluster whose only CPU the task holds, the group would wait for
ever. Under a task or actor the driver joins that task's cluster (a `cuipc probe` run from an
actor would otherwise start a Ray of its own), the bundles ask no CPU ({GPU: 1}; the ranks are subprocesses of
their actors and need no Ray CPU), and a group that still cannot be placed because the GPUs are
held is refused within seconds, naming the task, rather than after Ray's start-up budget.
"""
import os

from .errors import PlacementError

# How long a group asked under a Ray task or actor may stay pending before what is available is checked.
CALLER_CHECK_S = 2.0


def bundle(cpu):
    return {"GPU": 1, "CPU": 1} if cpu else {"GPU": 1}


def bundle_text(cpu):
    return "{GPU: 1, CPU: 1}" if cpu else "{GPU: 1} (no CPU)"


def _resource_text(resources):
    return "CPU %g, GPU %g" % (resources.get("CPU", 0), resources.get("GPU", 0))


def cluster_summary(ray):
    """What the cluster has, in words: "1 node: CPU 8, GPU 4 (available now: CPU 8, GPU 4)"."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    try:
        available = ray.available_resources()
    except Exception:  # only an addition to the message
        available = None
    text = "%d node%s: %s" % (len(nodes), "" if len(nodes) == 1 else "s", _resource_text(ray.cluster_resources()))
    if len(nodes) > 1:
        # Largest first, in an order that does not depend on the order Ray lists its nodes in.
        by_size = sorted((n.get("Resources", {}) for n in nodes), key=lambda r: (-r.get("GPU", 0), -r.get("CPU", 0)))
        text += " (per node: %s)" % "; ".join(_resource_text(r) for r in by_size)
    if available is not None:
        text += " (available now: %s)" % _resource_text(available)
    return text


def bundles_that_fit(nodes, strategy, cpu=1):
    """How many bundles (one GPU, and one CPU unless cpu is 0) the nodes' resources can hold under a strategy."""
    per_node = [int(min(n.get("GPU", 0), n.get("CPU", 0))) if cpu else int(n.get("GPU", 0)) for n in nodes]
    if not per_node:
        return 0
    if strategy == "STRICT_PACK":
        return max(per_node)
    if strategy == "STRICT_SPREAD":
        return sum(1 for fit in per_node if fit >= 1)
    return sum(per_node)


def check_placeable(ray, spec, started_local, sim_devices_env, cpu=1):
    """Raises PlacementError when the cluster's total resources can never hold the ranks' bundles."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if bundles_that_fit(nodes, spec["strategy"], cpu) >= spec["ranks"]:
        return
    if spec["strategy"] == "STRICT_SPREAD":
        hint = "STRICT_SPREAD needs %d nodes with a GPU%s each; on one node use STRICT_PACK or PACK" % (spec["ranks"], " and a CPU" if cpu else "")
    else:
        hint = "start Ray with enough of them (e.g. `ray start --head --num-gpus=%d --num-cpus=%d`) or probe fewer ranks" % (spec["ranks"], spec["ranks"])
    if started_local:
        where = "no Ray cluster was found (give its address, or set RAY_ADDRESS), and the local Ray this driver started"
        if spec["sim_devices"] is not None:
            where += " with %s=%d simulated devices as GPUs" % (sim_devices_env, spec["sim_devices"])
    else:
        where = "the Ray cluster"
    raise PlacementError("%s has %s; %d bundles of %s cannot be placed with %s: %s"
                         % (where, cluster_summary(ray), spec["ranks"], bundle_text(cpu), spec["strategy"], hint))


def ray_caller(environ=None, proc="/proc"):
    """The Ray task or actor this process runs under, as (pid, title), or None.

    A Ray worker is a child of its raylet (RAY_RAYLET_PID, which every process below a worker
    inherits); the title is the worker's process title (ray::holder, ray::Engine.probe). The
    job supervisor of `ray job submit`, which holds no resources, does not count: its entrypoint
    is the job's driver.
    """
    environ = os.environ if environ is None else environ
    raylet = environ.get("RAY_RAYLET_PID", "")
    if not raylet.isdigit():
        return None
    pid = os.getpid()
    for _ in range(64):
        try:
            with open("%s/%d/stat" % (proc, pid), encoding="utf-8", errors="replace") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if ppid == int(raylet):
            try:
                with open("%s/%d/cmdline" % (proc, pid), "rb") as f:
                    title = f.read().split(b"\0")[0].decode("utf-8", "replace").strip()
            except OSError:
                title = ""
            if title.startswith("ray::JobSupervisor"):
                return None
            return pid, title or "a Ray worker"
        if ppid <= 1:
            return None
        pid = ppid
    return None


def caller_gcs_address(environ=None, proc="/proc"):
    """The cluster address of the raylet this process runs under (its --gcs-address), or None.

    A Ray worker's environment has no RAY_ADDRESS, and a Ray started by ray.init() writes no
    address file: a probe run from a task would start a second Ray of its own. The raylet's
    command line (RAY_RAYLET_PID) names the cluster its workers belong to.
    """
    environ = os.environ if environ is None else environ
    raylet = environ.get("RAY_RAYLET_PID", "")
    if not raylet.isdigit():
        return None
    try:
        with open("%s/%s/cmdline" % (proc, raylet), "rb") as f:
            args = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return None
    for arg in args:
        if arg.startswith("--gcs-address=") and len(arg) > len("--gcs-address="):
            return arg[len("--gcs-address="):]
    return None


def available_per_node(ray):
    """Each alive node's available resources now, or None when Ray does not say."""
    try:
        from ray._private.state import available_resources_per_node
        return list(available_resources_per_node().values())
    except Exception:  # a private API: the check it feeds is an addition only
        return None


def caller_check(ray, spec, caller, cpu, asked):
    """A check for a group pending under a Ray task or actor: raises PlacementError when what is
    available cannot hold the bundles at two checks in a row (the task waits for the probe, so what
    it holds stays held; one look could catch the group's own bundles reserved while Ray places it)."""
    short = []

    def check():
        nodes = available_per_node(ray)
        if nodes is None or bundles_that_fit(nodes, spec["strategy"], cpu) >= spec["ranks"]:
            short.clear()
            return
        short.append(True)
        if len(short) < 2:
            return
        pid, title = caller
        raise PlacementError(
            "this probe runs inside the Ray task or actor %s (pid %d), which waits for it, and Ray cannot place %s while it runs: "
            "the cluster has %s; what that task holds is not freed until the probe ends: run the probe from the job's driver "
            "(outside any task or actor), or start the task without the GPUs the ranks need (num_gpus=0)"
            % (title, pid, asked, cluster_summary(ray)))
    return check


def named_groups(ray):
    """Every live placement group that has a name, as dicts of id, name and namespace; None when Ray does not say.

    placement_group_table() leaves the namespace out; the GCS's own records (a private API) hold it.
    """
    try:
        from ray._private.state import state
        from ray.core.generated import gcs_pb2
        found = []
        for raw in state._connect_and_get_accessor().get_placement_group_table():
            data = gcs_pb2.PlacementGroupTableData.FromString(raw)
            if data.name and data.state != gcs_pb2.PlacementGroupTableData.REMOVED:
                found.append({"id": data.placement_group_id.hex(), "name": data.name, "namespace": data.ray_namespace})
        return found
    except Exception:  # the lookup by name still works in the driver's own namespace
        return None


def _by_name(ray, spec):
    """(group, the namespace it was found in when not the driver's own) for a name, or PlacementError saying where it was looked for."""
    from ray.util import get_placement_group
    from ray.util.placement_group import PlacementGroup
    from ray._raylet import PlacementGroupID
    ref, given = spec["placement_group"], spec.get("namespace")
    own = ray.get_runtime_context().namespace
    lookup = given if given is not None else own
    try:
        from ray._private.state import state as gcs
        info = gcs.get_placement_group_by_name(ref, lookup)
    except Exception:  # a private API: Ray's public lookup, in the driver's own namespace
        info = None
        if lookup == own:
            try:
                return get_placement_group(ref), None
            except ValueError:
                pass
    if info is not None:
        return PlacementGroup(PlacementGroupID(bytes.fromhex(info["placement_group_id"]))), None
    groups = named_groups(ray)
    same = [g for g in groups or [] if g["name"] == ref]
    if given is None and len(same) == 1:
        return PlacementGroup(PlacementGroupID(bytes.fromhex(same[0]["id"]))), same[0]["namespace"]
    listed = "; ".join("one in namespace %r (id %s)" % (g["namespace"], g["id"]) for g in same)
    if same and given is None:
        raise PlacementError("placement group name %r is ambiguous in this Ray cluster: %d live groups are named %r: %s; give the one meant with --ray-namespace or its hex id"
                             % (ref, len(same), ref, listed))
    if same:
        raise PlacementError("no placement group %r in Ray namespace %r (--ray-namespace); the cluster has %s: give that namespace or the id" % (ref, given, listed))
    if groups is None:
        where, others = "Ray namespace %r" % lookup, "the cluster's other namespaces could not be read"
    else:
        where = "Ray namespace %r (--ray-namespace)" % given if given is not None else "any Ray namespace of this cluster"
        others = ("its named live groups: %s" % ", ".join("%r in namespace %r" % (g["name"], g["namespace"]) for g in groups[:8])
                  if groups else "it has no named live group")
    raise PlacementError("no placement group %r in %s: %s; give a group's name (with its namespace, --ray-namespace), or its hex id (placement_group.id.hex())"
                         % (ref, where, others))


def existing_group(ray, spec):
    """The placement group the spec names (hex id or name), the bundle index of each rank, and the namespace a
    name was found in when it is not the one the driver joined (None otherwise); PlacementError when there is none."""
    from ray.util.placement_group import PlacementGroup
    ref = spec["placement_group"]
    found_in = None
    try:
        from ray._raylet import PlacementGroupID
        is_id = len(ref) == 2 * PlacementGroupID.size() and all(c in "0123456789abcdef" for c in ref)
        if is_id:
            group = PlacementGroup(PlacementGroupID(bytes.fromhex(ref)))
        else:
            group, found_in = _by_name(ray, spec)
        count = group.bundle_count
    except PlacementError:
        raise
    except Exception as error:  # an unknown id, or Ray's own failure
        raise PlacementError("no placement group %r in this Ray cluster: %s; give a group's name or its hex id (placement_group.id.hex())" % (ref, error)) from error
    if count == 0:
        raise PlacementError("no placement group %r in this Ray cluster (it has no bundles: removed, or an unknown id)" % ref)
    indices = spec["bundle_indices"] or list(range(spec["ranks"]))
    if max(indices) >= count:
        raise PlacementError("placement group %r has %d bundle(s); bundle indices %s name one it does not have" % (ref, count, indices))
    return group, indices, found_in
