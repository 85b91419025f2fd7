// The allocator both LD_PRELOAD front ends share (cuipc's own interposer and the
// torch_memory_saver ABI stand-in used by tests): cudaMalloc served from the driver's virtual
// memory management (cuMemCreate + cuMemAddressReserve + cuMemMap + cuMemSetAccess) on the
// current device, cudaFree of those allocations unmapped, everything else forwarded to the
// runtime. The front ends differ only in how their region is entered, which is what the
// probe must reproduce; the memory they hand out is the same.
//
// Driver entry points are resolved on first use: cuGetProcAddress from the global scope (the
// addon loads the driver, or the simulated device, RTLD_GLOBAL), else from libcuda.so.1.
#include "interposer/vmm_backing.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "loader/cuda_table.h"

namespace {

using cuInit_t = CUresult (*)(unsigned);
using cuCtxGetCurrent_t = CUresult (*)(CUcontext*);
using cuCtxGetDevice_t = CUresult (*)(CUdevice*);
using cuCtxSynchronize_t = CUresult (*)(void);
using cuMemGetAllocationGranularity_t = CUresult (*)(size_t*, const CUmemAllocationProp*, int);
using cuMemCreate_t = CUresult (*)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*, unsigned long long);
using cuMemRelease_t = CUresult (*)(CUmemGenericAllocationHandle);
using cuMemAddressReserve_t = CUresult (*)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long);
using cuMemAddressFree_t = CUresult (*)(CUdeviceptr, size_t);
using cuMemMap_t = CUresult (*)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
using cuMemUnmap_t = CUresult (*)(CUdeviceptr, size_t);
using cuMemSetAccess_t = CUresult (*)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t);
using cuGetErrorString_t = CUresult (*)(CUresult, const char**);
using cudaMalloc_t = cudaError_t (*)(void**, size_t);
using cudaFree_t = cudaError_t (*)(void*);
using cudaGetDevice_t = cudaError_t (*)(int*);

struct Driver {
  bool ok = false;
  cuInit_t cuInit = nullptr;
  cuCtxGetCurrent_t cuCtxGetCurrent = nullptr;
  cuCtxGetDevice_t cuCtxGetDevice = nullptr;      // optional: cudaGetDevice stands in
  cuCtxSynchronize_t cuCtxSynchronize = nullptr;  // optional
  cuMemGetAllocationGranularity_t cuMemGetAllocationGranularity = nullptr;
  cuMemCreate_t cuMemCreate = nullptr;
  cuMemRelease_t cuMemRelease = nullptr;
  cuMemAddressReserve_t cuMemAddressReserve = nullptr;
  cuMemAddressFree_t cuMemAddressFree = nullptr;
  cuMemMap_t cuMemMap = nullptr;
  cuMemUnmap_t cuMemUnmap = nullptr;
  cuMemSetAccess_t cuMemSetAccess = nullptr;
  cuGetErrorString_t cuGetErrorString = nullptr;  // optional: names the code in an exit message
};

struct Allocation {
  CUmemGenericAllocationHandle handle;
  size_t size;
};

std::once_flag g_driver_once;
Driver g_driver;
std::once_flag g_runtime_once;
cudaMalloc_t g_next_malloc = nullptr;
cudaFree_t g_next_free = nullptr;
cudaGetDevice_t g_get_device = nullptr;
std::mutex g_mutex;  // guards g_allocations and g_granularity
std::unordered_map<CUdeviceptr, Allocation>* g_allocations = nullptr;  // never destroyed: frees may come during exit
std::unordered_map<long long, size_t>* g_granularity = nullptr;

template <typename F>
bool fetch(cuipc_cuGetProcAddress_t gpa, const char* name, F* out) {
  void* fn = nullptr;
  int status = 0;
  if (gpa(name, &fn, cuabi::kProcAddressVersion, cuabi::kGetProcAddressDefault, &status) != cuabi::kSuccess || !fn) return false;
  *out = reinterpret_cast<F>(fn);
  return true;
}

void resolveDriver() {
  auto gpa = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(RTLD_DEFAULT, "cuGetProcAddress_v2"));
  if (!gpa) gpa = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(RTLD_DEFAULT, "cuGetProcAddress"));
  if (!gpa) {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      gpa = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(lib, "cuGetProcAddress_v2"));
      if (!gpa) gpa = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(lib, "cuGetProcAddress"));
    }
  }
  if (!gpa) return;
  Driver d;
  bool ok = fetch(gpa, "cuInit", &d.cuInit) && fetch(gpa, "cuCtxGetCurrent", &d.cuCtxGetCurrent) &&
            fetch(gpa, "cuMemGetAllocationGranularity", &d.cuMemGetAllocationGranularity) &&
            fetch(gpa, "cuMemCreate", &d.cuMemCreate) && fetch(gpa, "cuMemRelease", &d.cuMemRelease) &&
            fetch(gpa, "cuMemAddressReserve", &d.cuMemAddressReserve) &&
            fetch(gpa, "cuMemAddressFree", &d.cuMemAddressFree) && fetch(gpa, "cuMemMap", &d.cuMemMap) &&
            fetch(gpa, "cuMemUnmap", &d.cuMemUnmap) && fetch(gpa, "cuMemSetAccess", &d.cuMemSetAccess);
  if (!ok) return;
  fetch(gpa, "cuCtxGetDevice", &d.cuCtxGetDevice);
  fetch(gpa, "cuCtxSynchronize", &d.cuCtxSynchronize);
  fetch(gpa, "cuGetErrorString", &d.cuGetErrorString);
  d.cuInit(0);
  d.ok = true;
  g_driver = d;
}

// The runtime's own entry points: the next definition after this library; when the runtime
// was dlopen'ed RTLD_LOCAL (RTLD_NEXT cannot see it), an already-loaded runtime by name.
void* runtimeSymbol(const char* name, void* self) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn && fn != self) return fn;
  const char* override_path = std::getenv("CUIPC_LIBCUDART");
  const char* candidates[] = {override_path, "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so",
                              "libcuipc_sim.so"};
  for (const char* lib : candidates) {
    if (!lib || !*lib) continue;
    void* handle = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    if (!handle) continue;
    fn = dlsym(handle, name);
    dlclose(handle);  // RTLD_NOLOAD took a reference; the library stays loaded by its owner
    if (fn && fn != self) return fn;
  }
  return nullptr;
}

void* g_self_malloc = nullptr;  // the front end's own cudaMalloc and cudaFree, never "the next" one
void* g_self_free = nullptr;

void resolveRuntime() {
  g_next_malloc = reinterpret_cast<cudaMalloc_t>(runtimeSymbol("cudaMalloc", g_self_malloc));
  g_next_free = reinterpret_cast<cudaFree_t>(runtimeSymbol("cudaFree", g_self_free));
  g_get_device = reinterpret_cast<cudaGetDevice_t>(runtimeSymbol("cudaGetDevice", nullptr));
}

cudaError_t toRuntimeError(CUresult r) {
  switch (r) {
    case cuabi::kSuccess: return cuabi::kSuccess;
    case cuabi::kErrorInvalidValue: return cuabi::kErrorInvalidValue;
    case cuabi::kErrorMemoryAllocation: return cuabi::kErrorMemoryAllocation;  // CUDA_ERROR_OUT_OF_MEMORY is 2 too
    case cuabi::kErrorInitializationError: return cuabi::kErrorInitializationError;
    case cuabi::kErrorNoDevice: return cuabi::kErrorNoDevice;
    case cuabi::kErrorInvalidDevice: return cuabi::kErrorInvalidDevice;
    case cuabi::kErrorNotPermitted: return cuabi::kErrorNotPermitted;
    case cuabi::kErrorNotSupported: return cuabi::kErrorNotSupported;
    default: return cuabi::kErrorUnknown;
  }
}

// The device of the current context; the runtime makes its primary context current on the
// first runtime call, so a thread with no context yet gets one through cudaFree(nullptr).
bool currentDevice(CUdevice* device) {
  const Driver& d = g_driver;
  CUcontext ctx = nullptr;
  if (d.cuCtxGetCurrent(&ctx) != cuabi::kSuccess || !ctx) {
    if (g_next_free) g_next_free(nullptr);
    ctx = nullptr;
    if (d.cuCtxGetCurrent(&ctx) != cuabi::kSuccess || !ctx) return false;
  }
  if (d.cuCtxGetDevice && d.cuCtxGetDevice(device) == cuabi::kSuccess) return true;
  int ordinal = 0;
  if (g_get_device && g_get_device(&ordinal) == cuabi::kSuccess) {
    *device = ordinal;
    return true;
  }
  return false;
}

int requestedHandleType() {
  // torch_memory_saver requests no shareable handle type; the fd type is cuipc's option.
  const char* v = std::getenv("CUIPC_INTERPOSER_HANDLE_TYPE");
  return v && (std::strcmp(v, "fd") == 0 || std::strcmp(v, "posix-fd") == 0) ? cuabi::kMemHandleTypePosixFd
                                                                              : cuabi::kMemHandleTypeNone;
}

CUresult granularityFor(const CUmemAllocationProp& prop, size_t* granularity) {
  const long long key = (static_cast<long long>(prop.location.id) << 8) | prop.requestedHandleTypes;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_granularity->find(key);
    if (it != g_granularity->end()) {
      *granularity = it->second;
      return cuabi::kSuccess;
    }
  }
  CUresult r = g_driver.cuMemGetAllocationGranularity(granularity, &prop, cuabi::kMemAllocGranularityMinimum);
  if (r != cuabi::kSuccess) return r;
  if (*granularity == 0) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(g_mutex);
  (*g_granularity)[key] = *granularity;
  return cuabi::kSuccess;
}

// torch_memory_saver's CURESULT_CHECK (csrc/utils.h): the code and its string on stderr, then
// exit(1). `func` is the helper of the real library the failing call sits in.
[[noreturn]] void exitLikeTms(CUresult r, const char* func) {
  const char* text = nullptr;
  if (g_driver.cuGetErrorString) g_driver.cuGetErrorString(r, &text);
  std::fprintf(stderr, "[torch_memory_saver stand-in] CUresult error: %d (%s) func=%s (cuipc's test stand-in exits as torch_memory_saver 0.0.9 does)\n",
               static_cast<int>(r), text ? text : "Unknown error", func);
  std::fflush(stderr);
  std::exit(1);
}

cudaError_t vmmMalloc(void** ptr, size_t size, const cuipc_interposer::VmmPolicy& policy) {
  const Driver& d = g_driver;
  CUdevice device = 0;
  if (!currentDevice(&device)) return cuabi::kErrorInitializationError;
  CUmemAllocationProp prop;
  std::memset(&prop, 0, sizeof prop);
  prop.type = cuabi::kMemAllocationTypePinned;
  prop.requestedHandleTypes = requestedHandleType();
  prop.location.type = cuabi::kMemLocationTypeDevice;
  prop.location.id = device;
  size_t granularity = 0;
  CUresult r = granularityFor(prop, &granularity);
  if (r != cuabi::kSuccess) return toRuntimeError(r);
  if (size > SIZE_MAX - granularity) return cuabi::kErrorMemoryAllocation;
  // torch_memory_saver before its mid-2026 releases hands the size to cuMemCreate unrounded.
  const size_t rounded = policy.roundToGranularity ? (size + granularity - 1) / granularity * granularity : size;

  CUmemGenericAllocationHandle handle = 0;
  r = d.cuMemCreate(&handle, rounded, &prop, 0);
  if (r != cuabi::kSuccess && policy.exitOnDriverError) exitLikeTms(r, "cu_mem_create");
  if (r != cuabi::kSuccess) return toRuntimeError(r);
  CUdeviceptr va = 0;
  r = d.cuMemAddressReserve(&va, rounded, granularity, 0, 0);
  if (r != cuabi::kSuccess && policy.exitOnDriverError) exitLikeTms(r, "malloc");
  if (r != cuabi::kSuccess) {
    d.cuMemRelease(handle);
    return toRuntimeError(r);
  }
  r = d.cuMemMap(va, rounded, 0, handle, 0);
  if (r != cuabi::kSuccess && policy.exitOnDriverError) exitLikeTms(r, "malloc");
  if (r != cuabi::kSuccess) {
    d.cuMemAddressFree(va, rounded);
    d.cuMemRelease(handle);
    return toRuntimeError(r);
  }
  CUmemAccessDesc access;
  std::memset(&access, 0, sizeof access);
  access.location.type = cuabi::kMemLocationTypeDevice;
  access.location.id = device;
  access.flags = cuabi::kMemAccessReadWrite;
  r = d.cuMemSetAccess(va, rounded, &access, 1);
  if (r == cuabi::kSuccess) {
    try {
      std::lock_guard<std::mutex> lock(g_mutex);
      (*g_allocations)[va] = Allocation{handle, rounded};
    } catch (...) {
      r = cuabi::kErrorMemoryAllocation;
    }
  }
  if (r != cuabi::kSuccess) {
    d.cuMemUnmap(va, rounded);
    d.cuMemAddressFree(va, rounded);
    d.cuMemRelease(handle);
    return toRuntimeError(r);
  }
  *ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(va));
  return cuabi::kSuccess;
}

}  // namespace

namespace cuipc_interposer {

void Init(void* selfMalloc, void* selfFree) {
  std::call_once(g_driver_once, [&] {
    g_self_malloc = selfMalloc;
    g_self_free = selfFree;
    g_allocations = new std::unordered_map<CUdeviceptr, Allocation>();
    g_granularity = new std::unordered_map<long long, size_t>();
    resolveDriver();
  });
  std::call_once(g_runtime_once, resolveRuntime);
}

cudaError_t ForwardMalloc(void** ptr, size_t size) {
  return g_next_malloc ? g_next_malloc(ptr, size) : cuabi::kErrorInitializationError;
}

cudaError_t ForwardFree(void* ptr) {
  return g_next_free ? g_next_free(ptr) : cuabi::kErrorInitializationError;
}

cudaError_t ServeVmm(void** ptr, size_t size, const VmmPolicy& policy) {
  // A zero-byte request has nothing to map; the runtime answers it (success, null pointer).
  if (size == 0 || !g_driver.ok) {
    if (size == 0 && g_next_malloc) return g_next_malloc(ptr, size);
    return g_driver.ok ? cuabi::kErrorInvalidValue : cuabi::kErrorInitializationError;
  }
  return vmmMalloc(ptr, size, policy);
}

cudaError_t Free(void* ptr) {
  if (ptr) {
    const CUdeviceptr va = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ptr));
    Allocation found{0, 0};
    bool mine = false;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      auto it = g_allocations->find(va);
      if (it != g_allocations->end()) {
        found = it->second;
        g_allocations->erase(it);
        mine = true;
      }
    }
    if (mine) {
      const Driver& d = g_driver;
      // cudaFree waits for outstanding work on the memory; unmapping alone would not.
      if (d.cuCtxSynchronize) d.cuCtxSynchronize();
      CUresult r = d.cuMemUnmap(va, found.size);
      CUresult r2 = d.cuMemAddressFree(va, found.size);
      CUresult r3 = d.cuMemRelease(found.handle);
      return toRuntimeError(r != cuabi::kSuccess ? r : r2 != cuabi::kSuccess ? r2 : r3);
    }
  }
  if (!g_next_free) return ptr ? cuabi::kErrorInvalidValue : cuabi::kSuccess;
  return g_next_free(ptr);
}

}  // namespace cuipc_interposer
