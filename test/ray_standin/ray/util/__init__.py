"""The stand-in's ray.util: placement groups on the stand-in's nodes."""
from .placement_group import placement_group, remove_placement_group  # noqa: F401
