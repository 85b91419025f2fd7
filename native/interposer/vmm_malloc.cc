// cuipc's own LD_PRELOAD allocator interposer: cudaMalloc served from cuMemCreate + cuMemMap
// inside a region the application enters, forwarded to the runtime outside it. Memory it
// returns is device memory with a normal address range, but it is not legacy-IPC-capable, so
// cudaIpcGetMemHandle on it fails with cudaErrorInvalidValue: users preload it to reproduce the
// Ray-launch failure on purpose on a machine without torch_memory_saver.
//
// Its region is process-wide (`cuipc_interposer_set_region`), unlike torch_memory_saver's,
// which is per thread (tms_standin.cc has that ABI); CUIPC_INTERPOSER_REGION=all serves every
// cudaMalloc. CUIPC_INTERPOSER_HANDLE_TYPE=fd requests a POSIX-fd shareable handle type
// (exportable with cuMemExportToShareableHandle, still not with cudaIpcGetMemHandle).
// It prints nothing.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "interposer/vmm_backing.h"

#define CUIPC_EXPORT extern "C" __attribute__((visibility("default")))

CUIPC_EXPORT cudaError_t cudaMalloc(void** ptr, size_t size);
CUIPC_EXPORT cudaError_t cudaFree(void* ptr);
CUIPC_EXPORT const char* cuipcInterposerName(void);
CUIPC_EXPORT void cuipc_interposer_set_region(int active);
CUIPC_EXPORT int cuipc_interposer_in_region(void);

namespace {
std::atomic<int> g_region{-1};  // -1: not yet read from the environment

bool inRegion() {
  int r = g_region.load();
  if (r < 0) {
    const char* v = std::getenv("CUIPC_INTERPOSER_REGION");
    r = (v && std::strcmp(v, "all") == 0) ? 1 : 0;
    int expected = -1;
    g_region.compare_exchange_strong(expected, r);
    r = g_region.load();
  }
  return r > 0;
}

void init() { cuipc_interposer::Init(reinterpret_cast<void*>(&cudaMalloc), reinterpret_cast<void*>(&cudaFree)); }
}  // namespace

CUIPC_EXPORT const char* cuipcInterposerName(void) { return "cuipc-vmm-interposer"; }
CUIPC_EXPORT void cuipc_interposer_set_region(int active) { g_region.store(active ? 1 : 0); }
CUIPC_EXPORT int cuipc_interposer_in_region(void) { return inRegion() ? 1 : 0; }

CUIPC_EXPORT cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return cuabi::kErrorInvalidValue;
  init();
  return inRegion() ? cuipc_interposer::ServeVmm(ptr, size) : cuipc_interposer::ForwardMalloc(ptr, size);
}

CUIPC_EXPORT cudaError_t cudaFree(void* ptr) {
  init();
  return cuipc_interposer::Free(ptr);
}
