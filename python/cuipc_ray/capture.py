"""capture_env(): the snapshot `cuipc env capture --json` writes, taken in pure Python.

Inside a Ray actor there is often no Node.js; this writes the same JSON (schema
"cuipc.env-snapshot" version 1, lib/env/capture.ts) from the standard library alone, so that
`cuipc bisect host.json actor.json` can replay the actor's environment on the host. The variable
filter is read from relevant-variables.json, the one home of that list (lib/env). Hazards are
left empty: cuipc recomputes them with its current rules whenever it reads a snapshot back.
"""
import datetime
import json
import os
import platform
import re
import socket
import struct
import sys

SCHEMA = "cuipc.env-snapshot"
SCHEMA_VERSION = 1
REDACTED = "<redacted>"
_HERE = os.path.dirname(os.path.abspath(__file__))
_TMS_SYMBOLS = ("tms_set_interesting_region", "tms_pause", "tms_resume", "tms_set_current_tag")
_CUIPC_SYMBOL = "cuipcInterposerName"
_VMM_CALLS = ("cuMemCreate", "cuMemMap", "cuMemAddressReserve", "cuMemSetAccess", "cuMemExportToShareableHandle")
_RAY_WORKER_MARKS = ("RAY_RAYLET_PID", "RAY_JOB_ID")
_NOSET = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"


def _filter():
    with open(os.path.join(_HERE, "relevant-variables.json"), encoding="utf-8") as f:
        return json.load(f)


def is_cuda_relevant(name, flt=None):
    flt = flt or _filter()
    return name in flt["names"] or any(name.startswith(p) for p in flt["prefixes"])


def looks_secret(name, flt=None):
    flt = flt or _filter()
    upper = name.upper()
    return any(s in upper for s in flt["secretSubstrings"]) or any(s in flt["secretSegments"] for s in re.split(r"[_\-.]+", upper))


def _redact_url_credentials(value):
    return re.sub(r"([a-z][a-z0-9+.-]*://)[^\s/@:]+:[^\s/@]+@", lambda m: m.group(1) + REDACTED + "@", value, flags=re.I)


# --- LD_PRELOAD entries, as lib/env/preload.ts and elf.ts describe them ---

class _ElfError(Exception):
    pass


def _elf_dynamic_symbols(path):
    """(exported names, imported names) of an ELF shared object's .dynsym."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 52:
        raise _ElfError("%s: not a readable ELF shared object: only %d bytes" % (path, len(data)))
    if data[:4] != b"\x7fELF":
        raise _ElfError("%s: not a readable ELF shared object: no ELF magic (\\x7fELF)" % path)
    is64, le = data[4] == 2, data[5] == 1
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise _ElfError("%s: not a readable ELF shared object: unknown ELF class or byte order" % path)
    e = "<" if le else ">"

    def unpack(fmt, at):
        size = struct.calcsize(e + fmt)
        if at < 0 or at + size > len(data):
            raise _ElfError("%s: not a readable ELF shared object: a table lies outside the file" % path)
        return struct.unpack_from(e + fmt, data, at)

    shoff = unpack("Q" if is64 else "I", 0x28 if is64 else 0x20)[0]
    shentsize, shnum = unpack("HH", 0x3a if is64 else 0x2e)
    if shoff == 0 or shnum == 0:
        raise _ElfError("%s: not a readable ELF shared object: it has no section headers" % path)
    sections = []
    for i in range(shnum):
        at = shoff + i * shentsize
        if is64:
            t, = unpack("I", at + 4)
            off, size = unpack("QQ", at + 24)
            link, = unpack("I", at + 40)
            ent, = unpack("Q", at + 56)
        else:
            t, = unpack("I", at + 4)
            off, size, link = unpack("III", at + 16)
            ent, = unpack("I", at + 36)
        sections.append((t, off, size, link, ent))
    exported, imported = [], []
    dynsym = next((s for s in sections if s[0] == 11), None)
    if dynsym is None:
        return exported, imported
    _, off, size, link, ent = dynsym
    ent = ent or (24 if is64 else 16)
    if link >= len(sections):
        raise _ElfError("%s: not a readable ELF shared object: .dynsym links to missing string table %d" % (path, link))
    _, str_off, str_size, _, _ = sections[link]
    strtab = data[str_off:str_off + str_size]
    for i in range(1, size // ent):
        at = off + i * ent
        name_off, = unpack("I", at)
        info, other = unpack("BB", at + (4 if is64 else 12))
        shndx, = unpack("H", at + (6 if is64 else 14))
        end = strtab.find(b"\0", name_off)
        name = strtab[name_off:end if end >= 0 else len(strtab)].decode("latin-1") if name_off < len(strtab) else ""
        if not name:
            continue
        if shndx == 0:
            imported.append(name)
            continue
        if other & 3 in (1, 2) or info >> 4 not in (1, 2, 10):
            continue
        exported.append(name)
    return exported, imported


def _readable_file(path):
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _search_library(name, env):
    multiarch = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu"}.get(platform.machine())
    dirs = [d for d in re.split(r"[:;]", env.get("LD_LIBRARY_PATH", "")) if d]
    if multiarch:
        dirs += ["/lib/" + multiarch, "/usr/lib/" + multiarch]
    dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    for d in dirs:
        if _readable_file(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


def _identify(entry, path, exported, vmm_imports):
    file_name = os.path.basename(path or entry)
    by = []
    if "cuipc_vmm_interposer" in file_name:
        by.append("file name")
    if _CUIPC_SYMBOL in exported:
        by.append("exports " + _CUIPC_SYMBOL)
    if by:
        return "cuipc-vmm-interposer", by
    if "torch_memory_saver" in (path or entry):
        by.append("file name")
    by += ["exports " + s for s in _TMS_SYMBOLS if s in exported]
    if by:
        return "torch_memory_saver", by
    allocation = [s for s in ("cudaMalloc", "cudaFree") if s in exported]
    if allocation:
        return "cuda-allocator-interposer", ["exports " + s for s in allocation] + ["imports " + s for s in vmm_imports]
    driver = [s for s in _VMM_CALLS if s in exported]
    if driver:
        return "cuda-driver-interposer", ["exports " + s for s in driver]
    return "other", []


def _describe_preload_entry(entry, env):
    d = {"entry": entry, "path": None, "exists": False, "inspected": False, "exportsCudaMalloc": False, "exportsCudaFree": False,
         "exportsCuMemCreate": False, "cudaExports": [], "vmmImports": [], "identity": "other", "identifiedBy": []}
    exported = set()
    if "$" in entry:
        d["error"] = "the entry contains an ld.so dynamic string token ($LIB, $PLATFORM or $ORIGIN); not expanded"
    else:
        d["path"] = entry if "/" in entry else _search_library(entry, env)
        d["exists"] = d["path"] is not None and _readable_file(d["path"])
        if not d["exists"]:
            d["error"] = ("not found in LD_LIBRARY_PATH or the default library directories; ld.so ignores it" if d["path"] is None
                          else "no readable file there; ld.so ignores it")
        else:
            try:
                names, imported = _elf_dynamic_symbols(d["path"])
                d["inspected"] = True
                exported = set(names)
                d["cudaExports"] = sorted(n for n in names if re.match(r"^(cuda|cu[A-Z])", n))[:64]
                d["vmmImports"] = [s for s in _VMM_CALLS if s in imported or s + "_v2" in imported]
            except _ElfError as error:
                d["error"] = str(error)
            except OSError as error:
                d["error"] = "cannot read it: %s" % error
    d["exportsCudaMalloc"] = "cudaMalloc" in exported
    d["exportsCudaFree"] = "cudaFree" in exported
    d["exportsCuMemCreate"] = "cuMemCreate" in exported
    d["identity"], d["identifiedBy"] = _identify(entry, d["path"], exported, d["vmmImports"])
    # The same key order as cuipc's own snapshot: error last.
    if "error" in d:
        d["error"] = d.pop("error")
    return d


def describe_ld_preload(value, env):
    return [_describe_preload_entry(e, env) for e in re.split(r"[\s:]+", value or "") if e]


# --- the process's facts ---

def _ray_context(env):
    """What Ray says of this worker (node id, GPU ids) when this process is a Ray worker; {} otherwise."""
    if not any(env.get(m) for m in _RAY_WORKER_MARKS) or "ray" not in sys.modules:
        return {}
    try:
        import ray
        if not ray.is_initialized():
            return {}
        return {"nodeId": str(ray.get_runtime_context().get_node_id()), "gpuIds": [str(g) for g in ray.get_gpu_ids()]}
    except Exception:  # an addition only
        return {}


def visibility_of(env, ray_context=None):
    """As lib/env/visibility.ts visibilityOf: CUDA_VISIBLE_DEVICES and whether Ray chose it."""
    ray_context = ray_context or {}
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    in_ray = any(env.get(m) for m in _RAY_WORKER_MARKS) or "CUIPC_RAY_CUDA_VISIBLE_DEVICES" in env or ray_context.get("nodeId") is not None
    if not in_ray:
        return {"cudaVisibleDevices": cvd, "assignedBy": "environment", "ray": None}
    noset = env.get(_NOSET, "") not in ("", "0")
    context = {"jobId": env.get("RAY_JOB_ID"), "nodeId": ray_context.get("nodeId"), "gpuIds": ray_context.get("gpuIds"), "noset": noset}
    gpu_ids = context["gpuIds"]
    ray_chose = cvd is not None and not noset and (gpu_ids is None or len(gpu_ids) > 0)
    return {"cudaVisibleDevices": cvd, "assignedBy": "ray" if ray_chose else "environment", "ray": context}


def _node_arch():
    machine = platform.machine()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64", "s390x": "s390x", "i686": "ia32"}.get(machine.lower(), machine)


def _user(env, notes):
    uid, gid = os.getuid(), os.getgid()
    try:
        import pwd
        return {"uid": uid, "gid": gid, "name": pwd.getpwuid(uid).pw_name}
    except (KeyError, ImportError):
        notes.append("user name: no passwd entry for this uid")
        return {"uid": uid, "gid": gid, "name": env.get("USER") or env.get("LOGNAME")}


def capture_env(label=None, values="all", env=None, path=None):
    """The launch environment of this process as a cuipc snapshot (a dict; JSON-able).

    label: a name for it (e.g. "actor"); values: "all" (every value except secret-looking ones)
    or "relevant" (only CUDA-relevant values); env: the environment to capture (default
    os.environ); path: also write it there as JSON (as `cuipc env capture --json FILE`).
    In a Ray actor it records Ray's node id and GPU ids too.
    """
    if values not in ("all", "relevant"):
        raise ValueError("values must be 'all' or 'relevant', got %r" % (values,))
    if label is not None and not isinstance(label, str):
        raise TypeError("label must be a string")
    env = dict(os.environ if env is None else env)
    flt = _filter()
    notes, relevant, environment, redacted = [], {}, {}, []
    for name in sorted(env):
        value = env[name]
        secret = looks_secret(name, flt)
        cuda_relevant = is_cuda_relevant(name, flt)
        keep = not secret and (values != "relevant" or cuda_relevant)
        stored = _redact_url_credentials(value) if keep else REDACTED
        if not keep:
            redacted.append(name)
        environment[name] = stored
        if cuda_relevant:
            relevant[name] = stored
    preload = describe_ld_preload(env.get("LD_PRELOAD"), env)
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError as error:
        pid_ns = None
        notes.append("PID namespace unreadable: %s" % error)
    shm = None
    try:
        s = os.statvfs("/dev/shm")
        shm = {"path": "/dev/shm", "sizeBytes": s.f_blocks * s.f_bsize, "freeBytes": s.f_bavail * s.f_bsize}
    except OSError as error:
        notes.append("/dev/shm unreadable: %s" % error)
    user = _user(env, notes)
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            cgroup = [line for line in f.read().split("\n") if line]
    except OSError as error:
        cgroup = None
        notes.append("cgroup unreadable: %s" % error)
    now = datetime.datetime.now(datetime.timezone.utc)
    snapshot = {
        "schema": SCHEMA,
        "schemaVersion": SCHEMA_VERSION,
        "label": label,
        "capturedAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "hostname": socket.gethostname(),
        "platform": sys.platform if sys.platform != "linux2" else "linux",
        "arch": _node_arch(),
        "kernelRelease": platform.release(),
        "nodeVersion": "",
        "execPath": sys.executable,
        "cwd": os.getcwd(),
        "user": user,
        "relevant": relevant,
        "environment": environment,
        "redacted": redacted,
        "preload": preload,
        "pidNamespace": pid_ns,
        "cgroup": cgroup,
        "shm": shm,
        "visibility": visibility_of(env, _ray_context(env)),
        "hazards": [],
        "notes": notes,
    }
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(snapshot, indent=2) + "\n")
    return snapshot
