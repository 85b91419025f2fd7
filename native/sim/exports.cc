// The C entry points of libcuipc_sim.so. Each is generated from the contract's X-macro
// tables (loader/cuda_table.h), so name and signature match what the addon's loader
// resolves: the call is counted for fault injection, then handed to its implementation;
// a failing runtime call also becomes the thread's last error.
#include <cstdio>
#include <cstring>
#include <mutex>

#include "entries.h"
#include "sim.h"

#define CUIPC_SIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace cuipcsim {
namespace {
// cudaGetLastError and cudaPeekAtLastError report the last error; they do not set it.
constexpr bool setsLastError(int id) { return id != kEntry_cudaGetLastError && id != kEntry_cudaPeekAtLastError; }
}  // namespace
}  // namespace cuipcsim

#define CUIPC_SIM_RUNTIME_ENTRY(name, params, args)                                     \
  CUIPC_SIM_EXPORT cudaError_t name params {                                            \
    int fault = cuipcsim::faultCheck(cuipcsim::kEntry_##name);                          \
    cudaError_t r = fault >= 0 ? fault : cuipcsim::impl::name args;                     \
    if (r != 0 && cuipcsim::setsLastError(cuipcsim::kEntry_##name)) cuipcsim::setLastError(r); \
    return r;                                                                           \
  }

#define CUIPC_SIM_DRIVER_ENTRY(name, params, args)                                      \
  CUIPC_SIM_EXPORT CUresult name params {                                               \
    int fault = cuipcsim::faultCheck(cuipcsim::kEntry_##name);                          \
    return fault >= 0 ? fault : cuipcsim::impl::name args;                              \
  }

CUIPC_RUNTIME_TABLE(CUIPC_SIM_RUNTIME_ENTRY)
CUIPC_ALLOCATION_TABLE(CUIPC_SIM_RUNTIME_ENTRY)
CUIPC_DRIVER_TABLE(CUIPC_SIM_DRIVER_ENTRY)

CUIPC_SIM_EXPORT const char* cudaGetErrorName(cudaError_t error) {
  cuipcsim::faultCheck(cuipcsim::kEntry_cudaGetErrorName);
  return cuipcsim::runtimeErrorName(error);
}

CUIPC_SIM_EXPORT const char* cudaGetErrorString(cudaError_t error) {
  cuipcsim::faultCheck(cuipcsim::kEntry_cudaGetErrorString);
  return cuipcsim::runtimeErrorString(error);
}

namespace {
struct ProcEntry {
  const char* name;
  void* fn;
};
const ProcEntry kDriverProcs[] = {
#define CUIPC_SIM_PROC(name, params, args) {#name, reinterpret_cast<void*>(&::name)},
    CUIPC_DRIVER_TABLE(CUIPC_SIM_PROC)
#undef CUIPC_SIM_PROC
};
}  // namespace

// Every driver row resolves to the same exported function as its plain name. The
// requested CUDA version is accepted whatever it is (each row has one version here);
// flags are CU_GET_PROC_ADDRESS_DEFAULT / LEGACY_STREAM / PER_THREAD_DEFAULT_STREAM.
CUIPC_SIM_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int cudaVersion,
                                              unsigned long long flags, int* symbolStatus) {
  (void)cudaVersion;
  int fault = cuipcsim::faultCheck(cuipcsim::kEntry_cuGetProcAddress_v2);
  if (fault >= 0) return fault;
  if (!symbol || !pfn || (flags & ~3ull)) return cuabi::kErrorInvalidValue;
  for (const ProcEntry& e : kDriverProcs) {
    if (std::strcmp(e.name, symbol) == 0) {
      *pfn = e.fn;
      if (symbolStatus) *symbolStatus = 0;  // CU_GET_PROC_ADDRESS_SUCCESS
      return cuabi::kSuccess;
    }
  }
  *pfn = nullptr;
  if (symbolStatus) *symbolStatus = 1;  // CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
  return cuabi::kCuErrorNotFound;
}

// How the addon tells the simulator from a real driver: this symbol exists only here.
// "devices" is the number of simulated physical devices (CUIPC_SIM_DEVICES), before
// CUDA_VISIBLE_DEVICES.
CUIPC_SIM_EXPORT const char* cuipcSimDescribe(void) {
  cuipcsim::faultCheck(cuipcsim::kEntry_cuipcSimDescribe);
  static char text[256];
  static std::once_flag once;
  std::call_once(once, [] {
    std::snprintf(text, sizeof text,
                  "{\"simulated\":true,\"basis\":\"H200 driver 580.159.04 / CUDA 13.0 recordings "
                  "(docs/hardware-facts.md)\",\"devices\":%d}",
                  cuipcsim::physicalDeviceCount());
  });
  return text;
}
