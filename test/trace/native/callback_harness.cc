// Drives the injection library's real callback code without a GPU: the library's sources
// (native/trace/*.cc) are compiled and linked into this program, CUPTI's callback data is built by hand for a VMM allocation
// and a failing cudaIpcGetMemHandle (with the driver's cuIpcGetMemHandle inside it), and a
// fake cuPointerGetAttribute answers as the H200 does for VMM memory (docs/hardware-facts.md#vmm-looks-like-device-memory).
// The trace it writes is read back by test/trace/native.test.ts with the TypeScript reader.
#include <chrono>
#include <cstdio>
#include <string>

#include "trace/tracer.h"

namespace {

using namespace cuipc_trace;

constexpr CUdeviceptr kBase = 0x7f2a00000000ull;
constexpr size_t kSize = 2u << 20;

CUresult FakePointerGetAttribute(void* out, CUpointer_attribute attribute, CUdeviceptr ptr) {
  if (ptr < kBase || ptr >= kBase + kSize) return CUDA_ERROR_INVALID_VALUE;
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *static_cast<unsigned*>(out) = CU_MEMORYTYPE_DEVICE; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *static_cast<int*>(out) = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *static_cast<unsigned*>(out) = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR: *static_cast<CUdeviceptr*>(out) = kBase; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE: *static_cast<size_t*>(out) = kSize; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: *static_cast<unsigned*>(out) = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *static_cast<unsigned long long*>(out) = 0; return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *static_cast<void**>(out) = nullptr; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}
CUresult FakeRetain(CUmemGenericAllocationHandle* h, void*) { *h = 0x1234; return CUDA_SUCCESS; }
int g_released = 0;
CUresult FakeRelease(CUmemGenericAllocationHandle) { ++g_released; return CUDA_SUCCESS; }
CUresult FakeExchange(CUstreamCaptureMode* mode) { *mode = CU_STREAM_CAPTURE_MODE_GLOBAL; return CUDA_SUCCESS; }

uint64_t g_correlation[64];
int g_next = 0;

// One API call as CUPTI reports it: enter, the nested calls, exit with `code`.
struct Api {
  CUpti_CallbackDomain domain;
  CUpti_CallbackId cbid;
  const void* params;
  int code;
  uint64_t* correlation;
  void Enter() {
    correlation = &g_correlation[g_next++];
    Fire(CUPTI_API_ENTER);
  }
  void Exit() { Fire(CUPTI_API_EXIT); }
  void Fire(CUpti_ApiCallbackSite site) {
    CUpti_CallbackData data{};
    data.callbackSite = site;
    data.functionName = "harness";
    data.functionParams = params;
    data.functionReturnValue = &code;
    data.correlationData = correlation;
    OnApi(nullptr, domain, cbid, &data);
  }
};

}  // namespace

int main() {
  g_t0 = std::chrono::steady_clock::now();
  FillNames();
  g_self_base = BaseOf(reinterpret_cast<void*>(&OnApi), &g_self_path);
  g_driver.pointer_get_attribute = FakePointerGetAttribute;
  g_driver.retain_allocation_handle = FakeRetain;
  g_driver.release = FakeRelease;
  g_driver.exchange_capture_mode = FakeExchange;
  std::string error;
  if (!OpenOutput(&error)) {
    std::fprintf(stderr, "harness: %s\n", error.c_str());
    return 2;
  }
  WriteLine(ProcessLine(0));

  CUmemGenericAllocationHandle handle = 0;
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  cuMemCreate_params create{&handle, kSize, &prop, 0};
  Api c{CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemCreate, &create, 0, nullptr};
  c.Enter();
  handle = 0xabc0;
  c.Exit();

  CUdeviceptr reserved = 0;
  cuMemAddressReserve_params reserve{&reserved, kSize, 0, 0, 0};
  Api r{CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAddressReserve, &reserve, 0, nullptr};
  r.Enter();
  reserved = kBase;
  r.Exit();

  cuMemMap_params map{kBase, kSize, 0, 0xabc0, 0};
  Api m{CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemMap, &map, 0, nullptr};
  m.Enter();
  m.Exit();

  cudaStream_t stream = reinterpret_cast<cudaStream_t>(0x5600aa000000ull);
  cudaStreamBeginCapture_v10000_params begin{stream, cudaStreamCaptureModeGlobal};
  Api b{CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_v10000, &begin, 0, nullptr};
  b.Enter();
  b.Exit();

  cudaIpcMemHandle_t rt_handle{};
  cudaIpcGetMemHandle_v4010_params rt{&rt_handle, reinterpret_cast<void*>(kBase)};
  Api outer{CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaIpcGetMemHandle_v4010, &rt, 1, nullptr};
  CUipcMemHandle drv_handle{};
  cuIpcGetMemHandle_params drv{&drv_handle, kBase};
  Api inner{CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuIpcGetMemHandle, &drv, 1, nullptr};
  outer.Enter();
  inner.Enter();
  inner.Exit();
  outer.Exit();

  cudaStreamEndCapture_v10000_params end{stream, nullptr};
  Api e{CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_v10000, &end, 901, nullptr};
  e.Enter();
  e.Exit();

  // A callback id that is not traced is ignored.
  Api other{CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, nullptr, 0, nullptr};
  other.Enter();
  other.Exit();

  WriteEnd();
  std::printf("%s\n%d\n", g_file.c_str(), g_released);
  return 0;
}
