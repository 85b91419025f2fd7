"""The stand-in's PlacementGroupSchedulingStrategy: which bundle an actor runs in."""


class PlacementGroupSchedulingStrategy:
    def __init__(self, placement_group, placement_group_bundle_index=-1, placement_group_capture_child_tasks=None):
        if placement_group_bundle_index < 0:
            raise NotImplementedError("the stand-in needs an explicit bundle index")
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
