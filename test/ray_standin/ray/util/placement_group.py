"""Placement groups on the stand-in's one node: each bundle reserves whole GPUs at creation;
a group that cannot fit, or STRICT_SPREAD over more than one bundle (one node), stays
pending, so ready() never resolves, as in Ray."""
import math

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroup:
    def __init__(self, bundles, strategy):
        import ray

        self.bundle_specs = bundles
        self.strategy = strategy
        self._ready = ray.ObjectRef()
        self._bundle_gpus = []  # per bundle: [gpu id, capacity left]
        cluster = ray._need_cluster()
        free = cluster["free"]
        needs = [bundle.get("GPU", 0) for bundle in bundles]
        feasible = not (strategy == "STRICT_SPREAD" and len(bundles) > 1)
        wanted = sum(math.ceil(n) for n in needs)
        if feasible and wanted <= sum(1 for f in free if f == 1.0):
            for need in needs:
                ids = []
                for _ in range(math.ceil(need)):
                    gpu = free.index(1.0)
                    free[gpu] = 0.0
                    ids.append(gpu)
                self._bundle_gpus.append([[gpu, 1.0] for gpu in ids])
            self._ready._resolve(True)

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
        for slots in self._bundle_gpus:
            for gpu, _ in slots:
                ray._cluster["free"][gpu] = 1.0
        self._bundle_gpus = []


def placement_group(bundles, strategy="PACK", name="", lifetime=None):
    if strategy not in STRATEGIES:
        raise ValueError("Invalid placement group strategy %s" % strategy)
    return PlacementGroup(bundles, strategy)


def remove_placement_group(group):
    group._release()
