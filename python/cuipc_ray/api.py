"""probe(): run a cuipc probe from Python and get its report as a dict.

The probe itself is the Node.js program `cuipc`: this runs `cuipc probe ... --json` with the
options checked first (check_probe_options: an unknown key is a TypeError, a bad value a
ValueError, both naming it) and returns the report as schema/report.schema.json describes it.
Node is found through CUIPC_NODE or PATH; the CLI through CUIPC_CLI (its bin/cuipc.js), a
`cuipc` on PATH, or the source tree this package sits in. Called inside a Ray job, a probe
with launcher="ray" joins that job's cluster rather than starting another.
"""
import json
import os
import shutil
import subprocess
import tempfile

from .probe_options import check_probe_options, probe_option_keys

NODE_MISSING = ("cuipc's probe runs on Node.js (20 or later), which was not found: install it (https://nodejs.org, "
                "or your distribution's nodejs package) and put `node` on PATH, or set CUIPC_NODE to its path")


class ProbeError(RuntimeError):
    """The probe could not be started, or its CLI said something other than a report."""


def find_node():
    given = os.environ.get("CUIPC_NODE")
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise ProbeError("CUIPC_NODE=%s is not an executable file; %s" % (given, NODE_MISSING))
        return given
    found = shutil.which("node")
    if found is None:
        raise ProbeError(NODE_MISSING)
    return found


def find_cli():
    given = os.environ.get("CUIPC_CLI")
    if given:
        if not os.path.isfile(given):
            raise ProbeError("CUIPC_CLI=%s is not a file (it names cuipc's bin/cuipc.js)" % given)
        return given
    on_path = shutil.which("cuipc")
    if on_path is not None:
        return os.path.realpath(on_path)
    source_tree = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin", "cuipc.js")
    if os.path.isfile(source_tree):
        return os.path.normpath(source_tree)
    raise ProbeError("the cuipc CLI was not found: install it (`npm install -g cuipc`) so that `cuipc` is on PATH, "
                     "or set CUIPC_CLI to its bin/cuipc.js")


def _flags(options, scratch):
    """The CLI's arguments for python-keyed options (already checked)."""
    keys = probe_option_keys()
    args = []
    for key, value in options.items():
        flag = keys[key].get("flag")
        if flag is None:
            raise TypeError("probe option %s has no command-line form" % key)
        if key == "env":
            for name, v in value.items():
                args += [flag, "%s=%s" % (name, v)]
        elif key == "env_snapshot":
            path = os.path.join(scratch, "snapshot.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(value, f)
            args += [flag, path]
        elif key == "devices":
            args += [flag, ",".join(str(d) for d in value)]
        elif keys[key]["type"] == "boolean":
            if value:
                args.append(flag)
        else:
            args += [flag, str(value)]
    return args


def _ray_address_of_this_job():
    """The cluster address when this process already holds a Ray session; None otherwise."""
    import sys
    if "ray" not in sys.modules:
        return None
    try:
        import ray
        if not ray.is_initialized():
            return None
        return ray.get_runtime_context().gcs_address
    except Exception:  # an addition only
        return None


def probe(ranks=4, timeout_s=None, **options):
    """Runs `cuipc probe` with these options (the keys of probe_options.json) and returns the report dict.

    report["result"] is "passed", "failed" or "aborted". Raises TypeError for an unknown option,
    ValueError for a bad value (before anything starts), ProbeError when the CLI cannot run.
    timeout_s bounds the whole run (default: none).
    """
    options = dict(options, ranks=ranks)
    # A placement group object of this job (as colocated RL frameworks hold them) goes by its id; bundle indices as a list.
    group = options.get("placement_group")
    if group is not None and not isinstance(group, str) and hasattr(group, "id"):
        options["placement_group"] = group.id.hex()
    indices = options.get("bundle_indices")
    if isinstance(indices, (list, tuple)):
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise ValueError("bundle_indices must be a list of bundle numbers, got %r" % (indices,))
        options["bundle_indices"] = ",".join(str(i) for i in indices)
    check_probe_options(options)
    if options.get("launcher") == "ray" and "address" not in options:
        address = _ray_address_of_this_job()
        if address:
            options["address"] = address
    command = [find_node(), find_cli(), "probe"]
    with tempfile.TemporaryDirectory(prefix="cuipc-py-") as scratch:
        command += _flags(options, scratch) + ["--json"]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            raise ProbeError("the probe did not end within %s s" % timeout_s) from error
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == 2:
        raise ValueError("cuipc probe refused the options: %s" % stderr)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise ProbeError("cuipc probe exited %s without a report: %s" % (done.returncode, stderr[-2000:])) from None
