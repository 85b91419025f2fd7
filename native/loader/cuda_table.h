// The declarative table of every CUDA entry point cuipc calls. The loader resolves each row
// (runtime rows with dlsym, driver rows through cuGetProcAddress), the simulated device
// implements each row, and nothing else in native/ names a CUDA symbol directly.
#pragma once
#include "cuda_abi.h"

// X(name, parameter list, argument names)
#define CUIPC_RUNTIME_TABLE(X)                                                                 \
  X(cudaGetDeviceCount, (int* count), (count))                                                 \
  X(cudaSetDevice, (int device), (device))                                                     \
  X(cudaGetDevice, (int* device), (device))                                                    \
  X(cudaDeviceGetAttribute, (int* value, int attr, int device), (value, attr, device))         \
  X(cudaDeviceGetPCIBusId, (char* pciBusId, int len, int device), (pciBusId, len, device))     \
  X(cudaDriverGetVersion, (int* version), (version))                                           \
  X(cudaRuntimeGetVersion, (int* version), (version))                                          \
  X(cudaMallocAsync, (void** ptr, size_t size, cudaStream_t stream), (ptr, size, stream))      \
  X(cudaFreeAsync, (void* ptr, cudaStream_t stream), (ptr, stream))                            \
  X(cudaMallocManaged, (void** ptr, size_t size, unsigned flags), (ptr, size, flags))          \
  X(cudaHostAlloc, (void** ptr, size_t size, unsigned flags), (ptr, size, flags))              \
  X(cudaFreeHost, (void* ptr), (ptr))                                                          \
  X(cudaMemset, (void* ptr, int value, size_t count), (ptr, value, count))                     \
  X(cudaMemcpy, (void* dst, const void* src, size_t count, int kind), (dst, src, count, kind)) \
  X(cudaIpcGetMemHandle, (cudaIpcMemHandle_t* handle, void* ptr), (handle, ptr))               \
  X(cudaIpcOpenMemHandle, (void** ptr, cudaIpcMemHandle_t handle, unsigned flags),             \
    (ptr, handle, flags))                                                                      \
  X(cudaIpcCloseMemHandle, (void* ptr), (ptr))                                                 \
  X(cudaEventCreateWithFlags, (cudaEvent_t* event, unsigned flags), (event, flags))            \
  X(cudaEventDestroy, (cudaEvent_t event), (event))                                            \
  X(cudaEventRecord, (cudaEvent_t event, cudaStream_t stream), (event, stream))                \
  X(cudaEventSynchronize, (cudaEvent_t event), (event))                                        \
  X(cudaIpcGetEventHandle, (cudaIpcEventHandle_t* handle, cudaEvent_t event), (handle, event)) \
  X(cudaIpcOpenEventHandle, (cudaEvent_t* event, cudaIpcEventHandle_t handle), (event, handle)) \
  X(cudaStreamCreateWithFlags, (cudaStream_t* stream, unsigned flags), (stream, flags))        \
  X(cudaStreamDestroy, (cudaStream_t stream), (stream))                                        \
  X(cudaStreamSynchronize, (cudaStream_t stream), (stream))                                    \
  X(cudaStreamBeginCapture, (cudaStream_t stream, int mode), (stream, mode))                   \
  X(cudaStreamEndCapture, (cudaStream_t stream, cudaGraph_t* graph), (stream, graph))          \
  X(cudaStreamIsCapturing, (cudaStream_t stream, int* status), (stream, status))               \
  /* CUDA 12 declares 3 parameters, CUDA 13 seven; the trailing ones are always null here. */  \
  X(cudaStreamGetCaptureInfo,                                                                  \
    (cudaStream_t stream, int* status, unsigned long long* id, void* graph, void* deps,        \
     void* edges, void* count),                                                                \
    (stream, status, id, graph, deps, edges, count))                                           \
  X(cudaThreadExchangeStreamCaptureMode, (int* mode), (mode))                                  \
  X(cudaGraphInstantiate, (cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags), \
    (exec, graph, flags))                                                                      \
  X(cudaGraphLaunch, (cudaGraphExec_t exec, cudaStream_t stream), (exec, stream))              \
  X(cudaGraphDestroy, (cudaGraph_t graph), (graph))                                            \
  X(cudaGraphExecDestroy, (cudaGraphExec_t exec), (exec))                                      \
  X(cudaGetLastError, (void), ())                                                              \
  X(cudaPeekAtLastError, (void), ())                                                           \
  X(cudaDeviceSynchronize, (void), ())                                                         \
  X(cudaDeviceCanAccessPeer, (int* can, int device, int peer), (can, device, peer))            \
  X(cudaDeviceEnablePeerAccess, (int peer, unsigned flags), (peer, flags))                     \
  X(cudaDeviceDisablePeerAccess, (int peer), (peer))                                           \
  X(cudaDeviceGetP2PAttribute, (int* value, int attr, int src, int dst), (value, attr, src, dst))

// Allocation entry points are looked up in the process's global scope first, so that an
// LD_PRELOAD interposer (torch_memory_saver's preload mode) wins exactly as it does for
// PyTorch; only when none is there do they come from the runtime itself.
#define CUIPC_ALLOCATION_TABLE(X)                                                              \
  X(cudaMalloc, (void** ptr, size_t size), (ptr, size))                                        \
  X(cudaFree, (void* ptr), (ptr))

#define CUIPC_DRIVER_TABLE(X)                                                                  \
  X(cuInit, (unsigned flags), (flags))                                                         \
  X(cuDriverGetVersion, (int* version), (version))                                             \
  X(cuDeviceGet, (CUdevice* device, int ordinal), (device, ordinal))                           \
  X(cuDeviceGetName, (char* name, int len, CUdevice device), (name, len, device))              \
  X(cuDeviceGetUuid, (CUuuid* uuid, CUdevice device), (uuid, device))                          \
  X(cuDeviceGetAttribute, (int* value, int attr, CUdevice device), (value, attr, device))      \
  X(cuCtxGetCurrent, (CUcontext* ctx), (ctx))                                                  \
  X(cuPointerGetAttribute, (void* data, int attr, CUdeviceptr ptr), (data, attr, ptr))         \
  X(cuMemGetAddressRange, (CUdeviceptr* base, size_t* size, CUdeviceptr ptr), (base, size, ptr)) \
  X(cuMemGetAllocationGranularity, (size_t* granularity, const CUmemAllocationProp* prop, int option), \
    (granularity, prop, option))                                                               \
  X(cuMemCreate,                                                                               \
    (CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop,       \
     unsigned long long flags),                                                                \
    (handle, size, prop, flags))                                                               \
  X(cuMemRelease, (CUmemGenericAllocationHandle handle), (handle))                             \
  X(cuMemAddressReserve,                                                                       \
    (CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr addr, unsigned long long flags), \
    (ptr, size, alignment, addr, flags))                                                       \
  X(cuMemAddressFree, (CUdeviceptr ptr, size_t size), (ptr, size))                             \
  X(cuMemMap,                                                                                  \
    (CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,         \
     unsigned long long flags),                                                                \
    (ptr, size, offset, handle, flags))                                                        \
  X(cuMemUnmap, (CUdeviceptr ptr, size_t size), (ptr, size))                                   \
  X(cuMemSetAccess, (CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count), \
    (ptr, size, desc, count))                                                                  \
  X(cuMemRetainAllocationHandle, (CUmemGenericAllocationHandle* handle, void* addr), (handle, addr)) \
  X(cuMemExportToShareableHandle,                                                              \
    (void* shareable, CUmemGenericAllocationHandle handle, int type, unsigned long long flags), \
    (shareable, handle, type, flags))                                                          \
  X(cuMemImportFromShareableHandle,                                                            \
    (CUmemGenericAllocationHandle* handle, void* osHandle, int type), (handle, osHandle, type)) \
  X(cuModuleLoadData, (CUmodule* module, const void* image), (module, image))                  \
  X(cuModuleUnload, (CUmodule module), (module))                                               \
  X(cuModuleGetFunction, (CUfunction* fn, CUmodule module, const char* name), (fn, module, name)) \
  X(cuLaunchKernel,                                                                            \
    (CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,           \
     unsigned bz, unsigned sharedMem, CUstream stream, void** params, void** extra),           \
    (fn, gx, gy, gz, bx, by, bz, sharedMem, stream, params, extra))                            \
  X(cuGetErrorName, (CUresult error, const char** name), (error, name))                        \
  X(cuGetErrorString, (CUresult error, const char** text), (error, text))

extern "C" {
// Resolved with dlsym on the driver library; everything else in the driver table through it.
typedef CUresult (*cuipc_cuGetProcAddress_t)(const char* symbol, void** pfn, int cudaVersion,
                                             unsigned long long flags, int* symbolStatus);
// Runtime error strings return pointers, not codes.
typedef const char* (*cuipc_cudaGetErrorName_t)(cudaError_t error);
typedef const char* (*cuipc_cudaGetErrorString_t)(cudaError_t error);
}
