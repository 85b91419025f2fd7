// A plain CUDA program for `cuipc trace`, linked to the static runtime (nvcc -cudart static),
// so the trace shows that runtime callbacks arrive without a shared libcudart. It makes, in
// order: a cudaMalloc buffer exported with cudaIpcGetMemHandle (succeeds); a VMM allocation
// (cuMemCreate without a shareable handle type + cuMemMap) exported the same way (fails with
// 1 cudaErrorInvalidValue); a cudaMalloc inside a global-mode stream capture (900), and the
// capture's end (901). Each result is printed; the exit status is 0 when every call returned
// what h200-ipc-truth.md says it returns.
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdio>

static int g_mismatches = 0;

static void expect(const char* what, int got, int want) {
  std::printf("%-48s -> %d (expected %d)\n", what, got, want);
  if (got != want) ++g_mismatches;
}

int main() {
  if (cudaSetDevice(0) != cudaSuccess) return 3;
  void* plain = nullptr;
  expect("cudaMalloc", cudaMalloc(&plain, 1 << 21), 0);
  cudaIpcMemHandle_t handle;
  expect("cudaIpcGetMemHandle(cudaMalloc memory)", cudaIpcGetMemHandle(&handle, plain), 0);

  CUdevice dev;
  cuDeviceGet(&dev, 0);
  CUmemAllocationProp prop = {};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev;
  size_t granularity = 0;
  cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
  CUmemGenericAllocationHandle vmm;
  expect("cuMemCreate (no shareable handle type)", cuMemCreate(&vmm, granularity, &prop, 0), 0);
  CUdeviceptr va = 0;
  expect("cuMemAddressReserve", cuMemAddressReserve(&va, granularity, 0, 0, 0), 0);
  expect("cuMemMap", cuMemMap(va, granularity, 0, vmm, 0), 0);
  CUmemAccessDesc access = {};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  cuMemSetAccess(va, granularity, &access, 1);
  expect("cudaIpcGetMemHandle(VMM memory)", cudaIpcGetMemHandle(&handle, reinterpret_cast<void*>(va)), 1);
  cudaGetLastError();

  cudaStream_t stream;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  expect("cudaStreamBeginCapture(global)", cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), 0);
  void* during = nullptr;
  expect("cudaMalloc during the capture", cudaMalloc(&during, 1 << 20), 900);
  cudaGraph_t graph = nullptr;
  expect("cudaStreamEndCapture", cudaStreamEndCapture(stream, &graph), 901);
  cudaGetLastError();

  cuMemUnmap(va, granularity);
  cuMemAddressFree(va, granularity);
  cuMemRelease(vmm);
  cudaFree(plain);
  std::printf("%d mismatch(es)\n", g_mismatches);
  return g_mismatches == 0 ? 0 : 1;
}
