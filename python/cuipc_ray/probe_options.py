"""The probe options a Python caller may give, as the probe itself takes them.

The accepted keys, their types, choices and ranges come from probe_options.json, which
scripts/options.mjs makes from the probe's one option table (lib/probe/option-table.ts and the
launchers' rows); nothing here lists an option by hand. check_probe_options() refuses an unknown
key (TypeError, naming the accepted ones) and a bad value (ValueError naming the option), before
anything starts, and returns the options in the library's camelCase form for the Node side.
"""
import json
import os

_TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_options.json")


def probe_option_keys():
    """{python_key: {"option", "type", "choices"?, "min"?, "max"?, "above"?, "default"?, "description"}}."""
    with open(_TABLE_PATH, encoding="utf-8") as f:
        return json.load(f)["keys"]


def _check(key, spec, value):
    kind = spec["type"]
    what = None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not spec["min"] <= value <= spec["max"]:
            what = "an integer from %d to %d" % (spec["min"], spec["max"])
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not spec["above"] < value <= spec["max"]:
            what = "a number above %s and at most %s" % (spec["above"], spec["max"])
    elif kind == "choice":
        if value not in spec["choices"]:
            what = "one of %s" % ", ".join(spec["choices"])
    elif kind == "boolean":
        if not isinstance(value, bool):
            what = "True or False"
    elif kind == "string":
        if not isinstance(value, str) or not value.strip():
            what = "a non-empty string"
    elif kind == "array":
        if not isinstance(value, (list, tuple)):
            what = "a list"
    elif kind == "object":
        if not isinstance(value, dict):
            what = "a dict"
    if what is not None:
        raise ValueError("%s must be %s, got %r" % (key, what, value))


def check_probe_options(options):
    """Checks `options` (python keys) and returns them as the probe's library options (nested camelCase)."""
    if not isinstance(options, dict):
        raise TypeError("probe options must be a dict, got %s" % type(options).__name__)
    keys = probe_option_keys()
    unknown = sorted(k for k in options if k not in keys)
    if unknown:
        raise TypeError("unknown probe option(s) %s; accepted: %s" % (", ".join(unknown), ", ".join(sorted(keys))))
    out = {}
    for key, value in options.items():
        spec = keys[key]
        _check(key, spec, value)
        at = out
        path = spec["option"].split(".")
        for part in path[:-1]:
            at = at.setdefault(part, {})
        at[path[-1]] = list(value) if isinstance(value, tuple) else value
    return out
