"""The comparison program for `npm run bench`: graph-input sharing written the way people
write it with PyTorch, doing the steps `cuipc probe` does.

Each rank process (torch.multiprocessing.spawn): pick a device, join a gloo process group,
allocate the graph inputs, capture a CUDA graph over them, take each input's allocation base
(cuPointerGetAttribute RANGE_START_ADDR) and offset, cudaIpcGetMemHandle once per base,
all-gather (handle, offset) pairs over gloo, cudaIpcOpenMemHandle(lazy peer access) on every
peer handle, replay the graph, then read every peer's inputs through the opened pointers and
check the sums.

Prints one JSON line: wall time, per-rank and launcher peak RSS, and the step outcomes.
Usage: python3 bench/torch_share_graph_inputs.py [--ranks 4] [--inputs 72] [--elements 1024]
"""
import argparse
import ctypes
import json
import os
import resource
import socket
import sys
import tempfile
import time

STARTED = time.perf_counter()  # before `import torch`: its import is part of what a user waits for

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

RANGE_START_ADDR = 11  # CU_POINTER_ATTRIBUTE_RANGE_START_ADDR
LAZY_ENABLE_PEER_ACCESS = 1  # cudaIpcMemLazyEnablePeerAccess
MEMCPY_DEFAULT = 4  # cudaMemcpyDefault


class IpcMemHandle(ctypes.Structure):
    _fields_ = [("reserved", ctypes.c_char * 64)]


def loaded_library(fragment):
    """The path of a library this process already mapped (the one PyTorch itself uses)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if fragment in os.path.basename(path):
                return path
    return None


def cuda_libraries():
    runtime_path = loaded_library("libcudart.so")
    runtime = ctypes.CDLL(runtime_path or "libcudart.so")
    driver = ctypes.CDLL(loaded_library("libcuda.so") or "libcuda.so.1")
    runtime.cudaIpcGetMemHandle.argtypes = [ctypes.POINTER(IpcMemHandle), ctypes.c_void_p]
    runtime.cudaIpcOpenMemHandle.argtypes = [ctypes.POINTER(ctypes.c_void_p), IpcMemHandle, ctypes.c_uint]
    runtime.cudaIpcCloseMemHandle.argtypes = [ctypes.c_void_p]
    runtime.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    driver.cuPointerGetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64]
    return runtime, driver


def own_peak_rss_kib():
    """VmHWM: this process's own peak. Not getrusage's ru_maxrss, which keeps the peak from before
    execve, so a rank that torch.multiprocessing.spawn forked from the launcher would report the
    launcher's RSS (bench/rss-preload.cts says the same of Node)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rank_main(rank, world, inputs, elements, port, result_dir):
    device = rank % torch.cuda.device_count()
    torch.cuda.set_device(device)
    dist.init_process_group("gloo", rank=rank, world_size=world, init_method=f"tcp://127.0.0.1:{port}")
    runtime, driver = cuda_libraries()

    # Capture: the graph's outputs are the buffers a server registers (they live in the graph's pool).
    static_in = [torch.full((elements,), float(rank + 1), device="cuda") for _ in range(inputs)]
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        graph_inputs = [x * 2 for x in static_in]

    # Export: base and offset per input, one handle per distinct base.
    export_failures = 0
    handle_of_base = {}
    pairs = []
    for tensor in graph_inputs:
        ptr = tensor.data_ptr()
        base = ctypes.c_uint64(0)
        if driver.cuPointerGetAttribute(ctypes.byref(base), RANGE_START_ADDR, ptr) != 0:
            export_failures += 1
            pairs.append((None, 0))
            continue
        if base.value not in handle_of_base:
            handle = IpcMemHandle()
            if runtime.cudaIpcGetMemHandle(ctypes.byref(handle), ctypes.c_void_p(base.value)) != 0:
                export_failures += 1
                handle_of_base[base.value] = None
            else:
                handle_of_base[base.value] = ctypes.string_at(ctypes.addressof(handle), 64)  # .reserved would stop at the first NUL
        pairs.append((handle_of_base[base.value], ptr - base.value))

    # Exchange.
    everyone = [None] * world
    dist.all_gather_object(everyone, pairs)

    # Import: open each peer handle once, pointer table = peer base + offset.
    open_failures = 0
    opened = {}
    table = {}
    for peer, peer_pairs in enumerate(everyone):
        if peer == rank:
            continue
        for index, (handle_bytes, offset) in enumerate(peer_pairs):
            if handle_bytes is None:
                continue
            if handle_bytes not in opened:
                mapped = ctypes.c_void_p()
                handle = IpcMemHandle.from_buffer_copy(handle_bytes)
                if runtime.cudaIpcOpenMemHandle(ctypes.byref(mapped), handle, LAZY_ENABLE_PEER_ACCESS) != 0:
                    open_failures += 1
                    opened[handle_bytes] = None
                else:
                    opened[handle_bytes] = mapped.value
            if opened[handle_bytes] is not None:
                table[(peer, index)] = opened[handle_bytes] + offset

    # Replay, then every rank's inputs hold their final values before anyone reads them.
    graph.replay()
    torch.cuda.synchronize()
    dist.barrier()

    # Verify: sum every input over all ranks through the peer pointers.
    mismatches = 0
    expected = float(sum(2 * (r + 1) for r in range(world)))
    scratch = torch.empty(elements, device="cuda")
    for index, own in enumerate(graph_inputs):
        total = own.clone()
        for peer in range(world):
            if peer == rank:
                continue
            address = table.get((peer, index))
            if address is None or runtime.cudaMemcpy(ctypes.c_void_p(scratch.data_ptr()), ctypes.c_void_p(address),
                                                     elements * 4, MEMCPY_DEFAULT) != 0:
                mismatches += 1
                continue
            total += scratch
        if not torch.all(total == expected).item():
            mismatches += 1
    torch.cuda.synchronize()
    dist.barrier()  # nobody closes a handle while a peer still reads

    for address in opened.values():
        if address is not None:
            runtime.cudaIpcCloseMemHandle(ctypes.c_void_p(address))
    peak_rss_kib = own_peak_rss_kib()
    with open(os.path.join(result_dir, f"rank{rank}.json"), "w") as out:
        json.dump({"rank": rank, "device": device, "peakRssKiB": peak_rss_kib, "handles": len(handle_of_base),
                   "exportFailures": export_failures, "openFailures": open_failures, "mismatches": mismatches}, out)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--inputs", type=int, default=72)
    parser.add_argument("--elements", type=int, default=1024, help="float32 elements per input (1024: 4096 bytes, as the probe)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "PyTorch sees no CUDA device"}))
        return 3
    with tempfile.TemporaryDirectory(prefix="cuipc-bench-torch-") as result_dir:
        mp.spawn(rank_main, args=(args.ranks, args.inputs, args.elements, free_port(), result_dir), nprocs=args.ranks)
        ranks = []
        for rank in range(args.ranks):
            with open(os.path.join(result_dir, f"rank{rank}.json")) as f:
                ranks.append(json.load(f))
    wall_ms = (time.perf_counter() - STARTED) * 1000
    passed = all(r["exportFailures"] == 0 and r["openFailures"] == 0 and r["mismatches"] == 0 for r in ranks)
    print(json.dumps({
        "program": "torch_share_graph_inputs",
        "torch": torch.__version__,
        "ranks": args.ranks,
        "inputs": args.inputs,
        "wallMs": round(wall_ms, 1),
        "launcherPeakRssKiB": own_peak_rss_kib(),
        "rankPeakRssKiB": [r["peakRssKiB"] for r in ranks],
        "passed": passed,
        "perRank": ranks,
    }))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
