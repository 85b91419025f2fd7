"""The driver's errors, apart so that every module of the package raises the same classes."""


class SpecError(ValueError):
    """A spec that cannot be run."""


class PlacementError(RuntimeError):
    """Ray could not give the ranks what they ask for; the message names what the cluster has."""


class ConnectError(PlacementError):
    """The cluster address given cannot be reached."""


class Stopped(RuntimeError):
    """The stop event was set before the ranks started."""
