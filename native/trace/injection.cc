// libcuipc_trace.so: a CUPTI injection library. The CUDA driver loads it when
// CUDA_INJECTION64_PATH names it and calls InitializeInjection() from cuInit, so the traced
// program changes in nothing. It subscribes to the runtime and driver API callbacks, enables
// only the callback ids it needs (one cuptiEnableCallback each, never a whole domain), and
// writes one JSON line per call to <CUIPC_TRACE_DIR>/cuipc-trace[-<run>]-<pid>.jsonl: the
// CUDA IPC, allocation, VMM, shareable-handle and stream-capture calls with their return
// codes, for the IPC calls the pointer's provenance and the capture state, for allocations
// the library that made the call. The format is documented in lib/trace/format.ts.
//
// libcupti is opened with dlopen, never linked, so this library loads (and says why it
// cannot trace) where CUPTI is missing. Driver calls of its own (pointer attributes) are
// fetched from the libcuda.so.1 the process already has, and a thread-local guard keeps
// their callbacks out of the trace.
#include <cupti.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#ifndef CUIPC_CUPTI_H_HAS_PARAMS
// CUPTI 13's cupti.h includes the params structs itself (they have no include guards).
#include <generated_cuda_meta.h>
#include <generated_cuda_runtime_api_meta.h>
#endif
#include <link.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "trace/json_line.h"

#define CUIPC_TRACE_EXPORT extern "C" __attribute__((visibility("default")))

extern char** environ;

namespace cuipc_trace {
namespace {

constexpr int kFormatVersion = 1;
constexpr int kCuptiMultipleSubscribers = 39;  // CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED

// ---------------------------------------------------------------------------------------
// What is traced: one row per callback id.
// ---------------------------------------------------------------------------------------

enum class Kind {
  IpcGet, IpcOpen, IpcClose, IpcEvent,
  Alloc, Free,
  VmmCreate, VmmRelease, VmmReserve, VmmUnreserve, VmmMap, VmmUnmap,
  ShareExport, ShareImport,
  CaptureBegin, CaptureEnd,
};

const char* KindName(Kind k) {
  switch (k) {
    case Kind::IpcGet: return "ipc-get";
    case Kind::IpcOpen: return "ipc-open";
    case Kind::IpcClose: return "ipc-close";
    case Kind::IpcEvent: return "ipc-event";
    case Kind::Alloc: return "alloc";
    case Kind::Free: return "free";
    case Kind::VmmCreate: return "vmm-create";
    case Kind::VmmRelease: return "vmm-release";
    case Kind::VmmReserve: return "vmm-reserve";
    case Kind::VmmUnreserve: return "vmm-unreserve";
    case Kind::VmmMap: return "vmm-map";
    case Kind::VmmUnmap: return "vmm-unmap";
    case Kind::ShareExport: return "share-export";
    case Kind::ShareImport: return "share-import";
    case Kind::CaptureBegin: return "capture-begin";
    case Kind::CaptureEnd: return "capture-end";
  }
  return "other";
}

// What a params reader found that the record needs beyond its arguments.
struct Extracted {
  bool has_ptr = false;        // a pointer whose provenance to record (IPC export)
  unsigned long long ptr = 0;
  bool has_stream = false;     // capture begin/end
  unsigned long long stream = 0;
  int mode = 0;                // CUstreamCaptureMode / cudaStreamCaptureMode (same values)
};

using ParamsReader = void (*)(JsonLine& j, const void* params, bool ok, Extracted& x);

struct Traced {
  CUpti_CallbackDomain domain;
  CUpti_CallbackId cbid;
  const char* name;
  Kind kind;
  const char* memory;  // allocations: device, async, pool, managed, host, pitch
  ParamsReader read;
};

unsigned long long U(const void* p) { return reinterpret_cast<unsigned long long>(p); }

// Argument readers. `args` are read on exit too: the callback sees the caller's values.
template <typename P>
void RtIpcGet(JsonLine& j, const void* v, bool ok, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("ptr").Hex(U(p->devPtr)).End();
  if (ok && p->handle) j.Key("out").Begin().Key("handle").Bytes(p->handle->reserved, sizeof p->handle->reserved).End();
  x.has_ptr = true;
  x.ptr = U(p->devPtr);
}
void RtIpcOpen(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaIpcOpenMemHandle_v4010_params*>(v);
  j.Key("args").Begin().Key("handle").Bytes(p->handle.reserved, sizeof p->handle.reserved).Key("flags").Uint(p->flags).End();
  if (ok && p->devPtr) j.Key("out").Begin().Key("ptr").Hex(U(*p->devPtr)).End();
}
void RtIpcClose(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const cudaIpcCloseMemHandle_v4010_params*>(v);
  j.Key("args").Begin().Key("ptr").Hex(U(p->devPtr)).End();
}
void RtIpcGetEvent(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaIpcGetEventHandle_v4010_params*>(v);
  j.Key("args").Begin().Key("event").Hex(U(p->event)).End();
  if (ok && p->handle) j.Key("out").Begin().Key("handle").Bytes(p->handle->reserved, sizeof p->handle->reserved).End();
}
void RtIpcOpenEvent(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaIpcOpenEventHandle_v4010_params*>(v);
  j.Key("args").Begin().Key("handle").Bytes(p->handle.reserved, sizeof p->handle.reserved).End();
  if (ok && p->event) j.Key("out").Begin().Key("event").Hex(U(*p->event)).End();
}
void RtMalloc(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMalloc_v3020_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).End();
  if (ok && p->devPtr) j.Key("out").Begin().Key("ptr").Hex(U(*p->devPtr)).End();
}
void RtMallocPitch(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMallocPitch_v3020_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->width * p->height).Key("width").Uint(p->width).Key("height").Uint(p->height).End();
  if (ok && p->devPtr && p->pitch) {
    j.Key("out").Begin().Key("ptr").Hex(U(*p->devPtr)).Key("pitch").Uint(*p->pitch).Key("size").Uint(*p->pitch * p->height).End();
  }
}
void RtMallocHost(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMallocHost_v3020_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).End();
  if (ok && p->ptr) j.Key("out").Begin().Key("ptr").Hex(U(*p->ptr)).End();
}
void RtHostAlloc(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaHostAlloc_v3020_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).Key("flags").Uint(p->flags).End();
  if (ok && p->pHost) j.Key("out").Begin().Key("ptr").Hex(U(*p->pHost)).End();
}
void RtMallocManaged(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMallocManaged_v6000_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).Key("flags").Uint(p->flags).End();
  if (ok && p->devPtr) j.Key("out").Begin().Key("ptr").Hex(U(*p->devPtr)).End();
}
template <typename P>
void RtMallocAsync(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).Key("stream").Hex(U(p->hStream)).End();
  if (ok && p->devPtr) j.Key("out").Begin().Key("ptr").Hex(U(*p->devPtr)).End();
}
template <typename P>
void RtMallocFromPool(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).Key("pool").Hex(U(p->memPool)).Key("stream").Hex(U(p->stream)).End();
  if (ok && p->ptr) j.Key("out").Begin().Key("ptr").Hex(U(*p->ptr)).End();
}
void RtFree(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(U(static_cast<const cudaFree_v3020_params*>(v)->devPtr)).End();
}
void RtFreeHost(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(U(static_cast<const cudaFreeHost_v3020_params*>(v)->ptr)).End();
}
template <typename P>
void RtFreeAsync(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("ptr").Hex(U(p->devPtr)).Key("stream").Hex(U(p->hStream)).End();
}
template <typename P>
void RtBeginCapture(JsonLine& j, const void* v, bool, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("stream").Hex(U(p->stream)).Key("mode").Int(static_cast<int>(p->mode)).End();
  x.has_stream = true;
  x.stream = U(p->stream);
  x.mode = static_cast<int>(p->mode);
}
template <typename P>
void RtEndCapture(JsonLine& j, const void* v, bool ok, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("stream").Hex(U(p->stream)).End();
  if (ok && p->pGraph) j.Key("out").Begin().Key("graph").Hex(U(*p->pGraph)).End();
  x.has_stream = true;
  x.stream = U(p->stream);
}
void RtPoolExport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMemPoolExportToShareableHandle_v11020_params*>(v);
  j.Key("args").Begin().Key("pool").Hex(U(p->memPool)).Key("handleType").Int(static_cast<int>(p->handleType)).End();
  if (ok && p->handleType == cudaMemHandleTypePosixFileDescriptor && p->shareableHandle) {
    j.Key("out").Begin().Key("fd").Int(*static_cast<const int*>(p->shareableHandle)).End();
  }
}
void RtPoolImport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMemPoolImportFromShareableHandle_v11020_params*>(v);
  j.Key("args").Begin().Key("handleType").Int(static_cast<int>(p->handleType));
  if (p->handleType == cudaMemHandleTypePosixFileDescriptor) j.Key("fd").Int(static_cast<int>(reinterpret_cast<intptr_t>(p->shareableHandle)));
  j.End();
  if (ok && p->memPool) j.Key("out").Begin().Key("pool").Hex(U(*p->memPool)).End();
}
void RtPoolExportPointer(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(U(static_cast<const cudaMemPoolExportPointer_v11020_params*>(v)->ptr)).End();
}
void RtPoolImportPointer(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cudaMemPoolImportPointer_v11020_params*>(v);
  j.Key("args").Begin().Key("pool").Hex(U(p->memPool)).End();
  if (ok && p->ptr) j.Key("out").Begin().Key("ptr").Hex(U(*p->ptr)).End();
}

void DrvIpcGet(JsonLine& j, const void* v, bool ok, Extracted& x) {
  auto* p = static_cast<const cuIpcGetMemHandle_params*>(v);
  j.Key("args").Begin().Key("ptr").Hex(p->dptr).End();
  if (ok && p->pHandle) j.Key("out").Begin().Key("handle").Bytes(p->pHandle->reserved, sizeof p->pHandle->reserved).End();
  x.has_ptr = true;
  x.ptr = p->dptr;
}
template <typename P>
void DrvIpcOpen(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("handle").Bytes(p->handle.reserved, sizeof p->handle.reserved).Key("flags").Uint(p->Flags).End();
  if (ok && p->pdptr) j.Key("out").Begin().Key("ptr").Hex(*p->pdptr).End();
}
void DrvIpcClose(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(static_cast<const cuIpcCloseMemHandle_params*>(v)->dptr).End();
}
void DrvIpcGetEvent(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuIpcGetEventHandle_params*>(v);
  j.Key("args").Begin().Key("event").Hex(U(p->event)).End();
  if (ok && p->pHandle) j.Key("out").Begin().Key("handle").Bytes(p->pHandle->reserved, sizeof p->pHandle->reserved).End();
}
void DrvIpcOpenEvent(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuIpcOpenEventHandle_params*>(v);
  j.Key("args").Begin().Key("handle").Bytes(p->handle.reserved, sizeof p->handle.reserved).End();
  if (ok && p->phEvent) j.Key("out").Begin().Key("event").Hex(U(*p->phEvent)).End();
}
void DrvMemAlloc(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemAlloc_v2_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).End();
  if (ok && p->dptr) j.Key("out").Begin().Key("ptr").Hex(*p->dptr).End();
}
void DrvMemAllocPitch(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemAllocPitch_v2_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->WidthInBytes * p->Height).Key("width").Uint(p->WidthInBytes).Key("height").Uint(p->Height).End();
  if (ok && p->dptr && p->pPitch) {
    j.Key("out").Begin().Key("ptr").Hex(*p->dptr).Key("pitch").Uint(*p->pPitch).Key("size").Uint(*p->pPitch * p->Height).End();
  }
}
void DrvMemAllocHost(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemAllocHost_v2_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).End();
  if (ok && p->pp) j.Key("out").Begin().Key("ptr").Hex(U(*p->pp)).End();
}
void DrvMemHostAlloc(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemHostAlloc_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).Key("flags").Uint(p->Flags).End();
  if (ok && p->pp) j.Key("out").Begin().Key("ptr").Hex(U(*p->pp)).End();
}
void DrvMemAllocManaged(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemAllocManaged_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).Key("flags").Uint(p->flags).End();
  if (ok && p->dptr) j.Key("out").Begin().Key("ptr").Hex(*p->dptr).End();
}
template <typename P>
void DrvMemAllocAsync(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).Key("stream").Hex(U(p->hStream)).End();
  if (ok && p->dptr) j.Key("out").Begin().Key("ptr").Hex(*p->dptr).End();
}
template <typename P>
void DrvMemAllocFromPool(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("size").Uint(p->bytesize).Key("pool").Hex(U(p->pool)).Key("stream").Hex(U(p->hStream)).End();
  if (ok && p->dptr) j.Key("out").Begin().Key("ptr").Hex(*p->dptr).End();
}
void DrvMemFree(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(static_cast<const cuMemFree_v2_params*>(v)->dptr).End();
}
void DrvMemFreeHost(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(U(static_cast<const cuMemFreeHost_params*>(v)->p)).End();
}
template <typename P>
void DrvMemFreeAsync(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("ptr").Hex(p->dptr).Key("stream").Hex(U(p->hStream)).End();
}
void DrvMemCreate(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemCreate_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size);
  if (p->prop) {
    j.Key("type").Int(static_cast<int>(p->prop->type))
        .Key("handleTypes").Int(static_cast<int>(p->prop->requestedHandleTypes))
        .Key("location").Begin().Key("type").Int(static_cast<int>(p->prop->location.type)).Key("id").Int(p->prop->location.id).End();
  }
  j.Key("flags").Uint(p->flags).End();
  if (ok && p->handle) j.Key("out").Begin().Key("handle").Hex(*p->handle).End();
}
void DrvMemRelease(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("handle").Hex(static_cast<const cuMemRelease_params*>(v)->handle).End();
}
void DrvMemAddressReserve(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemAddressReserve_params*>(v);
  j.Key("args").Begin().Key("size").Uint(p->size).Key("alignment").Uint(p->alignment).Key("addr").Hex(p->addr).End();
  if (ok && p->ptr) j.Key("out").Begin().Key("ptr").Hex(*p->ptr).End();
}
void DrvMemAddressFree(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const cuMemAddressFree_params*>(v);
  j.Key("args").Begin().Key("ptr").Hex(p->ptr).Key("size").Uint(p->size).End();
}
void DrvMemMap(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const cuMemMap_params*>(v);
  j.Key("args").Begin().Key("ptr").Hex(p->ptr).Key("size").Uint(p->size).Key("offset").Uint(p->offset).Key("handle").Hex(p->handle).End();
}
void DrvMemUnmap(JsonLine& j, const void* v, bool, Extracted&) {
  auto* p = static_cast<const cuMemUnmap_params*>(v);
  j.Key("args").Begin().Key("ptr").Hex(p->ptr).Key("size").Uint(p->size).End();
}
void DrvMemExport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemExportToShareableHandle_params*>(v);
  j.Key("args").Begin().Key("handle").Hex(p->handle).Key("handleType").Int(static_cast<int>(p->handleType)).End();
  if (ok && p->handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR && p->shareableHandle) {
    j.Key("out").Begin().Key("fd").Int(*static_cast<const int*>(p->shareableHandle)).End();
  }
}
void DrvMemImport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemImportFromShareableHandle_params*>(v);
  j.Key("args").Begin().Key("handleType").Int(static_cast<int>(p->shHandleType));
  if (p->shHandleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) j.Key("fd").Int(static_cast<int>(reinterpret_cast<intptr_t>(p->osHandle)));
  j.End();
  if (ok && p->handle) j.Key("out").Begin().Key("handle").Hex(*p->handle).End();
}
void DrvPoolExport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemPoolExportToShareableHandle_params*>(v);
  j.Key("args").Begin().Key("pool").Hex(U(p->pool)).Key("handleType").Int(static_cast<int>(p->handleType)).End();
  if (ok && p->handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR && p->handle_out) {
    j.Key("out").Begin().Key("fd").Int(*static_cast<const int*>(p->handle_out)).End();
  }
}
void DrvPoolImport(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemPoolImportFromShareableHandle_params*>(v);
  j.Key("args").Begin().Key("handleType").Int(static_cast<int>(p->handleType));
  if (p->handleType == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) j.Key("fd").Int(static_cast<int>(reinterpret_cast<intptr_t>(p->handle)));
  j.End();
  if (ok && p->pool_out) j.Key("out").Begin().Key("pool").Hex(U(*p->pool_out)).End();
}
void DrvPoolExportPointer(JsonLine& j, const void* v, bool, Extracted&) {
  j.Key("args").Begin().Key("ptr").Hex(static_cast<const cuMemPoolExportPointer_params*>(v)->ptr).End();
}
void DrvPoolImportPointer(JsonLine& j, const void* v, bool ok, Extracted&) {
  auto* p = static_cast<const cuMemPoolImportPointer_params*>(v);
  j.Key("args").Begin().Key("pool").Hex(U(p->pool)).End();
  if (ok && p->ptr_out) j.Key("out").Begin().Key("ptr").Hex(*p->ptr_out).End();
}
template <typename P>
void DrvBeginCaptureV1(JsonLine& j, const void* v, bool, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  // The first cuStreamBeginCapture has no mode argument: it captures in global mode.
  j.Key("args").Begin().Key("stream").Hex(U(p->hStream)).Key("mode").Int(CU_STREAM_CAPTURE_MODE_GLOBAL).End();
  x.has_stream = true;
  x.stream = U(p->hStream);
  x.mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
}
template <typename P>
void DrvBeginCapture(JsonLine& j, const void* v, bool, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("stream").Hex(U(p->hStream)).Key("mode").Int(static_cast<int>(p->mode)).End();
  x.has_stream = true;
  x.stream = U(p->hStream);
  x.mode = static_cast<int>(p->mode);
}
template <typename P>
void DrvEndCapture(JsonLine& j, const void* v, bool ok, Extracted& x) {
  auto* p = static_cast<const P*>(v);
  j.Key("args").Begin().Key("stream").Hex(U(p->hStream)).End();
  if (ok && p->phGraph) j.Key("out").Begin().Key("graph").Hex(U(*p->phGraph)).End();
  x.has_stream = true;
  x.stream = U(p->hStream);
}

#define RT(id, kind, memory, reader) \
  { CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_##id, #id, Kind::kind, memory, reader }
#define DRV(id, kind, memory, reader) \
  { CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_##id, #id, Kind::kind, memory, reader }

// The callback ids enabled, nothing else. Names keep CUPTI's version suffix here; the
// record's "call" field drops it (cudaMalloc_v3020 -> cudaMalloc).
const Traced kTraced[] = {
    RT(cudaIpcGetMemHandle_v4010, IpcGet, nullptr, RtIpcGet<cudaIpcGetMemHandle_v4010_params>),
    RT(cudaIpcOpenMemHandle_v4010, IpcOpen, nullptr, RtIpcOpen),
    RT(cudaIpcCloseMemHandle_v4010, IpcClose, nullptr, RtIpcClose),
    RT(cudaIpcGetEventHandle_v4010, IpcEvent, nullptr, RtIpcGetEvent),
    RT(cudaIpcOpenEventHandle_v4010, IpcEvent, nullptr, RtIpcOpenEvent),
    RT(cudaMalloc_v3020, Alloc, "device", RtMalloc),
    RT(cudaMallocPitch_v3020, Alloc, "pitch", RtMallocPitch),
    RT(cudaMallocHost_v3020, Alloc, "host", RtMallocHost),
    RT(cudaHostAlloc_v3020, Alloc, "host", RtHostAlloc),
    RT(cudaMallocManaged_v6000, Alloc, "managed", RtMallocManaged),
    RT(cudaMallocAsync_v11020, Alloc, "async", RtMallocAsync<cudaMallocAsync_v11020_params>),
    RT(cudaMallocAsync_ptsz_v11020, Alloc, "async", RtMallocAsync<cudaMallocAsync_ptsz_v11020_params>),
    RT(cudaMallocFromPoolAsync_v11020, Alloc, "pool", RtMallocFromPool<cudaMallocFromPoolAsync_v11020_params>),
    RT(cudaMallocFromPoolAsync_ptsz_v11020, Alloc, "pool", RtMallocFromPool<cudaMallocFromPoolAsync_ptsz_v11020_params>),
    RT(cudaFree_v3020, Free, nullptr, RtFree),
    RT(cudaFreeHost_v3020, Free, nullptr, RtFreeHost),
    RT(cudaFreeAsync_v11020, Free, nullptr, RtFreeAsync<cudaFreeAsync_v11020_params>),
    RT(cudaFreeAsync_ptsz_v11020, Free, nullptr, RtFreeAsync<cudaFreeAsync_ptsz_v11020_params>),
    RT(cudaStreamBeginCapture_v10000, CaptureBegin, nullptr, RtBeginCapture<cudaStreamBeginCapture_v10000_params>),
    RT(cudaStreamBeginCapture_ptsz_v10000, CaptureBegin, nullptr, RtBeginCapture<cudaStreamBeginCapture_ptsz_v10000_params>),
    RT(cudaStreamBeginCaptureToGraph_v12030, CaptureBegin, nullptr, RtBeginCapture<cudaStreamBeginCaptureToGraph_v12030_params>),
    RT(cudaStreamBeginCaptureToGraph_ptsz_v12030, CaptureBegin, nullptr, RtBeginCapture<cudaStreamBeginCaptureToGraph_ptsz_v12030_params>),
    RT(cudaStreamEndCapture_v10000, CaptureEnd, nullptr, RtEndCapture<cudaStreamEndCapture_v10000_params>),
    RT(cudaStreamEndCapture_ptsz_v10000, CaptureEnd, nullptr, RtEndCapture<cudaStreamEndCapture_ptsz_v10000_params>),
    RT(cudaMemPoolExportToShareableHandle_v11020, ShareExport, nullptr, RtPoolExport),
    RT(cudaMemPoolImportFromShareableHandle_v11020, ShareImport, nullptr, RtPoolImport),
    RT(cudaMemPoolExportPointer_v11020, ShareExport, nullptr, RtPoolExportPointer),
    RT(cudaMemPoolImportPointer_v11020, ShareImport, nullptr, RtPoolImportPointer),

    DRV(cuIpcGetMemHandle, IpcGet, nullptr, DrvIpcGet),
    DRV(cuIpcOpenMemHandle, IpcOpen, nullptr, DrvIpcOpen<cuIpcOpenMemHandle_params>),
    DRV(cuIpcOpenMemHandle_v2, IpcOpen, nullptr, DrvIpcOpen<cuIpcOpenMemHandle_v2_params>),
    DRV(cuIpcCloseMemHandle, IpcClose, nullptr, DrvIpcClose),
    DRV(cuIpcGetEventHandle, IpcEvent, nullptr, DrvIpcGetEvent),
    DRV(cuIpcOpenEventHandle, IpcEvent, nullptr, DrvIpcOpenEvent),
    DRV(cuMemAlloc_v2, Alloc, "device", DrvMemAlloc),
    DRV(cuMemAllocPitch_v2, Alloc, "pitch", DrvMemAllocPitch),
    DRV(cuMemAllocHost_v2, Alloc, "host", DrvMemAllocHost),
    DRV(cuMemHostAlloc, Alloc, "host", DrvMemHostAlloc),
    DRV(cuMemAllocManaged, Alloc, "managed", DrvMemAllocManaged),
    DRV(cuMemAllocAsync, Alloc, "async", DrvMemAllocAsync<cuMemAllocAsync_params>),
    DRV(cuMemAllocAsync_ptsz, Alloc, "async", DrvMemAllocAsync<cuMemAllocAsync_ptsz_params>),
    DRV(cuMemAllocFromPoolAsync, Alloc, "pool", DrvMemAllocFromPool<cuMemAllocFromPoolAsync_params>),
    DRV(cuMemAllocFromPoolAsync_ptsz, Alloc, "pool", DrvMemAllocFromPool<cuMemAllocFromPoolAsync_ptsz_params>),
    DRV(cuMemFree_v2, Free, nullptr, DrvMemFree),
    DRV(cuMemFreeHost, Free, nullptr, DrvMemFreeHost),
    DRV(cuMemFreeAsync, Free, nullptr, DrvMemFreeAsync<cuMemFreeAsync_params>),
    DRV(cuMemFreeAsync_ptsz, Free, nullptr, DrvMemFreeAsync<cuMemFreeAsync_ptsz_params>),
    DRV(cuMemCreate, VmmCreate, nullptr, DrvMemCreate),
    DRV(cuMemRelease, VmmRelease, nullptr, DrvMemRelease),
    DRV(cuMemAddressReserve, VmmReserve, nullptr, DrvMemAddressReserve),
    DRV(cuMemAddressFree, VmmUnreserve, nullptr, DrvMemAddressFree),
    DRV(cuMemMap, VmmMap, nullptr, DrvMemMap),
    DRV(cuMemUnmap, VmmUnmap, nullptr, DrvMemUnmap),
    DRV(cuMemExportToShareableHandle, ShareExport, nullptr, DrvMemExport),
    DRV(cuMemImportFromShareableHandle, ShareImport, nullptr, DrvMemImport),
    DRV(cuMemPoolExportToShareableHandle, ShareExport, nullptr, DrvPoolExport),
    DRV(cuMemPoolImportFromShareableHandle, ShareImport, nullptr, DrvPoolImport),
    DRV(cuMemPoolExportPointer, ShareExport, nullptr, DrvPoolExportPointer),
    DRV(cuMemPoolImportPointer, ShareImport, nullptr, DrvPoolImportPointer),
    DRV(cuStreamBeginCapture, CaptureBegin, nullptr, DrvBeginCaptureV1<cuStreamBeginCapture_params>),
    DRV(cuStreamBeginCapture_ptsz, CaptureBegin, nullptr, DrvBeginCaptureV1<cuStreamBeginCapture_ptsz_params>),
    DRV(cuStreamBeginCapture_v2, CaptureBegin, nullptr, DrvBeginCapture<cuStreamBeginCapture_v2_params>),
    DRV(cuStreamBeginCapture_v2_ptsz, CaptureBegin, nullptr, DrvBeginCapture<cuStreamBeginCapture_v2_ptsz_params>),
    DRV(cuStreamBeginCaptureToGraph, CaptureBegin, nullptr, DrvBeginCapture<cuStreamBeginCaptureToGraph_params>),
    DRV(cuStreamBeginCaptureToGraph_ptsz, CaptureBegin, nullptr, DrvBeginCapture<cuStreamBeginCaptureToGraph_ptsz_params>),
    DRV(cuStreamEndCapture, CaptureEnd, nullptr, DrvEndCapture<cuStreamEndCapture_params>),
    DRV(cuStreamEndCapture_ptsz, CaptureEnd, nullptr, DrvEndCapture<cuStreamEndCapture_ptsz_params>),
};
#undef RT
#undef DRV


constexpr size_t kTracedCount = sizeof kTraced / sizeof kTraced[0];
constexpr CUpti_CallbackId kMaxCbid = 4096;
const Traced* g_runtime_by_id[kMaxCbid];
const Traced* g_driver_by_id[kMaxCbid];
char g_call_names[kTracedCount][64];  // CUPTI names without the runtime's _vNNNN suffix

const Traced* Lookup(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
  if (cbid >= kMaxCbid) return nullptr;
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) return g_runtime_by_id[cbid];
  if (domain == CUPTI_CB_DOMAIN_DRIVER_API) return g_driver_by_id[cbid];
  return nullptr;
}

// cudaMalloc_v3020 -> cudaMalloc; driver names (cuMemAlloc_v2) are the exported symbols and stay.
void FillNames() {
  for (size_t i = 0; i < kTracedCount; ++i) {
    std::string n = kTraced[i].name;
    size_t u = n.rfind("_v");
    if (kTraced[i].domain == CUPTI_CB_DOMAIN_RUNTIME_API && u != std::string::npos && n.size() - u >= 6) n.resize(u);
    std::snprintf(g_call_names[i], sizeof g_call_names[i], "%s", n.c_str());
    const Traced* t = &kTraced[i];
    if (t->cbid < kMaxCbid) (t->domain == CUPTI_CB_DOMAIN_RUNTIME_API ? g_runtime_by_id : g_driver_by_id)[t->cbid] = t;
  }
}

// ---------------------------------------------------------------------------------------
// Libraries opened at run time
// ---------------------------------------------------------------------------------------

using cuptiSubscribe_t = CUptiResult (*)(CUpti_SubscriberHandle*, CUpti_CallbackFunc, void*);
using cuptiEnableCallback_t = CUptiResult (*)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain, CUpti_CallbackId);
using cuptiGetResultString_t = CUptiResult (*)(CUptiResult, const char**);
using cuptiGetVersion_t = CUptiResult (*)(uint32_t*);

struct Cupti {
  void* lib = nullptr;
  std::string path;
  cuptiSubscribe_t subscribe = nullptr;
  cuptiEnableCallback_t enable = nullptr;
  cuptiGetResultString_t result_string = nullptr;
  cuptiGetVersion_t version = nullptr;
};

using cuPointerGetAttribute_t = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
using cuMemRetainAllocationHandle_t = CUresult (*)(CUmemGenericAllocationHandle*, void*);
using cuMemRelease_t = CUresult (*)(CUmemGenericAllocationHandle);
using cuThreadExchangeStreamCaptureMode_t = CUresult (*)(CUstreamCaptureMode*);
using cuDriverGetVersion_t = CUresult (*)(int*);

struct Driver {
  uintptr_t base = 0;
  cuPointerGetAttribute_t pointer_get_attribute = nullptr;
  cuMemRetainAllocationHandle_t retain_allocation_handle = nullptr;
  cuMemRelease_t release = nullptr;
  cuThreadExchangeStreamCaptureMode_t exchange_capture_mode = nullptr;
  cuDriverGetVersion_t driver_get_version = nullptr;
};

Cupti g_cupti;
Driver g_driver;
uintptr_t g_self_base = 0;
uintptr_t g_cupti_base = 0;
std::string g_self_path;

uintptr_t BaseOf(const void* symbol, std::string* path = nullptr) {
  Dl_info info;
  if (symbol == nullptr || dladdr(symbol, &info) == 0) return 0;
  if (path && info.dli_fname) *path = info.dli_fname;
  return reinterpret_cast<uintptr_t>(info.dli_fbase);
}

void LoadDriver() {
  // The driver is loading us, so libcuda.so.1 is already in the process: never load another.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return;
  g_driver.pointer_get_attribute = reinterpret_cast<cuPointerGetAttribute_t>(dlsym(lib, "cuPointerGetAttribute"));
  g_driver.retain_allocation_handle = reinterpret_cast<cuMemRetainAllocationHandle_t>(dlsym(lib, "cuMemRetainAllocationHandle"));
  g_driver.release = reinterpret_cast<cuMemRelease_t>(dlsym(lib, "cuMemRelease"));
  g_driver.exchange_capture_mode = reinterpret_cast<cuThreadExchangeStreamCaptureMode_t>(dlsym(lib, "cuThreadExchangeStreamCaptureMode"));
  g_driver.driver_get_version = reinterpret_cast<cuDriverGetVersion_t>(dlsym(lib, "cuDriverGetVersion"));
  g_driver.base = BaseOf(reinterpret_cast<void*>(g_driver.pointer_get_attribute));
}

// The CUDA runtime the program loaded (shared), found among the loaded objects: its major
// version picks the matching CUPTI first, and its folder is where pip wheels keep CUPTI.
struct LoadedRuntime {
  int major = 0;
  std::string dir;
};

int OnLoadedObject(struct dl_phdr_info* info, size_t, void* data) {
  auto* rt = static_cast<LoadedRuntime*>(data);
  const char* name = info->dlpi_name;
  if (name == nullptr || *name == '\0') return 0;
  const char* slash = std::strrchr(name, '/');
  const char* file = slash ? slash + 1 : name;
  if (std::strncmp(file, "libcudart.so.", 13) != 0) return 0;
  rt->major = std::atoi(file + 13);
  rt->dir = slash ? std::string(name, slash - name) : std::string();
  return 1;
}

struct Attempt {
  std::string candidate;
  std::string error;
};

bool TryCupti(const std::string& candidate, int flags, std::vector<Attempt>& attempts) {
  dlerror();
  void* lib = dlopen(candidate.c_str(), flags);
  if (lib == nullptr) {
    if (!(flags & RTLD_NOLOAD)) {
      const char* e = dlerror();
      attempts.push_back({candidate, e ? e : "not found"});
    }
    return false;
  }
  Cupti c;
  c.lib = lib;
  c.subscribe = reinterpret_cast<cuptiSubscribe_t>(dlsym(lib, "cuptiSubscribe"));
  c.enable = reinterpret_cast<cuptiEnableCallback_t>(dlsym(lib, "cuptiEnableCallback"));
  c.result_string = reinterpret_cast<cuptiGetResultString_t>(dlsym(lib, "cuptiGetResultString"));
  c.version = reinterpret_cast<cuptiGetVersion_t>(dlsym(lib, "cuptiGetVersion"));
  if (c.subscribe == nullptr || c.enable == nullptr) {
    attempts.push_back({candidate, "loaded, but cuptiSubscribe/cuptiEnableCallback are missing"});
    return false;
  }
  BaseOf(reinterpret_cast<void*>(c.subscribe), &c.path);
  if (c.path.empty()) c.path = candidate;
  g_cupti = c;
  g_cupti_base = BaseOf(reinterpret_cast<void*>(c.subscribe));
  return true;
}

// Search order: CUIPC_LIBCUPTI; a CUPTI the process already has; per CUDA major version
// (the program's runtime first, never newer than the driver): next to the runtime (and pip's
// nvidia/cuda_cupti/lib), the build's CUPTI folder, the dynamic linker, the toolkit folders.
bool LoadCupti(std::vector<Attempt>& attempts) {
  const char* override_path = std::getenv("CUIPC_LIBCUPTI");
  if (override_path && *override_path) return TryCupti(override_path, RTLD_NOW | RTLD_LOCAL, attempts);

  int driver_major = 0;
  if (g_driver.driver_get_version) {
    int v = 0;
    if (g_driver.driver_get_version(&v) == CUDA_SUCCESS) driver_major = v / 1000;
  }
  LoadedRuntime rt;
  dl_iterate_phdr(OnLoadedObject, &rt);
  std::vector<int> majors;
  auto add_major = [&](int m) {
    if (m <= 0 || (driver_major > 0 && m > driver_major)) return;
    for (int x : majors) if (x == m) return;
    majors.push_back(m);
  };
  add_major(rt.major);
  add_major(13);
  add_major(12);

  for (int m : majors) {
    if (TryCupti("libcupti.so." + std::to_string(m), RTLD_NOW | RTLD_NOLOAD, attempts)) return true;
  }
  std::vector<std::string> dirs;
  if (!rt.dir.empty()) {
    dirs.push_back(rt.dir);
    dirs.push_back(rt.dir + "/../../cuda_cupti/lib");
  }
#ifdef CUIPC_CUPTI_LIBDIR
  dirs.push_back(CUIPC_CUPTI_LIBDIR);
#endif
  dirs.push_back("");  // the dynamic linker's own search
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    const char* home = std::getenv(var);
    if (home && *home) {
      dirs.push_back(std::string(home) + "/lib64");
      dirs.push_back(std::string(home) + "/extras/CUPTI/lib64");
    }
  }
  dirs.push_back("/usr/local/cuda/lib64");
  dirs.push_back("/usr/local/cuda/extras/CUPTI/lib64");
  for (int m : majors) {
    std::string soname = "libcupti.so." + std::to_string(m);
    for (const std::string& d : dirs) {
      std::string candidate = d.empty() ? soname : d + "/" + soname;
      if (!d.empty() && access(candidate.c_str(), F_OK) != 0) continue;  // keep the list short
      if (TryCupti(candidate, RTLD_NOW | RTLD_LOCAL, attempts)) return true;
    }
  }
  if (attempts.empty()) attempts.push_back({"libcupti.so.{" + std::to_string(majors.empty() ? 0 : majors[0]) + "..}", "no candidate file exists"});
  return false;
}

// ---------------------------------------------------------------------------------------
// Output: one file per process, written a whole line at a time
// ---------------------------------------------------------------------------------------

std::mutex g_write_mutex;
int g_fd = -1;
pid_t g_fd_pid = 0;
std::string g_file;
std::atomic<unsigned long long> g_seq{0};
std::atomic<unsigned long long> g_calls{0};
std::atomic<unsigned long long> g_write_errors{0};
std::chrono::steady_clock::time_point g_t0;

thread_local int t_guard = 0;  // set while this library makes driver calls of its own
thread_local long t_tid = 0;
thread_local pid_t t_tid_pid = 0;
struct OpenRuntimeCall {
  size_t index;
  unsigned long long seq;
};
constexpr int kMaxDepth = 16;
thread_local OpenRuntimeCall t_runtime_stack[kMaxDepth];
thread_local int t_runtime_depth = 0;

double Millis() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_t0).count();
}

long Tid() {
  // Cached per thread, and again after a fork (the child's thread has a new id).
  pid_t pid = getpid();
  if (t_tid == 0 || t_tid_pid != pid) {
    t_tid = static_cast<long>(syscall(SYS_gettid));
    t_tid_pid = pid;
  }
  return t_tid;
}

std::string IsoNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

void MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
  }
}

std::string TraceDir() {
  const char* dir = std::getenv("CUIPC_TRACE_DIR");
  if (dir && *dir) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/cuipc-trace";
}

// CUIPC_TRACE_RUN (set by `cuipc trace`) keeps runs apart in one folder; only safe characters.
std::string RunId() {
  const char* run = std::getenv("CUIPC_TRACE_RUN");
  if (run == nullptr) return "";
  std::string r;
  for (const char* p = run; *p && r.size() < 32; ++p) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') r += *p;
  }
  return r;
}

bool OpenOutput(std::string* error) {
  std::string dir = TraceDir();
  MakeDirs(dir);
  std::string run = RunId();
  pid_t pid = getpid();
  g_file = dir + "/cuipc-trace-" + (run.empty() ? "" : run + "-") + std::to_string(pid) + ".jsonl";
  g_fd = open(g_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  g_fd_pid = pid;
  if (g_fd < 0) {
    if (error) *error = g_file + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::string ProcessLine(pid_t forked_from);

void WriteRaw(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(g_fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++g_write_errors;
      return;
    }
    done += static_cast<size_t>(n);
  }
}

void WriteLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_write_mutex);
  pid_t pid = getpid();
  if (pid != g_fd_pid) {
    // A fork: the child writes its own file, starting with its own process line.
    pid_t parent = g_fd_pid;
    if (g_fd >= 0) close(g_fd);
    g_fd = -1;
    if (!OpenOutput(nullptr)) return;
    WriteRaw(ProcessLine(parent));
  }
  if (g_fd >= 0) WriteRaw(line);
}

// ---------------------------------------------------------------------------------------
// The process line: who this is, and the environment the hazard rules read
// ---------------------------------------------------------------------------------------

// Mirrors lib/env/capture.ts (isCudaRelevant, looksSecret): relevant variables only, and
// never a value whose name looks like a secret.
bool IsRelevantName(const std::string& name) {
  static const char* kPrefixes[] = {"CUDA_", "NCCL_", "PYTORCH_", "TORCH_", "TORCHINDUCTOR_", "SGLANG_", "VLLM_", "RAY_", "TMS_",
                                    "NVIDIA_", "CUIPC_", "GLOO_", "NVSHMEM_", "UCX_", "CUBLAS_", "CUDNN_", "MEGATRON_"};
  static const char* kNames[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "OMP_NUM_THREADS", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE",
                                 "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK", "PYTHONPATH"};
  for (const char* p : kPrefixes) if (name.compare(0, std::strlen(p), p) == 0) return true;
  for (const char* n : kNames) if (name == n) return true;
  return false;
}

bool LooksSecret(const std::string& name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  static const char* kSubstrings[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "APIKEY", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY"};
  for (const char* s : kSubstrings) if (upper.find(s) != std::string::npos) return true;
  static const char* kSegments[] = {"KEY", "KEYS", "AUTH", "COOKIE", "SIGNATURE", "PRIVATE", "PASS"};
  size_t start = 0;
  while (start <= upper.size()) {
    size_t end = upper.find_first_of("_-.", start);
    std::string seg = upper.substr(start, end == std::string::npos ? std::string::npos : end - start);
    for (const char* s : kSegments) if (seg == s) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string ReadLink(const char* path) {
  char buf[4096];
  ssize_t n = readlink(path, buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;
}

void WriteArgv(JsonLine& j) {
  j.Key("argv").BeginArray();
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && all.size() < 65536) all.append(buf, static_cast<size_t>(n));
    close(fd);
    size_t start = 0;
    int count = 0;
    while (start < all.size() && count < 64) {
      size_t end = all.find('\0', start);
      if (end == std::string::npos) end = all.size();
      j.Str(all.substr(start, std::min<size_t>(end - start, 1024)));
      start = end + 1;
      ++count;
    }
  }
  j.EndArray();
}

// Which object the dynamic linker resolves each allocation entry point to: an LD_PRELOAD
// interposer shows here the way `cuipc doctor` shows it.
void WriteSymbols(JsonLine& j) {
  j.Key("symbols").BeginArray();
  for (const char* name : {"cudaMalloc", "cudaFree", "cuMemAlloc_v2", "cuMemCreate"}) {
    void* sym = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    j.Begin().Key("symbol").Str(name);
    if (sym && dladdr(sym, &info) && info.dli_fname) {
      const char* slash = std::strrchr(info.dli_fname, '/');
      const char* file = slash ? slash + 1 : info.dli_fname;
      bool cuda = std::strncmp(file, "libcudart.so", 12) == 0 || std::strncmp(file, "libcuda.so", 10) == 0;
      j.Key("path").Str(info.dli_fname).Key("interposed").Bool(!cuda);
    } else {
      j.Key("path").Null().Key("interposed").Bool(false);
    }
    j.End();
  }
  j.EndArray();
}

std::string ProcessLine(pid_t forked_from) {
  JsonLine j;
  j.Begin().Key("type").Str("process").Key("format").Int(kFormatVersion);
  j.Key("pid").Int(getpid()).Key("ppid").Int(getppid());
  if (forked_from) j.Key("forkedFrom").Int(forked_from);
  std::string run = RunId();
  if (run.empty()) j.Key("run").Null(); else j.Key("run").Str(run);
  j.Key("startedAt").Str(IsoNow());
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  j.Key("host").Str(host);
  j.Key("exe").Str(ReadLink("/proc/self/exe"));
  WriteArgv(j);
  j.Key("env").Begin();
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    std::string name(*e, eq - *e);
    if (!IsRelevantName(name) || LooksSecret(name)) continue;
    const char* value = eq + 1;
    // Credentials inside a URL are secrets whatever the variable is called.
    bool url_credentials = std::strstr(value, "://") && std::strchr(value, '@');
    j.Key(name.c_str()).Str(url_credentials ? "<redacted>" : value);
  }
  j.End();
  std::string ns = ReadLink("/proc/self/ns/pid");
  if (ns.empty()) j.Key("pidNamespace").Null(); else j.Key("pidNamespace").Str(ns);
  struct statvfs shm;
  if (statvfs("/dev/shm", &shm) == 0) {
    j.Key("shm").Begin().Key("path").Str("/dev/shm")
        .Key("sizeBytes").Uint(static_cast<unsigned long long>(shm.f_blocks) * shm.f_frsize)
        .Key("freeBytes").Uint(static_cast<unsigned long long>(shm.f_bavail) * shm.f_frsize).End();
  } else {
    j.Key("shm").Null();
  }
  WriteSymbols(j);
  j.Key("tracer").Begin().Key("library").Str(g_self_path).Key("format").Int(kFormatVersion).End();
  j.End();
  return j.Line();
}

// ---------------------------------------------------------------------------------------
// Per-call evidence: who called, what the driver says about the pointer, capture state
// ---------------------------------------------------------------------------------------

bool IsCudaFrame(const Dl_info& info) {
  uintptr_t base = reinterpret_cast<uintptr_t>(info.dli_fbase);
  if (base == g_self_base || (g_cupti_base && base == g_cupti_base) || (g_driver.base && base == g_driver.base)) return true;
  const char* slash = std::strrchr(info.dli_fname, '/');
  const char* file = slash ? slash + 1 : info.dli_fname;
  return std::strncmp(file, "libcudart.so", 12) == 0 || std::strncmp(file, "libcupti.so", 11) == 0 ||
         std::strncmp(file, "libcuda.so", 10) == 0;
}

// The first frame outside CUDA, CUPTI and this library made the call (an LD_PRELOAD
// interposer, PyTorch's allocator, the program); the next few libraries say who called it.
void WriteCallers(JsonLine& j) {
  void* pcs[64];
  int n = backtrace(pcs, 64);
  const char* last = nullptr;
  int libs = 0;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(pcs[i], &info) == 0 || info.dli_fname == nullptr) continue;
    if (last == nullptr) {
      if (IsCudaFrame(info)) continue;
      j.Key("caller").Begin().Key("lib").Str(info.dli_fname).Key("symbol").Str(info.dli_sname)
          .Key("offset").Hex(reinterpret_cast<uintptr_t>(pcs[i]) - reinterpret_cast<uintptr_t>(info.dli_fbase)).End();
      j.Key("libs").BeginArray();
      last = info.dli_fname;
      continue;
    }
    if (std::strcmp(info.dli_fname, last) == 0 || IsCudaFrame(info)) continue;
    j.Str(info.dli_fname);
    last = info.dli_fname;
    if (++libs == 5) break;
  }
  if (last != nullptr) j.EndArray();
}

void WriteProvenance(JsonLine& j, unsigned long long ptr) {
  j.Key("provenance").Begin().Key("ptr").Hex(ptr);
  if (g_driver.pointer_get_attribute == nullptr) {
    j.Key("unavailable").Str("cuPointerGetAttribute was not found in libcuda.so.1").End();
    return;
  }
  struct Refusal {
    const char* name;
    int code;
  } refused[12];
  int refusals = 0;
  auto query = [&](CUpointer_attribute a, void* out, const char* name) {
    CUresult r = g_driver.pointer_get_attribute(out, a, ptr);
    if (r != CUDA_SUCCESS) refused[refusals++] = {name, static_cast<int>(r)};
    if (r != CUDA_SUCCESS) j.Key(name).Null();
    return r == CUDA_SUCCESS;
  };
  unsigned memory_type = 0;
  bool known = query(CU_POINTER_ATTRIBUTE_MEMORY_TYPE, &memory_type, "memoryType");
  if (known) j.Key("memoryType").Uint(memory_type);
  int device = -1;
  if (query(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, &device, "device")) j.Key("device").Int(device);
  unsigned managed = 0;
  if (query(CU_POINTER_ATTRIBUTE_IS_MANAGED, &managed, "isManaged")) j.Key("isManaged").Bool(managed != 0);
  CUdeviceptr start = 0;
  if (query(CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, &start, "rangeStart")) j.Key("rangeStart").Hex(start);
  size_t size = 0;
  if (query(CU_POINTER_ATTRIBUTE_RANGE_SIZE, &size, "rangeSize")) j.Key("rangeSize").Uint(size);
  unsigned legacy = 0;
  if (query(CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, &legacy, "legacyIpcCapable")) j.Key("legacyIpcCapable").Bool(legacy != 0);
  unsigned long long handle_types = 0;
  if (query(CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES, &handle_types, "allowedHandleTypes")) j.Key("allowedHandleTypes").Uint(handle_types);
  void* pool = nullptr;
  if (query(CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, &pool, "mempool")) {
    if (pool) j.Key("mempool").Hex(U(pool)); else j.Key("mempool").Null();
  }
  // cuMemRetainAllocationHandle succeeds only on VMM memory (h200-ipc-truth.md).
  if (g_driver.retain_allocation_handle) {
    CUmemGenericAllocationHandle h = 0;
    CUresult r = g_driver.retain_allocation_handle(&h, reinterpret_cast<void*>(ptr));
    if (r == CUDA_SUCCESS && g_driver.release) g_driver.release(h);  // retain took a reference
    j.Key("retainCode").Int(r);
    if (known) j.Key("vmm").Bool(r == CUDA_SUCCESS); else j.Key("vmm").Null();
  }
  j.Key("refused").Begin();
  for (int i = 0; i < refusals; ++i) j.Key(refused[i].name).Int(refused[i].code);
  j.End().End();
}

struct Capturing {
  unsigned long long stream;
  int mode;
  long tid;
  unsigned long long seq;
};
std::mutex g_capture_mutex;
std::vector<Capturing>* g_capturing = new std::vector<Capturing>();  // never freed: calls may come during exit

void TrackCapture(Kind kind, int code, const Extracted& x, unsigned long long seq) {
  if (!x.has_stream) return;
  std::lock_guard<std::mutex> lock(g_capture_mutex);
  auto& v = *g_capturing;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].stream == x.stream) {
      v.erase(v.begin() + static_cast<long>(i));
      break;
    }
  }
  // The runtime's begin and the driver's begin inside it name the same stream: one entry.
  if (kind == Kind::CaptureBegin && code == 0) v.push_back({x.stream, x.mode, Tid(), seq});
}

// Every capture in progress (in global mode another thread's capture forbids this thread's
// unsafe calls too) and the calling thread's capture mode, read by the caller.
void WriteCapture(JsonLine& j, bool always, bool mode_known, CUstreamCaptureMode mode) {
  std::vector<Capturing> active;
  {
    std::lock_guard<std::mutex> lock(g_capture_mutex);
    active = *g_capturing;
  }
  if (!always && active.empty()) return;
  j.Key("capture").Begin();
  if (mode_known) j.Key("threadMode").Int(static_cast<int>(mode)); else j.Key("threadMode").Null();
  j.Key("active").BeginArray();
  for (const Capturing& c : active) {
    j.Begin().Key("stream").Hex(c.stream).Key("mode").Int(c.mode).Key("tid").Int(c.tid).Key("seq").Uint(c.seq)
        .Key("sameThread").Bool(c.tid == Tid()).End();
  }
  j.EndArray().End();
}

// While this library queries the driver, the thread is put in relaxed capture mode, so that
// no query of ours can invalidate a capture the program has in progress; then it is put back.
struct RelaxedCaptureMode {
  bool known = false;
  CUstreamCaptureMode previous = CU_STREAM_CAPTURE_MODE_GLOBAL;
  RelaxedCaptureMode() {
    if (g_driver.exchange_capture_mode == nullptr) return;
    CUstreamCaptureMode m = CU_STREAM_CAPTURE_MODE_RELAXED;
    if (g_driver.exchange_capture_mode(&m) == CUDA_SUCCESS) {
      known = true;
      previous = m;
    }
  }
  ~RelaxedCaptureMode() {
    if (!known) return;
    CUstreamCaptureMode m = previous;
    g_driver.exchange_capture_mode(&m);
  }
};

bool WantsCallers(Kind k) {
  return k == Kind::IpcGet || k == Kind::IpcOpen || k == Kind::Alloc || k == Kind::VmmCreate || k == Kind::VmmReserve ||
         k == Kind::VmmMap || k == Kind::ShareExport || k == Kind::ShareImport || k == Kind::CaptureBegin;
}

void CUPTIAPI OnApi(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data) {
  if (t_guard) return;
  const Traced* t = Lookup(domain, cbid);
  if (t == nullptr || data == nullptr) return;
  const auto* cb = static_cast<const CUpti_CallbackData*>(data);
  const bool runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
  const size_t index = static_cast<size_t>(t - kTraced);

  if (cb->callbackSite == CUPTI_API_ENTER) {
    // Numbered on entry, so a runtime call comes before the driver calls it makes.
    unsigned long long seq = ++g_seq;
    if (cb->correlationData) *cb->correlationData = seq;
    if (runtime) {
      if (t_runtime_depth < kMaxDepth) t_runtime_stack[t_runtime_depth] = {index, seq};
      ++t_runtime_depth;
    }
    return;
  }

  // The call during which the driver loaded this library reaches us on exit only.
  unsigned long long seq = cb->correlationData ? *cb->correlationData : 0;
  if (seq == 0 || seq > g_seq.load()) seq = ++g_seq;
  if (runtime && t_runtime_depth > 0) --t_runtime_depth;
  int code = cb->functionReturnValue ? *static_cast<const int*>(cb->functionReturnValue) : -1;

  t_guard = 1;
  JsonLine j;
  j.Begin().Key("type").Str("call").Key("seq").Uint(seq).Key("t").Double(Millis(), 3).Key("tid").Int(Tid());
  j.Key("api").Str(runtime ? "runtime" : "driver").Key("call").Str(g_call_names[index]).Key("kind").Str(KindName(t->kind));
  j.Key("code").Int(code);
  if (t->memory) j.Key("memory").Str(t->memory);
  Extracted x;
  if (cb->functionParams) t->read(j, cb->functionParams, code == 0, x);
  if (!runtime && t_runtime_depth > 0 && t_runtime_depth <= kMaxDepth) {
    const OpenRuntimeCall& parent = t_runtime_stack[t_runtime_depth - 1];
    j.Key("within").Begin().Key("call").Str(g_call_names[parent.index]).Key("seq").Uint(parent.seq).End();
  }
  if (WantsCallers(t->kind)) WriteCallers(j);
  if (t->kind == Kind::CaptureBegin || t->kind == Kind::CaptureEnd) TrackCapture(t->kind, code, x, seq);
  if (t->kind == Kind::IpcGet || t->kind == Kind::IpcOpen) {
    RelaxedCaptureMode relaxed;
    if (x.has_ptr) WriteProvenance(j, x.ptr);
    WriteCapture(j, true, relaxed.known, relaxed.previous);
  } else if (t->kind == Kind::Alloc || t->kind == Kind::VmmCreate || t->kind == Kind::VmmMap) {
    bool capturing;
    {
      std::lock_guard<std::mutex> lock(g_capture_mutex);
      capturing = !g_capturing->empty();
    }
    if (capturing) {
      RelaxedCaptureMode relaxed;
      WriteCapture(j, false, relaxed.known, relaxed.previous);
    }
  }
  j.End();
  WriteLine(j.Line());
  ++g_calls;
  t_guard = 0;
}

// ---------------------------------------------------------------------------------------
// Start and end
// ---------------------------------------------------------------------------------------

void Note(const std::string& message) {
  // The traced program's stderr hears from us only when tracing could not start.
  std::fprintf(stderr, "cuipc trace (pid %d): %s\n", static_cast<int>(getpid()), message.c_str());
}

std::string CuptiMessage(CUptiResult r) {
  const char* s = nullptr;
  if (g_cupti.result_string && g_cupti.result_string(r, &s) == CUPTI_SUCCESS && s) return s;
  return "CUPTI error " + std::to_string(static_cast<int>(r));
}

void WriteEnd() {
  JsonLine j;
  j.Begin().Key("type").Str("end").Key("t").Double(Millis(), 3).Key("calls").Uint(g_calls.load())
      .Key("writeErrors").Uint(g_write_errors.load()).End();
  WriteLine(j.Line());
}

}  // namespace
}  // namespace cuipc_trace

// Called by the CUDA driver from cuInit when CUDA_INJECTION64_PATH names this library.
CUIPC_TRACE_EXPORT int InitializeInjection(void) {
  using namespace cuipc_trace;
  static std::atomic<bool> started{false};
  if (started.exchange(true)) return 1;
  g_t0 = std::chrono::steady_clock::now();
  FillNames();
  g_self_base = BaseOf(reinterpret_cast<void*>(&InitializeInjection), &g_self_path);
  {
    // backtrace() loads libgcc_s on first use; do it here, not inside a CUDA call.
    void* warm[2];
    backtrace(warm, 2);
  }
  LoadDriver();

  std::string open_error;
  if (!OpenOutput(&open_error)) {
    Note("cannot write the trace (" + open_error + "); this process is not traced. Set CUIPC_TRACE_DIR to a writable folder.");
    return 1;
  }
  WriteLine(ProcessLine(0));

  JsonLine status;
  status.Begin().Key("type").Str("status").Key("t").Double(Millis(), 3);
  std::vector<Attempt> attempts;
  if (!LoadCupti(attempts)) {
    status.Key("state").Str("cupti-unavailable")
        .Key("message").Str("libcupti was not found or could not be loaded; set CUIPC_LIBCUPTI to its path (it ships with the CUDA toolkit, and in the nvidia-cuda-cupti pip wheel)");
    status.Key("searched").BeginArray();
    for (const Attempt& a : attempts) status.Begin().Key("candidate").Str(a.candidate).Key("error").Str(a.error).End();
    status.EndArray().End();
    WriteLine(status.Line());
    Note("CUPTI unavailable: this process is not traced (set CUIPC_LIBCUPTI to libcupti.so's path)");
    return 1;
  }
  uint32_t version = 0;
  if (g_cupti.version) g_cupti.version(&version);
  status.Key("cupti").Begin().Key("path").Str(g_cupti.path).Key("version").Uint(version).End();

  CUpti_SubscriberHandle subscriber = nullptr;
  CUptiResult r = g_cupti.subscribe(&subscriber, reinterpret_cast<CUpti_CallbackFunc>(OnApi), nullptr);
  if (r != CUPTI_SUCCESS) {
    bool busy = static_cast<int>(r) == kCuptiMultipleSubscribers;
    status.Key("state").Str(busy ? "subscriber-busy" : "cupti-error").Key("code").Int(static_cast<int>(r))
        .Key("message").Str(CuptiMessage(r)).End();
    WriteLine(status.Line());
    Note(busy ? "another tool (a profiler: Nsight Systems, torch.profiler/Kineto, DCGM profiling) already holds the CUPTI "
                "subscriber; this process is not traced. Run without the other tool."
              : "cuptiSubscribe failed (" + CuptiMessage(r) + "); this process is not traced");
    return 1;
  }
  int enabled = 0;
  status.Key("state").Str("tracing");
  status.Key("notEnabled").BeginArray();
  for (size_t i = 0; i < kTracedCount; ++i) {
    CUptiResult e = g_cupti.enable(1, subscriber, kTraced[i].domain, kTraced[i].cbid);
    if (e == CUPTI_SUCCESS) ++enabled;
    else status.Begin().Key("call").Str(g_call_names[i]).Key("code").Int(static_cast<int>(e)).End();
  }
  status.EndArray().Key("enabled").Int(enabled).End();
  WriteLine(status.Line());
  std::atexit(WriteEnd);
  return 1;
}
