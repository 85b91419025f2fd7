#!/usr/bin/env python3
# The GPU suite's PyTorch cross-check for `cuipc probe` (issue 20: "PyTorch is the authority
# where it is installed"). The probe replays SGLang's share_graph_inputs with its own native
# calls; this program does the same steps with PyTorch itself: the graph inputs come from
# PyTorch's caching allocator (so PYTORCH_CUDA_ALLOC_CONF applies) inside a real
# torch.cuda.graph capture, under whatever LD_PRELOAD hook and switches the caller sets. Run both
# in the same environment: the probe must give the same verdict (passed / failed / aborted) and,
# when failed, the same step, call and code.
#
# Reproduced per rank (one spawned process each; rank r uses GPU r % device_count):
#   register  CustomAllreduce.__init__: create_shared_buffer twice (cudaMalloc, cudaIpcGetMemHandle,
#             all_gather_object, cudaIpcOpenMemHandle of each peer) through the libcudart handle
#             as SGLang's CudaRTLibrary calls them, then rank_data = torch.empty(max_size).
#   capture   torch.cuda.graph, inside torch_memory_saver's region when SGLANG_MEMORY_SAVER_CUDA_GRAPH
#             is on and a loaded library exports it; the inputs are created inside the capture,
#             so they live in the graph's private pool, as a model forward's tensors do.
#   export    get_graph_buffer_ipc_meta: each input's allocation base (cuPointerGetAttribute
#             RANGE_START_ADDR), cudaIpcGetMemHandle(base), the offset.
#   exchange, import (register_graph_buffers), replay, verify (peers' values), teardown.
# Not reproduced: the model, NCCL, the all-reduce kernel (an `x * 1` node reads each input),
# warm-up runs, several batch sizes sharing one pool, torch_memory_saver's tags, CPU backup and
# pause/resume, the P2P / NVLink checks that can disable custom all-reduce, and newer SGLang's
# unregistered path when the memory saver is on (all_reduce(registered=not tms_cudagraph)).
# Standard library + torch; torch is imported only inside the functions that need it, so the
# pure parts are unit-tested without it (test_torch_share_graph_inputs_unit.py).
import argparse
import ctypes
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

STEPS = ('init', 'register', 'capture', 'export', 'exchange', 'import', 'replay', 'verify', 'teardown')
ENV_KEYS = ('LD_PRELOAD', 'PYTORCH_CUDA_ALLOC_CONF', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH', 'TMS_INIT_ENABLE')
EXIT_CODES = {'passed': 0, 'failed': 1, 'aborted': 3}
MAX_SIZE = 8192 * 1024  # CustomAllreduce._MAX_CAR_SIZE
META_SIZE = 3456  # ops.meta_size() = sizeof(Signal): uint32 self_counter[36][8] + peer_counter[2][36][8]
RANGE_START_ADDR, IS_LEGACY_CUDA_IPC_CAPABLE = 11, 10  # CU_POINTER_ATTRIBUTE_*
MEMCPY_DEVICE_TO_HOST, IPC_LAZY_ENABLE_PEER_ACCESS = 2, 1
GRACE_S = 3.0  # after a rank dies, how long the others get to finish or die on their own

# ---- pure parts (no torch) ----

def _number(convert, minimum, multiple=1):
    def parse(text):
        value = convert(text)
        if value < minimum or (multiple > 1 and value % multiple):
            raise argparse.ArgumentTypeError('must be at least %s%s' % (minimum, ' and a multiple of %d' % multiple if multiple > 1 else ''))
        return value
    return parse

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Replays SGLang's share_graph_inputs with PyTorch (cuipc probe's cross-check).")
    p.add_argument('--ranks', type=_number(int, 1), default=4, help='rank processes (default 4)')
    p.add_argument('--inputs', type=_number(int, 1), default=72, help='graph inputs per rank (default 72)')
    p.add_argument('--bytes', type=_number(int, 4, 4), default=4096, help='bytes per int32 input, a multiple of 4 (default 4096)')
    p.add_argument('--timeout', type=_number(float, 0.001), default=120.0, help='seconds before running ranks are killed (default 120)')
    p.add_argument('--json', action='store_true', help='print one line of JSON')
    return p.parse_args(argv)

def parse_sglang_bool(value):
    """SGLang's EnvBool, as (on, valid): absent is off; an unknown value is off (SGLang warns)."""
    v = (value or '').lower()
    if v in ('true', '1', 'yes', 'y'):
        return True, True
    return False, value is None or v in ('false', '0', 'no', 'n')

def pick_loaded_library(maps_lines, prefix):
    """The first mapped shared object whose file name starts with prefix (SGLang's find_loaded_library)."""
    for line in maps_lines:
        path = line[line.index('/'):].strip() if '/' in line else ''
        name = path.rsplit('/', 1)[-1]
        if name.startswith(prefix) and '.so' in name:
            return path
    return None

def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)

def rank_entry(rank, report, exit_code, step, kill_reason, timeout_s=None):
    """One rank's result: its own report, or why there is none (step = the step it was in)."""
    if report is not None:
        entry = dict(report, exitCode=exit_code)
        if exit_code not in (0, None) and step == 'teardown':
            # The verdict stands; the death in teardown is PyTorch's own, noted beside it.
            entry['teardown'] = 'died in teardown (%s)' % ('signal %s' % _signal_name(-exit_code) if exit_code < 0 else 'status %d' % exit_code)
        return entry
    entry = {'rank': rank, 'result': 'aborted', 'step': step, 'call': None, 'code': None, 'name': None, 'exitCode': exit_code}
    if kill_reason == 'timeout':
        entry['detail'] = 'still running after %g s; killed' % timeout_s
    elif kill_reason:
        entry.update(result='killed', detail='killed: %s' % kill_reason)
    elif exit_code is not None and exit_code < 0:
        entry['detail'] = 'died of signal %s without a report' % _signal_name(-exit_code)
    else:
        entry['detail'] = 'exited with status %s without a report' % exit_code
    return entry

def build_output(options, entries, torch_version, device, env, duration_s):
    """The one JSON object printed (result / exitCode / pinpoint as `cuipc probe --json` names them)."""
    results = {e['result'] for e in entries}
    result = 'aborted' if results & {'aborted', 'killed'} else 'failed' if results & {'failed', 'stopped'} else 'passed'
    failed = sorted((e for e in entries if e['result'] == 'failed'),
                    key=lambda e: (STEPS.index(e['step']) if e.get('step') in STEPS else len(STEPS), e['rank']))
    pinpoint = {k: failed[0].get(k) for k in ('rank', 'step', 'call', 'code', 'name', 'detail', 'provenance')} if failed else None
    aborted = [dict((k, e.get(k)) for k in ('rank', 'step', 'exitCode', 'detail')) for e in entries if e['result'] == 'aborted']
    abort = aborted[0] if aborted else None
    if abort:
        abort['signal'] = _signal_name(-abort['exitCode']) if (abort['exitCode'] or 0) < 0 else None
    on, valid = parse_sglang_bool(env.get('SGLANG_MEMORY_SAVER_CUDA_GRAPH'))
    return {'kind': 'torch-share-graph-inputs', 'result': result, 'exitCode': EXIT_CODES[result],
            'pinpoint': pinpoint, 'abort': abort, 'ranks': entries, 'options': options,
            'torch': torch_version, 'device': device, 'env': {k: env.get(k) for k in ENV_KEYS},
            'memorySaverCudaGraph': {'on': on, 'valid': valid}, 'durationS': round(duration_s, 3)}

def render_summary(out):
    o, p, a = out['options'], out['pinpoint'], out['abort']
    lines = ['%s: PyTorch share_graph_inputs, %d ranks x %d inputs x %d bytes (torch %s, %s)' % (
        out['result'].upper(), o['ranks'], o['inputs'], o['bytes'], out['torch'], out['device'])]
    if p:
        lines.append('first failure: rank %s, step %s, %s -> %s (%s): %s' % tuple(p[k] for k in ('rank', 'step', 'call', 'code', 'name', 'detail')))
    if a:
        lines.append('aborted: rank %s in step %s: %s' % (a['rank'], a['step'], a['detail']))
    for e in out['ranks']:
        call = ': %s -> %s (%s)' % (e['call'], e['code'], e['name']) if e.get('call') else ''
        lines.append('  rank %d: %s' % (e['rank'], e['result']) + ('' if e['result'] == 'passed' else ' at %s%s - %s' % (e.get('step'), call, e.get('detail'))))
    entered = sorted({e['region']['library'] for e in out['ranks'] if (e.get('region') or {}).get('entered')})
    lines.append('memory-saver region: ' + ('entered through ' + ', '.join(entered) if entered else 'not entered (%s)' % (
        'no loaded library exports tms_set_interesting_region' if out['memorySaverCudaGraph']['on'] else 'SGLANG_MEMORY_SAVER_CUDA_GRAPH off')))
    lines.append('env: ' + ', '.join('%s=%s' % (k, '(unset)' if v is None else v) for k, v in out['env'].items()))
    return '\n'.join(lines)

# ---- CUDA through ctypes (rank processes only) ----

class IpcHandle(ctypes.Structure):
    _fields_ = [('reserved', ctypes.c_ubyte * 64)]  # CUDA_IPC_HANDLE_SIZE

class _DlInfo(ctypes.Structure):
    _fields_ = [('fname', ctypes.c_char_p), ('fbase', ctypes.c_void_p), ('sname', ctypes.c_char_p), ('saddr', ctypes.c_void_p)]

def _bind(lib, name, restype, argtypes):
    fn = lib[name]  # [] makes a fresh function object: types set here never leak to other lookups
    fn.restype, fn.argtypes = restype, argtypes
    return fn

def symbol_library(fn):
    """The real path of the library that defines a ctypes function, or None."""
    try:
        dladdr = _bind(ctypes.CDLL(None), 'dladdr', ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DlInfo)])
    except AttributeError:  # glibc before 2.34
        dladdr = _bind(ctypes.CDLL('libdl.so.2'), 'dladdr', ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DlInfo)])
    info = _DlInfo()
    ok = dladdr(ctypes.cast(fn, ctypes.c_void_p), ctypes.byref(info))
    return os.path.realpath(info.fname.decode()) if ok and info.fname else None

class Cuda:
    def __init__(self):
        with open('/proc/self/maps') as f:
            path = pick_loaded_library(f, 'libcudart')  # the runtime torch loaded
        for name in [path] if path else ['libcudart.so.13', 'libcudart.so.12', 'libcudart.so']:
            try:
                self.rt = ctypes.CDLL(name)
                break
            except OSError as e:
                error = e
        else:
            raise error
        vp, pvp, i, h = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.POINTER(IpcHandle)
        drv = ctypes.CDLL('libcuda.so.1')
        # SGLang's create_shared_buffer calls CudaRTLibrary: ctypes.CDLL(<libcudart>).cudaMalloc, a dlsym
        # on the runtime's handle, which searches libcudart and its dependencies only and so bypasses
        # an LD_PRELOAD hook (glibc). The register step binds the same way.
        self.rt_malloc = _bind(self.rt, 'cudaMalloc', i, [pvp, ctypes.c_size_t])
        self.rt_free = _bind(self.rt, 'cudaFree', i, [vp])
        self.rt_ipc_get = _bind(self.rt, 'cudaIpcGetMemHandle', i, [h, vp])
        self.rt_ipc_open = _bind(self.rt, 'cudaIpcOpenMemHandle', i, [pvp, IpcHandle, ctypes.c_uint])
        self.rt_ipc_close = _bind(self.rt, 'cudaIpcCloseMemHandle', i, [vp])
        # sgl-kernel's C++ (get_graph_buffer_ipc_meta, register_graph_buffers) reaches the runtime
        # through the dynamic linker, where an LD_PRELOAD definition wins: global scope first.
        self.ipc_get = self._global_first('cudaIpcGetMemHandle', [h, vp])
        self.ipc_open = self._global_first('cudaIpcOpenMemHandle', [pvp, IpcHandle, ctypes.c_uint])
        self.ipc_close = self._global_first('cudaIpcCloseMemHandle', [vp])
        self.set_device = _bind(self.rt, 'cudaSetDevice', i, [i])
        self.get_last_error = _bind(self.rt, 'cudaGetLastError', i, [])
        self.memcpy = _bind(self.rt, 'cudaMemcpy', i, [vp, vp, ctypes.c_size_t, i])
        self.error_name_fn = _bind(self.rt, 'cudaGetErrorName', ctypes.c_char_p, [i])
        self.pointer_attr = _bind(drv, 'cuPointerGetAttribute', i, [vp, i, ctypes.c_uint64])
        self.retain = _bind(drv, 'cuMemRetainAllocationHandle', i, [ctypes.POINTER(ctypes.c_uint64), vp])
        self.release = _bind(drv, 'cuMemRelease', i, [ctypes.c_uint64])
        self.drv_error_name_fn = _bind(drv, 'cuGetErrorName', i, [i, ctypes.POINTER(ctypes.c_char_p)])
        # Reported only: the runtime used, and who serves PyTorch's own cudaMalloc (global scope first).
        self.libraries = {'cudart': symbol_library(self.get_last_error),
                          'cudaMalloc': symbol_library(self._global_first('cudaMalloc', [pvp, ctypes.c_size_t]))}

    def _global_first(self, name, argtypes):
        try:
            return _bind(ctypes.CDLL(None), name, ctypes.c_int, argtypes)
        except AttributeError:
            return _bind(self.rt, name, ctypes.c_int, argtypes)

    def error_name(self, code, driver=False):
        out = ctypes.c_char_p()
        if driver:
            return out.value.decode() if self.drv_error_name_fn(code, ctypes.byref(out)) == 0 and out.value else None
        return (self.error_name_fn(code) or b'?').decode()

    def attr(self, attribute, ptr):
        value = ctypes.c_uint64(0)  # wide enough for a CUdeviceptr, zeroed for a narrower bool
        return self.pointer_attr(ctypes.byref(value), attribute, ptr), value.value

    def provenance(self, base):
        rc, legacy = self.attr(IS_LEGACY_CUDA_IPC_CAPABLE, base)
        handle = ctypes.c_uint64()
        vmm = self.retain(ctypes.byref(handle), base) == 0  # succeeds only on cuMemCreate memory
        if vmm:
            self.release(handle)
        return {'base': hex(base), 'vmm': vmm, 'legacyIpcCapable': bool(legacy) if rc == 0 else None}

def find_region_hook():
    """torch_memory_saver's thread-local region switch (set, get or None, library), if a loaded library exports it."""
    glob = ctypes.CDLL(None)
    try:
        set_fn = _bind(glob, 'tms_set_interesting_region', None, [ctypes.c_bool])
    except AttributeError:
        return None
    get_fn = _bind(glob, 'tms_get_interesting_region', ctypes.c_bool, []) if hasattr(glob, 'tms_get_interesting_region') else None
    return set_fn, get_fn, symbol_library(set_fn)

# ---- one rank ----

class Rank:
    def __init__(self, rank, world, workdir, inputs, nbytes, timeout_s):
        self.rank, self.world, self.workdir, self.inputs, self.nbytes, self.timeout_s = rank, world, workdir, inputs, nbytes, timeout_s
        self.step, self.call, self.cuda = 'init', None, None
        self.report = {'rank': rank, 'result': 'passed', 'step': None, 'call': None, 'code': None, 'name': None, 'detail': None}
        self.own, self.opened, self.keep, self.exported = [], [], [], []

    @property
    def failed(self):
        return self.report['result'] != 'passed'

    def progress(self, step, call=None):
        self.step, self.call = step, call
        with open(os.path.join(self.workdir, 'rank%d.step' % self.rank), 'w') as f:
            f.write(step)  # read by the parent if this process dies

    def fail(self, call, code, detail, name=None, provenance=None):
        if self.failed:
            return  # the first failure is the one that counts
        if name is None and code is not None and self.cuda:
            name = self.cuda.error_name(code)
        self.report.update(result='failed', step=self.step, call=call, code=code, name=name, detail=detail)
        if provenance:
            self.report['provenance'] = provenance

    def raised(self, call, e):
        self.fail(call, None, str(e).strip()[:600], name=type(e).__name__)

    def gather(self, obj):
        import torch.distributed as dist
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def agree(self):
        """All ranks learn whether any failed, so all stop at the same point and none waits in a collective."""
        bad = [v for v in self.gather((self.rank, self.report['step']) if self.failed else None) if v]
        if bad and not self.failed:
            self.report.update(result='stopped', step=self.step, detail='rank %d failed at %s' % bad[0])
        return not bad

    def run(self):
        import datetime
        import torch.distributed as dist
        self.progress('init', 'init_process_group')
        os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')  # all ranks are on this host: no network needed
        store = dist.FileStore(os.path.join(self.workdir, 'store'), self.world)
        dist.init_process_group('gloo', store=store, rank=self.rank, world_size=self.world, timeout=datetime.timedelta(seconds=self.timeout_s))
        steps = [('init', self.init), ('register', self.register), ('capture', self.capture), ('export', self.export),
                 ('exchange', self.exchange), ('import', self.import_), ('replay', self.replay), ('verify', self.verify)]
        for step, fn in steps:
            self.progress(step)
            try:
                fn()
            except Exception as e:  # a raising torch call, reported as that call's failure
                self.raised(self.call or step, e)
            if not self.agree():
                break
        # The verdict is in before teardown: saved now, so a rank that dies tearing down (PyTorch's
        # own destructors can abort) still reports where share_graph_inputs failed.
        save_report(self)
        self.teardown()

    def init(self):
        import torch
        count = torch.cuda.device_count()
        if count == 0:
            return self.fail('torch.cuda.device_count', None, 'no CUDA device visible', name='NoDevice')
        self.index, self.call = self.rank % count, 'torch.cuda.set_device'
        torch.cuda.set_device(self.index)
        torch.cuda.init()
        self.dev = torch.device('cuda', self.index)
        self.report.update(torch=torch.__version__, device=torch.cuda.get_device_name(self.index))
        self.call = 'load CUDA libraries'
        self.cuda = Cuda()
        self.cuda.set_device(self.index)  # the handle found may be another copy of the runtime than torch's
        self.report['libraries'] = self.cuda.libraries

    def shared_buffer(self, size, label):
        """SGLang's create_shared_buffer. Every rank gathers, even after a local failure; False if any rank failed."""
        c, handle = self.cuda, None
        if not self.failed:
            ptr, h = ctypes.c_void_p(), IpcHandle()
            rc = c.rt_malloc(ctypes.byref(ptr), size)
            if rc:
                self.fail('cudaMalloc', rc, '%s buffer, %d bytes' % (label, size))
            else:
                self.own.append(ptr.value)
                rc = c.rt_ipc_get(ctypes.byref(h), ptr)
                if rc:
                    c.get_last_error()  # see export
                    self.fail('cudaIpcGetMemHandle', rc, '%s buffer at %s' % (label, hex(ptr.value)), provenance=c.provenance(ptr.value))
                else:
                    handle = bytes(h.reserved)
        handles = self.gather(handle)
        if None in handles:
            return False
        for peer, h in enumerate(handles):
            ptr = ctypes.c_void_p()
            if peer != self.rank:
                rc = c.rt_ipc_open(ctypes.byref(ptr), IpcHandle.from_buffer_copy(h), IPC_LAZY_ENABLE_PEER_ACCESS)
                if rc:
                    c.get_last_error()
                    self.fail('cudaIpcOpenMemHandle', rc, "rank %d's %s buffer" % (peer, label))
                    break
                self.opened.append((c.rt_ipc_close, ptr.value))
        return True

    def register(self):
        import torch
        if self.shared_buffer(META_SIZE + MAX_SIZE, 'meta'):
            self.shared_buffer(MAX_SIZE, 'buffer')
        if not self.failed:
            self.call = 'torch.empty (rank_data)'
            self.keep.append(torch.empty(MAX_SIZE, dtype=torch.uint8, device=self.dev))

    def capture(self):
        import torch
        hook = find_region_hook() if parse_sglang_bool(os.environ.get('SGLANG_MEMORY_SAVER_CUDA_GRAPH'))[0] else None
        self.report['region'] = {'entered': hook is not None, 'library': hook[2] if hook else None}
        previous = bool(hook[1]()) if hook and hook[1] else False
        self.graph, self.xs, self.outs, self.call = torch.cuda.CUDAGraph(), [], [], 'torch.cuda.graph'
        if hook:
            hook[0](True)  # on this thread, around the capture, as SGLang's memory-saver adapter does
        try:
            with torch.cuda.graph(self.graph):
                for _ in range(self.inputs):  # made inside the capture: the graph's private pool
                    x = torch.empty(self.nbytes // 4, dtype=torch.int32, device=self.dev)
                    x.fill_(self.rank + 1)  # recorded, not run: the replay step fills them
                    self.xs.append(x)
                    self.outs.append(x * 1)  # the all-reduce's stand-in, reading the input
        finally:
            if hook:
                hook[0](previous)
        self.ptrs = [x.data_ptr() for x in self.xs]

    def export(self):
        c, handles = self.cuda, {}
        for i, ptr in enumerate(self.ptrs):
            rc, base = c.attr(RANGE_START_ADDR, ptr)
            if rc:
                return self.fail('cuPointerGetAttribute', rc, 'RANGE_START_ADDR of input %d at %s' % (i, hex(ptr)), name=c.error_name(rc, driver=True))
            if base not in handles:
                h = IpcHandle()
                rc = c.ipc_get(ctypes.byref(h), base)
                if rc:
                    # The runtime keeps the error as this thread's last error, and PyTorch's next
                    # launch check (cudaGetLastError) would raise it as its own: clear it.
                    c.get_last_error()
                    prov = dict(c.provenance(base), offset=ptr - base, input=i)
                    return self.fail('cudaIpcGetMemHandle', rc, 'input %d at %s, base %s (offset %d), IS_LEGACY_CUDA_IPC_CAPABLE=%s, vmm=%s' % (
                        i, hex(ptr), hex(base), ptr - base, prov['legacyIpcCapable'], prov['vmm']), provenance=prov)
                handles[base] = bytes(h.reserved)
            self.exported.append((handles[base], ptr - base))
        self.report['bases'] = len(handles)

    def exchange(self):
        self.call = 'all_gather_object'
        self.exchanged = self.gather(self.exported)

    def import_(self):
        c, bases, self.peer_ptrs = self.cuda, {}, {}
        for peer, items in enumerate(self.exchanged):
            if peer == self.rank:
                continue
            self.peer_ptrs[peer] = []
            for i, (h, offset) in enumerate(items):
                if (peer, h) not in bases:
                    ptr = ctypes.c_void_p()
                    rc = c.ipc_open(ctypes.byref(ptr), IpcHandle.from_buffer_copy(h), IPC_LAZY_ENABLE_PEER_ACCESS)
                    if rc:
                        c.get_last_error()
                        return self.fail('cudaIpcOpenMemHandle', rc, "rank %d's input %d (offset %d)" % (peer, i, offset))
                    bases[peer, h] = ptr.value
                    self.opened.append((c.ipc_close, ptr.value))
                self.peer_ptrs[peer].append(bases[peer, h] + offset)

    def replay(self):
        import torch
        self.call = 'CUDAGraph.replay'
        self.graph.replay()  # runs the recorded fills: every input now holds rank + 1
        self.call = 'torch.cuda.synchronize'
        torch.cuda.synchronize()

    def verify(self):
        n, buf = self.nbytes // 4, ctypes.create_string_buffer(self.nbytes)
        for peer, ptrs in self.peer_ptrs.items():
            want = struct.pack('<i', peer + 1) * n
            for i, src in enumerate(ptrs):
                rc = self.cuda.memcpy(buf, src, self.nbytes, MEMCPY_DEVICE_TO_HOST)
                if rc:
                    self.cuda.get_last_error()
                    return self.fail('cudaMemcpy', rc, "rank %d's input %d at %s" % (peer, i, hex(src)))
                if buf.raw != want:
                    got = memoryview(buf.raw).cast('i')
                    return self.fail('verify', None, "rank %d's input %d: %d of %d int32 differ from %d (first %d)" % (
                        peer, i, sum(v != peer + 1 for v in got), n, peer + 1, got[0]), name='Mismatch')

    def guarded(self, call, fn):
        self.call = call
        try:
            fn()
        except Exception as e:
            self.raised(call, e)

    def teardown(self):
        import torch
        import torch.distributed as dist
        self.progress('teardown')
        for close, ptr in self.opened:
            rc = close(ptr)
            if rc:
                self.cuda.get_last_error()
                self.fail('cudaIpcCloseMemHandle', rc, hex(ptr))
        if self.cuda:
            self.guarded('torch.cuda.synchronize', torch.cuda.synchronize)
        self.guarded('barrier', dist.barrier)  # all mappings closed before the owners free
        for ptr in self.own:
            rc = self.cuda.rt_free(ptr)  # free_shared_buffer: CudaRTLibrary again
            if rc:
                self.fail('cudaFree', rc, hex(ptr))
        self.graph = self.xs = self.outs = self.keep = None
        self.guarded('destroy_process_group', dist.destroy_process_group)

def save_report(r):
    path = os.path.join(r.workdir, 'rank%d.json' % r.rank)
    with open(path + '.tmp', 'w') as f:
        json.dump(r.report, f)
    os.replace(path + '.tmp', path)  # a report is whole or absent


def rank_main(rank, world, workdir, inputs, nbytes, timeout_s):
    r = Rank(rank, world, workdir, inputs, nbytes, timeout_s)
    try:
        r.run()
    except Exception as e:  # outside the steps' guard: the process group or one of its collectives broke
        r.raised(r.call or r.step, e)
    save_report(r)

# ---- parent ----

def _read(path, loader):
    try:
        with open(path) as f:
            return loader(f)
    except (OSError, ValueError):
        return None

def main(argv=None):
    args = parse_args(argv)
    import torch
    import torch.multiprocessing as mp
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix='torch-sgi-')
    try:
        ctx = mp.get_context('spawn')  # each rank starts clean and inherits this environment
        procs = [ctx.Process(target=rank_main, args=(r, args.ranks, workdir, args.inputs, args.bytes, args.timeout)) for r in range(args.ranks)]
        for p in procs:
            p.start()
        report = lambda r: os.path.join(workdir, 'rank%d.json' % r)  # noqa: E731
        deadline, died_at, kill_reason = started + args.timeout, None, {}
        while any(p.is_alive() for p in procs):
            now = time.monotonic()
            dead = [r for r, p in enumerate(procs) if not p.is_alive() and not os.path.exists(report(r))]
            if dead and died_at is None:
                died_at = now  # the others would wait for it in their next collective
            if now > deadline or (died_at is not None and now > died_at + GRACE_S):
                for r, p in enumerate(procs):
                    if p.is_alive():
                        p.kill()
                        kill_reason[r] = 'timeout' if now > deadline else 'rank %d died' % dead[0]
                break
            time.sleep(0.05)
        for p in procs:
            p.join()
        entries = [rank_entry(r, _read(report(r), json.load), p.exitcode, _read(os.path.join(workdir, 'rank%d.step' % r), lambda f: f.read().strip()),
                              kill_reason.get(r), args.timeout) for r, p in enumerate(procs)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    device = next((e['device'] for e in entries if e.get('device')), None)
    options = {'ranks': args.ranks, 'inputs': args.inputs, 'bytes': args.bytes, 'timeoutS': args.timeout}
    out = build_output(options, entries, torch.__version__, device, dict(os.environ), time.monotonic() - started)
    print(json.dumps(out) if args.json else render_summary(out), flush=True)
    return out['exitCode']

if __name__ == '__main__':
    sys.exit(main())
