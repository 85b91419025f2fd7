// The addon's three kernels, run on the CPU. cuModuleLoadData accepts any image (the
// addon passes its nvcc fatbin); cuModuleGetFunction knows the kernels by name; a launch
// runs at once, or is recorded when its stream is capturing (capture.cc).
#include <cstring>
#include <set>

#include "sim.h"

namespace cuipcsim {
namespace {

enum KernelId { kFill = 0, kChecksum = 1, kAllReduce = 2 };

struct KernelInfo {
  const char* name;
  int argc;
  size_t argBytes[4];
};

// kernelParams[i] points at argument i; these are the argument sizes of each kernel.
constexpr KernelInfo kKernels[] = {
    // cuipc_fill(uint32_t* p, unsigned long long count, uint32_t seed)
    {"cuipc_fill", 3, {8, 8, 4, 0}},
    // cuipc_checksum(const uint32_t* p, unsigned long long count, uint32_t* out)
    {"cuipc_checksum", 3, {8, 8, 8, 0}},
    // cuipc_allreduce(const uint32_t* const* table, int ranks, uint32_t* out, unsigned long long count)
    {"cuipc_allreduce", 4, {8, 4, 8, 8}},
};

struct Module {
  int unused = 0;
};

// A function handle is the address of its row in kKernels.
std::set<Module*> g_modules;

int kernelOf(CUfunction fn) {
  for (int i = 0; i < 3; ++i)
    if (reinterpret_cast<const void*>(fn) == static_cast<const void*>(&kKernels[i])) return i;
  return -1;
}

template <typename T>
T* ptrArg(uint64_t v) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(v));
}

}  // namespace

// Pointers a kernel touches must name simulated device memory (any registered kind that a
// GPU can address); otherwise the launch fails as an illegal address would. not recorded:
// on hardware the fault surfaces at the next synchronisation and poisons the context; the
// simulator reports 700 from the launch (or graph launch) and stays usable.
int runKernelLocked(const KernelLaunch& k) {
  constexpr int kIllegalAddress = 700;
  // Element counts so large that their byte size overflows cannot name real memory.
  uint64_t elements = k.kernel == kAllReduce ? k.args[3] : k.args[1];
  if (elements > (~0ull >> 3)) return kIllegalAddress;
  switch (k.kernel) {
    case kFill: {
      uint32_t* p = ptrArg<uint32_t>(k.args[0]);
      uint64_t count = k.args[1];
      uint32_t seed = static_cast<uint32_t>(k.args[2]);
      if (count == 0) return cuabi::kSuccess;
      if (!deviceAccessibleLocked(reinterpret_cast<uintptr_t>(p), count * 4)) return kIllegalAddress;
      for (uint64_t i = 0; i < count; ++i) p[i] = seed * 2654435761u + static_cast<uint32_t>(i);
      return cuabi::kSuccess;
    }
    case kChecksum: {
      const uint32_t* p = ptrArg<const uint32_t>(k.args[0]);
      uint64_t count = k.args[1];
      uint32_t* out = ptrArg<uint32_t>(k.args[2]);
      if (!deviceAccessibleLocked(reinterpret_cast<uintptr_t>(out), 8)) return kIllegalAddress;
      if (count && !deviceAccessibleLocked(reinterpret_cast<uintptr_t>(p), count * 4)) return kIllegalAddress;
      uint32_t sum = 0, x = 0;
      for (uint64_t i = 0; i < count; ++i) {
        sum += p[i];
        x ^= p[i];
      }
      out[0] = sum;
      out[1] = x;
      return cuabi::kSuccess;
    }
    case kAllReduce: {
      // The table is read now, when the kernel runs (at graph replay): it is filled after
      // capture, as custom all-reduce does.
      const uint32_t* const* table = ptrArg<const uint32_t* const>(k.args[0]);
      int ranks = static_cast<int>(static_cast<uint32_t>(k.args[1]));
      uint32_t* out = ptrArg<uint32_t>(k.args[2]);
      uint64_t count = k.args[3];
      if (ranks < 0) return kIllegalAddress;
      if (count == 0) return cuabi::kSuccess;
      if (!deviceAccessibleLocked(reinterpret_cast<uintptr_t>(out), count * 4)) return kIllegalAddress;
      if (ranks > 0 && !deviceAccessibleLocked(reinterpret_cast<uintptr_t>(table), sizeof(void*) * ranks))
        return kIllegalAddress;
      for (int r = 0; r < ranks; ++r)
        if (!deviceAccessibleLocked(reinterpret_cast<uintptr_t>(table[r]), count * 4)) return kIllegalAddress;
      for (uint64_t i = 0; i < count; ++i) {
        uint32_t s = 0;
        for (int r = 0; r < ranks; ++r) s += table[r][i];
        out[i] = s;
      }
      return cuabi::kSuccess;
    }
    default: return cuabi::kErrorInvalidResourceHandle;
  }
}

namespace impl {

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  if (int e = driverInitCheck()) return e;
  if (!module || !image) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Module* m = new Module;
  g_modules.insert(m);
  *module = reinterpret_cast<CUmodule>(m);
  return cuabi::kSuccess;
}

CUresult cuModuleUnload(CUmodule module) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Module* m = reinterpret_cast<Module*>(module);
  if (!g_modules.erase(m)) return cuabi::kErrorInvalidResourceHandle;
  delete m;
  return cuabi::kSuccess;
}

CUresult cuModuleGetFunction(CUfunction* fn, CUmodule module, const char* name) {
  if (int e = driverInitCheck()) return e;
  if (!fn || !name) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (!g_modules.count(reinterpret_cast<Module*>(module))) return cuabi::kErrorInvalidResourceHandle;
  for (const KernelInfo& k : kKernels) {
    if (std::strcmp(k.name, name) == 0) {
      *fn = reinterpret_cast<CUfunction>(const_cast<KernelInfo*>(&k));
      return cuabi::kSuccess;
    }
  }
  return cuabi::kCuErrorNotFound;
}

// Only kernelParams are supported (the `extra` buffer form is refused as invalid).
CUresult cuLaunchKernel(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedMem, CUstream stream, void** params, void** extra) {
  if (int e = driverInitCheck()) return e;
  int id = kernelOf(fn);
  if (id < 0) return cuabi::kErrorInvalidResourceHandle;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return cuabi::kErrorInvalidValue;
  if (static_cast<unsigned long long>(bx) * by * bz > 1024) return cuabi::kErrorInvalidValue;
  if (sharedMem > 227u * 1024u) return cuabi::kErrorInvalidValue;  // H200: 227 KiB per block
  if (!params || extra) return cuabi::kErrorInvalidValue;
  KernelLaunch k;
  k.kernel = id;
  const KernelInfo& info = kKernels[id];
  for (int i = 0; i < info.argc; ++i) {
    if (!params[i]) return cuabi::kErrorInvalidValue;
    std::memcpy(&k.args[i], params[i], info.argBytes[i]);  // little-endian: widens in place
  }
  std::lock_guard<std::mutex> lock(stateMutex());
  int r = captureLaunchLocked(stream, k);
  if (r >= 0) return r;  // recorded into the capture, or an error
  return runKernelLocked(k);
}

}  // namespace impl
}  // namespace cuipcsim
