"""The stand-in's ray.exceptions: the names the driver may meet, as Ray spells them."""


class RayError(Exception):
    pass


class GetTimeoutError(RayError, TimeoutError):
    pass


class RayActorError(RayError):
    pass


class RayTaskError(RayError):
    pass
