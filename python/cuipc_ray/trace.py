"""trace_runtime_env(): trace a real Ray job with `cuipc trace`'s CUPTI injection.

`cuipc trace -- COMMAND` sets CUDA_INJECTION64_PATH (the CUDA driver loads that library into
every process that initialises CUDA), CUIPC_TRACE_DIR (where each process writes its trace) and
CUIPC_TRACE_RUN (the run's id) for the command it starts. Ray workers do not start from that
command, so a Ray job passes the same variables through its runtime_env instead:

    ray.init(runtime_env=cuipc_ray.trace_runtime_env("/shared/traces"))
    ...  # the failing job, unchanged
    # then: cuipc trace report /shared/traces

Every actor and task of the job, on every node, is traced (the folder and the library must
exist on each node at the same path: a shared folder, and cuipc installed alike).
"""
import json
import os
import secrets
import subprocess
import time

INJECTION_LIBRARY = "libcuipc_trace.so"


class TraceSetupError(RuntimeError):
    """The injection cannot be set up (no library, or another tool holds CUDA_INJECTION64_PATH)."""


def _run_id():
    # As lib/trace/run.ts makes them: base-36 milliseconds and 6 hex digits.
    millis, digits, text = int(time.time() * 1000), "0123456789abcdefghijklmnopqrstuvwxyz", ""
    while millis:
        millis, rest = divmod(millis, 36)
        text = digits[rest] + text
    return text + secrets.token_hex(3)


def find_trace_library():
    """CUIPC_TRACE_LIBRARY, else the library the cuipc CLI ships (`cuipc paths --json`)."""
    given = os.environ.get("CUIPC_TRACE_LIBRARY")
    if given:
        return os.path.abspath(given)
    from .api import ProbeError, find_cli, find_node
    try:
        done = subprocess.run([find_node(), find_cli(), "paths", "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, check=False)
        libraries = json.loads(done.stdout)["libraries"]
    except (ProbeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as error:
        raise TraceSetupError("cannot ask the cuipc CLI where %s is (%s); set CUIPC_TRACE_LIBRARY to its path" % (INJECTION_LIBRARY, error)) from None
    for library in libraries:
        if library.get("id") == "trace" and library.get("path"):
            return library["path"]
    raise TraceSetupError("the cuipc CLI ships no %s (build it where the CUDA toolkit and CUPTI are installed), or set CUIPC_TRACE_LIBRARY" % INJECTION_LIBRARY)


def trace_runtime_env(trace_dir, runtime_env=None, library=None, run=None):
    """A runtime_env (a copy of `runtime_env` with env_vars added) that traces every CUDA process of a Ray job.

    trace_dir: the folder the traces go to (created; made absolute). library: the injection
    library (default: find_trace_library()). run: the run's id (default: a new one; `cuipc
    trace report DIR --run ID` picks it out of a folder holding several runs). Raises
    TraceSetupError when the library is missing, or when the runtime_env already sets
    CUDA_INJECTION64_PATH to another tool's library (the driver has one injection slot).
    """
    if not isinstance(trace_dir, (str, os.PathLike)) or not str(trace_dir).strip():
        raise ValueError("trace_dir must name a folder, got %r" % (trace_dir,))
    if runtime_env is not None and not isinstance(runtime_env, dict):
        raise TypeError("runtime_env must be a dict, got %s" % type(runtime_env).__name__)
    library = os.path.abspath(library or find_trace_library())
    if not os.path.isfile(library):
        raise TraceSetupError("the injection library %s does not exist; set CUIPC_TRACE_LIBRARY to a %s" % (library, INJECTION_LIBRARY))
    trace_dir = os.path.abspath(os.fspath(trace_dir))
    os.makedirs(trace_dir, exist_ok=True)
    result = dict(runtime_env or {})
    env_vars = dict(result.get("env_vars") or {})
    other = env_vars.get("CUDA_INJECTION64_PATH")
    if other and os.path.abspath(other) != library:
        raise TraceSetupError("the runtime_env already sets CUDA_INJECTION64_PATH=%s (another tool injects itself into CUDA); "
                              "the driver loads one injection library: remove it to trace with cuipc" % other)
    env_vars.update(CUDA_INJECTION64_PATH=library, CUIPC_TRACE_DIR=trace_dir, CUIPC_TRACE_RUN=run or _run_id())
    result["env_vars"] = env_vars
    return result
