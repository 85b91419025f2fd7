// libcuipc_trace.so, what is traced: one row per CUPTI callback id (kTraced), with the
// reader that writes the call's arguments into its record. Adding a traced call is one row
// here and, when it needs one, one reader. See tracer.h for the library's other parts.
#include <cstdio>
#include <string>

#include "trace/tracer.h"

namespace cuipc_trace {

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

namespace {

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

}  // namespace

#define RT(id, kind, memory, reader) \
  { CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_##id, #id, Kind::kind, memory, reader }
#define DRV(id, kind, memory, reader) \
  { CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_##id, #id, Kind::kind, memory, reader }

// The callback ids enabled, nothing else. Names keep CUPTI's version suffix here; the
// record's "call" field drops it (cudaMalloc_v3020 -> cudaMalloc).
extern const Traced kTraced[] = {
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

constexpr size_t kCount = sizeof kTraced / sizeof kTraced[0];
extern const size_t kTracedCount = kCount;

namespace {
constexpr CUpti_CallbackId kMaxCbid = 4096;
const Traced* g_runtime_by_id[kMaxCbid];
const Traced* g_driver_by_id[kMaxCbid];
char g_call_names[kCount][64];  // CUPTI names without the runtime's _vNNNN suffix
}  // namespace

const Traced* Lookup(CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
  if (cbid >= kMaxCbid) return nullptr;
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) return g_runtime_by_id[cbid];
  if (domain == CUPTI_CB_DOMAIN_DRIVER_API) return g_driver_by_id[cbid];
  return nullptr;
}

// cudaMalloc_v3020 -> cudaMalloc; driver names (cuMemAlloc_v2) are the exported symbols and stay.
void FillNames() {
  for (size_t i = 0; i < kCount; ++i) {
    std::string n = kTraced[i].name;
    size_t u = n.rfind("_v");
    if (kTraced[i].domain == CUPTI_CB_DOMAIN_RUNTIME_API && u != std::string::npos && n.size() - u >= 6) n.resize(u);
    std::snprintf(g_call_names[i], sizeof g_call_names[i], "%s", n.c_str());
    const Traced* t = &kTraced[i];
    if (t->cbid < kMaxCbid) (t->domain == CUPTI_CB_DOMAIN_RUNTIME_API ? g_runtime_by_id : g_driver_by_id)[t->cbid] = t;
  }
}

const char* CallName(size_t index) { return g_call_names[index]; }

}  // namespace cuipc_trace
