"""A PyTorch program that exports a CUDA-graph input with legacy CUDA IPC, the way custom
all-reduce v2's share_graph_inputs does: capture a graph, take the allocation base of the
tensor the graph wrote (cuPointerGetAttribute RANGE_START_ADDR), call cudaIpcGetMemHandle on it.

What happens depends only on the environment, as in the Ray-launched server:
  plain                                        -> the export succeeds (exit 0)
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True -> 1 cudaErrorInvalidValue (exit 1)
  LD_PRELOAD=<libcuipc_vmm_interposer.so>      -> 1 cudaErrorInvalidValue (exit 1)

Run under `cuipc trace -- python expandable_segments.py --ranks 2`: the parent starts the
ranks as child processes (which inherit the tracer), each rank writes its own trace.
"""
import argparse
import ctypes
import glob
import json
import os
import subprocess
import sys

CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11


def loaded_library(fragment):
    """The path of a library this process has mapped (the one torch loaded)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if fragment in os.path.basename(path):
                return path
    return None


def cuda_runtime(torch):
    path = loaded_library("libcudart.so")
    if path is None:  # a torch build with the runtime linked in: use its wheel's copy
        lib_dirs = os.path.join(os.path.dirname(torch.__file__), "..", "nvidia")
        found = sorted(glob.glob(os.path.join(lib_dirs, "**", "libcudart.so*"), recursive=True))
        path = found[0] if found else "libcudart.so"
    return ctypes.CDLL(path)


def rank_main(rank):
    import torch

    torch.cuda.set_device(rank % torch.cuda.device_count())
    runtime = cuda_runtime(torch)
    runtime.cudaGetErrorString.restype = ctypes.c_char_p
    driver = ctypes.CDLL("libcuda.so.1")

    graph_input = torch.full((1 << 20,), float(rank + 1), device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        graph_input * 2  # warm-up outside the capture, as CUDA-graph runners do
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = graph_input * 2  # allocated from the graph's pool during capture
    graph.replay()
    torch.cuda.synchronize()

    results = []
    for name, tensor in (("graph-input", graph_input), ("captured-output", captured)):
        base = ctypes.c_uint64(0)
        attr = driver.cuPointerGetAttribute(ctypes.byref(base), CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, ctypes.c_uint64(tensor.data_ptr()))
        handle = (ctypes.c_char * 64)()
        code = runtime.cudaIpcGetMemHandle(ctypes.byref(handle), ctypes.c_void_p(base.value or tensor.data_ptr()))
        runtime.cudaGetLastError()  # clear it, so a later check does not report it again
        results.append({"tensor": name, "ptr": hex(tensor.data_ptr()), "base": hex(base.value), "rangeStartCode": attr,
                        "cudaIpcGetMemHandle": code, "message": runtime.cudaGetErrorString(code).decode()})
    print(json.dumps({"rank": rank, "pid": os.getpid(), "allocConf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
                      "ldPreload": os.environ.get("LD_PRELOAD"), "exports": results}), flush=True)
    failed = [r for r in results if r["cudaIpcGetMemHandle"] != 0]
    if failed:
        print(f"rank {rank}: CUDA error: {failed[0]['message']} (cudaIpcGetMemHandle on {failed[0]['base']})", file=sys.stderr, flush=True)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2, help="rank processes to start (each a child process)")
    parser.add_argument("--rank", type=int, default=None, help="run one rank in this process")
    args = parser.parse_args()
    if args.rank is not None:
        return rank_main(args.rank)
    # The parent never touches CUDA: only the ranks appear in the trace, one file each.
    children = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--rank", str(r)]) for r in range(args.ranks)]
    return max(child.wait() for child in children)


if __name__ == "__main__":
    sys.exit(main())
