// The entry points both bench programs call, resolved exactly as the addon's loader resolves
// them (native/loader): runtime rows with dlsym on the runtime, cudaMalloc/cudaFree from the
// global scope first (so an LD_PRELOAD interposer wins, as it does for an application), driver
// rows through cuGetProcAddress_v2. One copy, so the floors measure the same calls the addon makes.
#pragma once
#include <dlfcn.h>

#include "loader/cuda_table.h"

namespace cuipc_bench {

struct EntryPoints {
#define CUIPC_BENCH_RT_FIELD(name, params, args) cudaError_t(*name) params = nullptr;
  CUIPC_RUNTIME_TABLE(CUIPC_BENCH_RT_FIELD)
  CUIPC_ALLOCATION_TABLE(CUIPC_BENCH_RT_FIELD)
#undef CUIPC_BENCH_RT_FIELD
#define CUIPC_BENCH_DRV_FIELD(name, params, args) CUresult(*name) params = nullptr;
  CUIPC_DRIVER_TABLE(CUIPC_BENCH_DRV_FIELD)
#undef CUIPC_BENCH_DRV_FIELD
};

// Fills every row it finds (missing ones stay null: the caller says which it requires);
// false when the driver has no cuGetProcAddress_v2 (older than CUDA 12).
inline bool ResolveEntryPoints(void* runtime, void* driver, EntryPoints& fn) {
#define CUIPC_BENCH_RESOLVE_RT(name, params, args) fn.name = reinterpret_cast<decltype(fn.name)>(dlsym(runtime, #name));
  CUIPC_RUNTIME_TABLE(CUIPC_BENCH_RESOLVE_RT)
#undef CUIPC_BENCH_RESOLVE_RT
#define CUIPC_BENCH_RESOLVE_ALLOC(name, params, args)     \
  {                                                       \
    void* sym = dlsym(RTLD_DEFAULT, #name);               \
    if (!sym) sym = dlsym(runtime, #name);                \
    fn.name = reinterpret_cast<decltype(fn.name)>(sym);   \
  }
  CUIPC_ALLOCATION_TABLE(CUIPC_BENCH_RESOLVE_ALLOC)
#undef CUIPC_BENCH_RESOLVE_ALLOC
  auto getProc = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(driver, "cuGetProcAddress_v2"));
  if (!getProc) return false;
#define CUIPC_BENCH_RESOLVE_DRV(name, params, args)                                                                 \
  {                                                                                                                 \
    void* pfn = nullptr;                                                                                            \
    int status = 0;                                                                                                 \
    if (getProc(#name, &pfn, cuabi::kProcAddressVersion, cuabi::kGetProcAddressDefault, &status) != 0) pfn = nullptr; \
    fn.name = reinterpret_cast<decltype(fn.name)>(pfn);                                                             \
  }
  CUIPC_DRIVER_TABLE(CUIPC_BENCH_RESOLVE_DRV)
#undef CUIPC_BENCH_RESOLVE_DRV
  return true;
}

}  // namespace cuipc_bench
