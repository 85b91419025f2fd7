// A TEST stand-in with torch_memory_saver's preload-hook ABI, for machines where the real
// library cannot run (it links libcuda and libcudart; there is no GPU or driver in CI). The
// probe must find and enter a hook by this ABI, so the seed failure is tested on the simulated
// device; on a GPU the real torch_memory_saver is the authority (see the project's notes).
//
// What it reproduces, from torch_memory_saver's csrc/entrypoint.cpp (preload mode):
//  - cudaMalloc served from cuMemCreate + cuMemMap with no shareable handle type inside the
//    region, the runtime's cudaMalloc outside it; cudaFree inside the region unmaps its own
//    memory, and outside it goes to the runtime's cudaFree whatever the pointer, as 0.0.9 and
//    0.0.9.post1 do, so freeing the hook's memory there returns 1 (measured with the real 0.0.9
//    on an H100: the probe's teardown, which frees outside the region as PyTorch would, fails
//    in cudaFree; later releases look the pointer up wherever it is freed);
//  - the region is THREAD-LOCAL: `tms_set_interesting_region(bool)` / `tms_get_interesting_region()`
//    act on the calling thread only; `TMS_INIT_ENABLE` (read once per thread, "1"/"true")
//    starts a thread inside it ("1", "true", "TRUE", "yes", "YES");
//  - `tms_set_current_tag` / `tms_get_current_tag` (the tag is recorded, nothing else).
//  - as torch_memory_saver 0.0.9 and 0.0.9.post1 (the releases RL frameworks pin): the size goes
//    to cuMemCreate unrounded, and a driver error prints the code on stderr and exits the
//    process (CURESULT_CHECK), so a size that is not a multiple of the granularity kills it.
// What it does NOT reproduce: pause/resume, CPU and disk backup, the memory margin, the
// GPUDirect-RDMA allocation flag, per-tag bookkeeping, and the newer releases' rounding (cuipc's
// own interposer rounds, as they do).
#include <cstdlib>
#include <initializer_list>
#include <cstring>
#include <string>

#include "interposer/vmm_backing.h"

#define CUIPC_EXPORT extern "C" __attribute__((visibility("default")))

CUIPC_EXPORT cudaError_t cudaMalloc(void** ptr, size_t size);
CUIPC_EXPORT cudaError_t cudaFree(void* ptr);
CUIPC_EXPORT void tms_set_interesting_region(bool is_interesting_region);
CUIPC_EXPORT bool tms_get_interesting_region(void);
CUIPC_EXPORT void tms_set_current_tag(const char* tag);
CUIPC_EXPORT const char* tms_get_current_tag(void);

namespace {
// torch_memory_saver's get_bool_env_var (csrc/utils.h): exactly these spellings are true.
bool envFlag(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  for (const char* yes : {"1", "true", "TRUE", "yes", "YES"}) {
    if (std::strcmp(v, yes) == 0) return true;
  }
  return false;
}

struct ThreadRegion {
  int state = -1;  // -1: not yet read from TMS_INIT_ENABLE on this thread
  std::string tag = "default";
  bool inside() {
    if (state < 0) state = envFlag("TMS_INIT_ENABLE") ? 1 : 0;
    return state > 0;
  }
};
thread_local ThreadRegion t_region;

void init() { cuipc_interposer::Init(reinterpret_cast<void*>(&cudaMalloc), reinterpret_cast<void*>(&cudaFree)); }
}  // namespace

CUIPC_EXPORT void tms_set_interesting_region(bool is_interesting_region) { t_region.state = is_interesting_region ? 1 : 0; }
CUIPC_EXPORT bool tms_get_interesting_region(void) { return t_region.inside(); }
CUIPC_EXPORT void tms_set_current_tag(const char* tag) { t_region.tag = tag ? tag : "default"; }
CUIPC_EXPORT const char* tms_get_current_tag(void) { return t_region.tag.c_str(); }

CUIPC_EXPORT cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return cuabi::kErrorInvalidValue;
  init();
  static const cuipc_interposer::VmmPolicy kAs009{/*roundToGranularity=*/false, /*exitOnDriverError=*/true};
  return t_region.inside() ? cuipc_interposer::ServeVmm(ptr, size, kAs009) : cuipc_interposer::ForwardMalloc(ptr, size);
}

CUIPC_EXPORT cudaError_t cudaFree(void* ptr) {
  init();
  return t_region.inside() ? cuipc_interposer::Free(ptr) : cuipc_interposer::ForwardFree(ptr);
}
