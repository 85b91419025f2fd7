"""Placement groups on the stand-in's nodes: each bundle reserves whole GPUs (and a CPU each) on
one node at creation, the node chosen by the strategy; a group that cannot fit stays pending,
so ready() never resolves, as in Ray."""
import math

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


def _whole_free(node):
    return sum(1 for f in node["free"] if f == 1.0)


def _choose_nodes(nodes, needs, strategy):
    """A node index per bundle, or None when the group cannot be placed now."""
    if strategy == "STRICT_PACK":
        for index, node in enumerate(nodes):
            if _whole_free(node) >= sum(needs) and node["cpus_free"] >= len(needs):
                return [index] * len(needs)
        return None
    left = [[_whole_free(n), n["cpus_free"]] for n in nodes]
    chosen = []
    for need in needs:
        for index, (gpus, cpus) in enumerate(left):
            if gpus >= need and cpus >= 1 and not (strategy == "STRICT_SPREAD" and index in chosen):
                left[index] = [gpus - need, cpus - 1]
                chosen.append(index)
                break
        else:
            return None
    return chosen


class PlacementGroup:
    def __init__(self, bundles, strategy):
        import ray

        self.bundle_specs = bundles
        self.strategy = strategy
        self._ready = ray.ObjectRef()
        self._bundle_gpus = []  # per bundle: [gpu id, capacity left]
        self._bundle_nodes = []
        nodes = ray._need_cluster()["nodes"]
        needs = [math.ceil(bundle.get("GPU", 0)) for bundle in bundles]
        chosen = _choose_nodes(nodes, needs, strategy)
        if chosen is not None:
            for need, index in zip(needs, chosen):
                node = nodes[index]
                ids = []
                for _ in range(need):
                    gpu = node["free"].index(1.0)
                    node["free"][gpu] = 0.0
                    ids.append(gpu)
                node["cpus_free"] -= 1
                self._bundle_gpus.append([[gpu, 1.0] for gpu in ids])
                self._bundle_nodes.append(node)
            self._ready._resolve(True)

    def _node_of(self, index):
        return self._bundle_nodes[index]["node_id"]

    def ready(self):
        return self._ready

    def _take(self, index, num_gpus):
        if not self._ready._done.is_set():
            raise NotImplementedError("the stand-in cannot queue actors on a pending placement group")
        slots = self._bundle_gpus[index]
        if num_gpus >= 1:
            taken = [slot for slot in slots if slot[1] == 1.0][: int(num_gpus)]
            if len(taken) < int(num_gpus):
                raise ValueError("bundle %d has fewer than %s free GPUs" % (index, num_gpus))
            for slot in taken:
                slot[1] = 0.0
            return [slot[0] for slot in taken]
        for slot in slots:
            if slot[1] + 1e-9 >= num_gpus:
                slot[1] -= num_gpus
                return [slot[0]]
        raise ValueError("bundle %d has no GPU with %s left" % (index, num_gpus))

    def _release(self):
        import ray

        if ray._cluster is None:
            return
        for slots, node in zip(self._bundle_gpus, self._bundle_nodes):
            for gpu, _ in slots:
                node["free"][gpu] = 1.0
            node["cpus_free"] += 1
        self._bundle_gpus = []
        self._bundle_nodes = []


def placement_group(bundles, strategy="PACK", name="", lifetime=None):
    if strategy not in STRATEGIES:
        raise ValueError("Invalid placement group strategy %s" % strategy)
    return PlacementGroup(bundles, strategy)


def remove_placement_group(group):
    group._release()
