"""Measures what memory a CUDA graph's allocation nodes give (PyTorch's cudaMallocAsync backend
allocates its tensors that way during capture): the pointer's attributes and whether
cudaIpcGetMemHandle exports its base, before and after the graph's first launch; the same for a
raw cudaMallocAsync on a capturing stream. Run on a GPU host with torch; prints one JSON line.
The answers go into docs/hardware-facts.md and the simulated device follows them.
"""
import ctypes
import json
import os
import sys


def main():
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "backend:cudaMallocAsync")
    import torch

    torch.cuda.init()
    cuda = ctypes.CDLL("libcuda.so.1")
    rt = None
    for line in open("/proc/self/maps"):
        if "libcudart.so" in line:
            rt = ctypes.CDLL(line.split()[-1])
            break
    rt = rt or ctypes.CDLL("libcudart.so.13")

    def attr(attribute, ptr):
        v = ctypes.c_uint64(0)  # every attribute asked here fits; the int ones land in the low bytes
        code = cuda.cuPointerGetAttribute(ctypes.byref(v), attribute, ctypes.c_uint64(ptr))
        return (code, v.value)

    def describe(ptr):
        base = attr(11, ptr)[1]
        handle = (ctypes.c_byte * 64)()
        code = rt.cudaIpcGetMemHandle(ctypes.byref(handle), ctypes.c_void_p(base))
        rt.cudaGetLastError()
        # CU_POINTER_ATTRIBUTE_*: MEMORY_TYPE 2, IS_LEGACY_CUDA_IPC_CAPABLE 10, RANGE_START_ADDR 11,
        # RANGE_SIZE 12, ALLOWED_HANDLE_TYPES 14, MEMPOOL_HANDLE 17 (the code: 0 when the memory has a pool).
        return {
            "memoryType": attr(2, ptr), "legacyIpcCapable": attr(10, ptr), "rangeStart": hex(base), "rangeSize": attr(12, ptr),
            "mempoolCode": attr(17, ptr)[0], "allowedHandleTypes": attr(14, ptr), "ipcGetMemHandleOnBase": code,
        }

    out = {"torch": torch.__version__, "conf": os.environ["PYTORCH_CUDA_ALLOC_CONF"]}
    g = torch.cuda.CUDAGraph()
    static = torch.zeros(1024, device="cuda")
    with torch.cuda.graph(g):
        x = static * 2
    out["tensorMadeDuringCapture_beforeLaunch"] = describe(x.data_ptr())
    g.replay()
    torch.cuda.synchronize()
    out["tensorMadeDuringCapture_afterLaunch"] = describe(x.data_ptr())
    out["tensorMadeOutsideCapture"] = describe(static.data_ptr())
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
