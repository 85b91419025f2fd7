// Allocation by kind, pointer attributes and copies. Allocations made here are remembered
// (kind, size, VMM handle) so free() needs only the pointer.
#include "memory/memory.h"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <string>

#include "loader/loader.h"

namespace cuipc {
namespace {

constexpr int64_t kMaxCopyToHostBytes = int64_t{1} << 32;

const std::vector<const char*> kKinds = {"device", "pool", "managed", "host", "vmm", "vmm-fd", "device-direct"};
enum Kind { kDevice, kPool, kManaged, kHost, kVmm, kVmmFd, kDeviceDirect };

// cudaMalloc / cudaFree from the runtime's own handle (loader.h says why).
Outcome RuntimeDirect(bool alloc, void** p, size_t bytes) {
  const Loader& l = GetLoader();
  auto fn = alloc ? reinterpret_cast<void*>(l.fn.runtimeMalloc) : reinterpret_cast<void*>(l.fn.runtimeFree);
  const char* name = alloc ? "cudaMalloc" : "cudaFree";
  if (!fn) return Outcome{l.MissingCode(Api::Runtime), name, Api::Runtime};
  int code = alloc ? l.fn.runtimeMalloc(p, bytes) : l.fn.runtimeFree(*p);
  return Outcome{code, name, Api::Runtime};
}

struct Allocation {
  Kind kind;
  size_t bytes;
  size_t mapped;
  int device;
  CUmemGenericAllocationHandle vmm;
};

std::mutex g_mutex;
std::map<uint64_t, Allocation> g_allocations;

int Device() {
  int d = 0;
  if (CUIPC_RT(cudaGetDevice, &d).code != 0) d = CurrentDevice() < 0 ? 0 : CurrentDevice();
  return d;
}

CUmemAllocationProp VmmProp(int requestedHandleTypes, int device) {
  CUmemAllocationProp prop{};
  prop.type = cuabi::kMemAllocationTypePinned;
  prop.requestedHandleTypes = requestedHandleTypes;
  prop.location.type = cuabi::kMemLocationTypeDevice;
  prop.location.id = device;
  return prop;
}

Napi::Value Malloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgs(info, 2, "malloc(kind, bytes[, stream])");
  Kind kind = static_cast<Kind>(ArgChoice(info, 0, "kind", kKinds));
  size_t bytes = ArgBytes(info, 1, "bytes");
  if (bytes == 0) throw Napi::RangeError::New(env, "bytes must be a positive integer, got 0");
  // A stream (pool only): cudaMallocAsync on it, not waited for; on a capturing stream the
  // allocation becomes a node of the graph, as PyTorch's cudaMallocAsync backend makes tensors.
  const bool onStream = info.Length() > 2 && !info[2].IsUndefined();
  if (onStream && kind != kPool) throw Napi::TypeError::New(env, "malloc: a stream is taken for kind 'pool' only");
  const uint64_t stream = onStream ? ArgPtr(info, 2, "stream") : 0;
  void* p = nullptr;
  Allocation a{kind, bytes, bytes, Device(), 0};
  Outcome o;
  switch (kind) {
    case kDevice: o = CUIPC_RT(cudaMalloc, &p, bytes); break;
    case kDeviceDirect: o = RuntimeDirect(true, &p, bytes); break;
    case kPool:
      o = CUIPC_RT(cudaMallocAsync, &p, bytes, reinterpret_cast<cudaStream_t>(stream));
      if (o.code == 0 && !onStream) {
        Outcome s = CUIPC_RT(cudaStreamSynchronize, nullptr);
        if (s.code != 0) o = s;
      }
      break;
    case kManaged: o = CUIPC_RT(cudaMallocManaged, &p, bytes, 1u /* cudaMemAttachGlobal */); break;
    case kHost: o = CUIPC_RT(cudaHostAlloc, &p, bytes, cuabi::kHostAllocMapped); break;
    case kVmm:
    case kVmmFd: {
      int types = kind == kVmmFd ? cuabi::kMemHandleTypePosixFd : cuabi::kMemHandleTypeNone;
      size_t gran = 0;
      if ((o = VmmGranularity(types, &gran)).code != 0) break;
      size_t size = (bytes + gran - 1) / gran * gran;
      CUmemAllocationProp prop = VmmProp(types, a.device);
      if ((o = CUIPC_DRV(cuMemCreate, &a.vmm, size, &prop, 0)).code != 0) break;
      uint64_t ptr = 0;
      o = MapVmm(a.vmm, size, &ptr, &a.mapped);
      if (o.code != 0) {
        CUIPC_DRV(cuMemRelease, a.vmm);
        break;
      }
      p = reinterpret_cast<void*>(ptr);
      break;
    }
  }
  if (o.code != 0) return MakeStatus(env, o);
  uint64_t ptr = reinterpret_cast<uint64_t>(p);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_allocations[ptr] = a;
  }
  Napi::Object v = Napi::Object::New(env);
  v.Set("ptr", PtrValue(env, ptr));
  v.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  v.Set("mappedBytes", Napi::Number::New(env, static_cast<double>(a.mapped)));
  v.Set("kind", kKinds[kind]);
  v.Set("device", a.device);
  return MakeResult(env, o, v);
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  Allocation a;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_allocations.find(ptr);
    if (it == g_allocations.end()) throw Napi::RangeError::New(env, "free: ptr was not allocated by cuipc malloc (imported pointers are closed with ipcCloseMemHandle)");
    a = it->second;
    g_allocations.erase(it);
  }
  void* p = reinterpret_cast<void*>(ptr);
  Outcome o;
  switch (a.kind) {
    case kDevice: o = CUIPC_RT(cudaFree, p); break;
    case kDeviceDirect: o = RuntimeDirect(false, &p, 0); break;
    case kPool:
      o = CUIPC_RT(cudaFreeAsync, p, nullptr);
      if (o.code == 0) o = CUIPC_RT(cudaStreamSynchronize, nullptr);
      break;
    case kManaged: o = CUIPC_RT(cudaFree, p); break;
    case kHost: o = CUIPC_RT(cudaFreeHost, p); break;
    case kVmm:
    case kVmmFd:
      o = UnmapVmm(ptr, a.mapped);
      {
        Outcome r = CUIPC_DRV(cuMemRelease, a.vmm);
        if (o.code == 0) o = r;
      }
      break;
  }
  return MakeStatus(env, o);
}

// values[i] / codes[i] for each attribute slot (kPointerAttributeSlots), then the last slot:
// whether cuMemRetainAllocationHandle succeeds (VMM memory only). Returns 0, or the code of a
// missing driver.
Napi::Value PointerAttributesInto(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "pointerAttributesInto(ptr, values, codes)");
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  auto* values = ArgTyped<uint64_t>(info, 1, "values (a BigUint64Array of 10)", napi_biguint64_array, kPointerAttributeSlotCount);
  auto* codes = ArgTyped<int32_t>(info, 2, "codes (an Int32Array of 10)", napi_int32_array, kPointerAttributeSlotCount);
  const Loader& l = GetLoader();
  if (!l.fn.cuPointerGetAttribute) return Napi::Number::New(info.Env(), l.MissingCode(Api::Driver));
  constexpr size_t kRetainSlot = kPointerAttributeSlotCount - 1;
  for (size_t i = 0; i < kRetainSlot; i++) {
    const int attribute = kPointerAttributeSlots[i].attribute;
    // Every attribute fits in 8 zeroed bytes; the narrower ones (int, unsigned) land in the low bytes.
    uint64_t v = 0;
    codes[i] = l.fn.cuPointerGetAttribute(&v, attribute, ptr);
    if (attribute == cuabi::kPtrAttrDeviceOrdinal) v = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)));
    values[i] = v;
  }
  CUmemGenericAllocationHandle h = 0;
  int c = l.fn.cuMemRetainAllocationHandle ? l.fn.cuMemRetainAllocationHandle(&h, reinterpret_cast<void*>(ptr)) : l.MissingCode(Api::Driver);
  if (c == 0 && l.fn.cuMemRelease) l.fn.cuMemRelease(h);  // retain took a reference
  codes[kRetainSlot] = c;
  values[kRetainSlot] = c == 0;
  return Napi::Number::New(info.Env(), 0);
}

// RANGE_START_ADDR of each pointer into bases[i], codes[i]; returns how many failed.
Napi::Value RangeStartPacked(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "rangeStartPacked(ptrs, bases, codes)");
  PtrList ptrs = ArgPtrs(info, 0, "ptrs");
  auto* bases = ArgTyped<uint64_t>(info, 1, "bases (a BigUint64Array, one per pointer)", napi_biguint64_array, ptrs.size);
  auto* codes = ArgTyped<int32_t>(info, 2, "codes (an Int32Array, one per pointer)", napi_int32_array, ptrs.size);
  const Loader& l = GetLoader();
  int missing = l.MissingCode(Api::Driver);
  uint32_t failed = 0;
  for (size_t i = 0; i < ptrs.size; i++) {
    CUdeviceptr base = 0;
    codes[i] = l.fn.cuPointerGetAttribute ? l.fn.cuPointerGetAttribute(&base, cuabi::kPtrAttrRangeStartAddr, ptrs.data[i]) : missing;
    bases[i] = base;
    failed += codes[i] != 0;
  }
  return Napi::Number::New(info.Env(), failed);
}

Napi::Value Memset(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "memset(ptr, byte, bytes)");
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  int byte = static_cast<int>(ArgInt(info, 1, "byte", 0, 255));
  size_t bytes = ArgBytes(info, 2, "bytes");
  return MakeStatus(info.Env(), CUIPC_RT(cudaMemset, reinterpret_cast<void*>(ptr), byte, bytes));
}

Napi::Value Memcpy(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "memcpy(dst, src, bytes)");
  uint64_t dst = ArgPtr(info, 0, "dst");
  uint64_t src = ArgPtr(info, 1, "src");
  size_t bytes = ArgBytes(info, 2, "bytes");
  return MakeStatus(info.Env(), CUIPC_RT(cudaMemcpy, reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, cuabi::kMemcpyDefault));
}

Napi::Value CopyToHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgs(info, 2, "copyToHost(src, bytes)");
  uint64_t src = ArgPtr(info, 0, "src");
  // One Buffer of at most 4 GiB (Node 20's Buffer limit; a fixed limit on every Node version).
  size_t bytes = static_cast<size_t>(ArgInt(info, 1, "copyToHost bytes (at most 4 GiB, 4294967296, per copy)", 0, kMaxCopyToHostBytes));
  // The host buffer is allocated only once the copy can succeed: a size past the end of the
  // allocation is refused here instead of allocating gigabytes for CUDA to refuse.
  const Loader& l = GetLoader();
  if (l.fn.cuPointerGetAttribute && bytes > 0) {
    CUdeviceptr base = 0;
    size_t size = 0;
    if (l.fn.cuPointerGetAttribute(&base, cuabi::kPtrAttrRangeStartAddr, src) == 0 &&
        l.fn.cuPointerGetAttribute(&size, cuabi::kPtrAttrRangeSize, src) == 0 && size > 0) {
      uint64_t left = base + size > src ? base + size - src : 0;
      if (bytes > left) {
        throw Napi::RangeError::New(env, "copyToHost: bytes " + std::to_string(bytes) + " runs past the end of the allocation at src (" +
                                             std::to_string(left) + " byte(s) left of " + std::to_string(size) + ")");
      }
    }
  }
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, bytes);
  Outcome o = CUIPC_RT(cudaMemcpy, buf.Data(), reinterpret_cast<const void*>(src), bytes, cuabi::kMemcpyDefault);
  return MakeResult(env, o, buf);
}

// Into a Buffer the caller owns and reuses: a probe's verify reads a rank's outputs a block at
// a time, and a fresh Buffer per block stayed resident until V8 collected it (external memory
// is collected late), so the rank's peak RSS grew with the inputs anyway.
Napi::Value CopyToHostInto(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "copyToHostInto(src, target)");
  uint64_t src = ArgPtr(info, 0, "src");
  Napi::Uint8Array target = ArgBytesView(info, 1, "target");
  return MakeStatus(info.Env(), CUIPC_RT(cudaMemcpy, target.Data(), reinterpret_cast<const void*>(src), target.ByteLength(), cuabi::kMemcpyDefault));
}

Napi::Value CopyFromHost(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "copyFromHost(dst, data)");
  uint64_t dst = ArgPtr(info, 0, "dst");
  Napi::Uint8Array data = ArgBytesView(info, 1, "data");
  return MakeStatus(info.Env(), CUIPC_RT(cudaMemcpy, reinterpret_cast<void*>(dst), data.Data(), data.ByteLength(), cuabi::kMemcpyDefault));
}

// Allocator hooks with a region, found by their public C ABI in the global scope (where an
// LD_PRELOAD library is). Servers allocate CUDA-graph inputs inside the region of the hook
// that is loaded (SGLang under SGLANG_MEMORY_SAVER_CUDA_GRAPH enters torch_memory_saver's), so
// the probe does too. One row per ABI; the TypeScript side names them by `abi`.
struct RegionHook {
  const char* abi;
  const char* set;
  const char* get;
  bool boolAbi;  // torch_memory_saver: void(bool) / bool(); cuipc's interposer: void(int) / int()
};
const RegionHook kRegionHooks[] = {
    {"torch_memory_saver", "tms_set_interesting_region", "tms_get_interesting_region", true},
    {"cuipc-interposer", "cuipc_interposer_set_region", "cuipc_interposer_in_region", false},
};

struct FoundHook {
  void* set = nullptr;
  void* get = nullptr;
};

FoundHook Find(const RegionHook& hook) {
  return FoundHook{dlsym(RTLD_DEFAULT, hook.set), dlsym(RTLD_DEFAULT, hook.get)};
}

// On the calling thread: torch_memory_saver's region is thread-local.
bool Inside(const RegionHook& hook, const FoundHook& found) {
  if (!found.get) return false;
  if (hook.boolAbi) return reinterpret_cast<bool (*)()>(found.get)();
  return reinterpret_cast<int (*)()>(found.get)() != 0;
}

Napi::Value AllocatorHooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array hooks = Napi::Array::New(env);
  uint32_t n = 0;
  for (const RegionHook& hook : kRegionHooks) {
    FoundHook found = Find(hook);
    if (!found.set) continue;
    Napi::Object h = Napi::Object::New(env);
    h.Set("abi", hook.abi);
    Dl_info where;
    h.Set("library", dladdr(found.set, &where) && where.dli_fname ? Napi::Value(Napi::String::New(env, where.dli_fname)) : env.Null());
    h.Set("inside", Inside(hook, found));
    h.Set("symbol", hook.set);
    hooks.Set(n++, h);
  }
  return hooks;
}

// Sets the region of one hook on the calling thread; returns whether it was inside before,
// or null when no loaded library has that ABI.
Napi::Value SetAllocatorRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgs(info, 2, "setAllocatorRegion(abi, inside)");
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "abi must be a string: 'torch_memory_saver' or 'cuipc-interposer'");
  const std::string abi = info[0].As<Napi::String>().Utf8Value();
  bool inside = ArgBool(info, 1, "inside");
  for (const RegionHook& hook : kRegionHooks) {
    if (abi != hook.abi) continue;
    FoundHook found = Find(hook);
    if (!found.set) return env.Null();
    bool before = Inside(hook, found);
    if (hook.boolAbi) reinterpret_cast<void (*)(bool)>(found.set)(inside);
    else reinterpret_cast<void (*)(int)>(found.set)(inside ? 1 : 0);
    return Napi::Boolean::New(env, before);
  }
  throw Napi::TypeError::New(env, "abi must be 'torch_memory_saver' or 'cuipc-interposer', got '" + abi + "'");
}

}  // namespace

Outcome VmmGranularity(int requestedHandleTypes, size_t* granularity) {
  CUmemAllocationProp prop = VmmProp(requestedHandleTypes, Device());
  return CUIPC_DRV(cuMemGetAllocationGranularity, granularity, &prop, cuabi::kMemAllocGranularityMinimum);
}

Outcome MapVmm(CUmemGenericAllocationHandle handle, size_t bytes, uint64_t* ptr, size_t* mapped) {
  size_t gran = 0;
  Outcome o = VmmGranularity(cuabi::kMemHandleTypeNone, &gran);
  if (o.code != 0) return o;
  size_t size = (bytes + gran - 1) / gran * gran;
  CUdeviceptr va = 0;
  if ((o = CUIPC_DRV(cuMemAddressReserve, &va, size, 0, 0, 0)).code != 0) return o;
  if ((o = CUIPC_DRV(cuMemMap, va, size, 0, handle, 0)).code != 0) {
    CUIPC_DRV(cuMemAddressFree, va, size);
    return o;
  }
  CUmemAccessDesc access{};
  access.location.type = cuabi::kMemLocationTypeDevice;
  access.location.id = Device();
  access.flags = cuabi::kMemAccessReadWrite;
  if ((o = CUIPC_DRV(cuMemSetAccess, va, size, &access, 1)).code != 0) {
    CUIPC_DRV(cuMemUnmap, va, size);
    CUIPC_DRV(cuMemAddressFree, va, size);
    return o;
  }
  *ptr = va;
  *mapped = size;
  return o;
}

Outcome UnmapVmm(uint64_t ptr, size_t mapped) {
  Outcome o = CUIPC_DRV(cuMemUnmap, ptr, mapped);
  Outcome f = CUIPC_DRV(cuMemAddressFree, ptr, mapped);
  return o.code != 0 ? o : f;
}

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "malloc", Malloc);
  Export(env, exports, "free", Free);
  Export(env, exports, "pointerAttributesInto", PointerAttributesInto);
  Export(env, exports, "rangeStartPacked", RangeStartPacked);
  Export(env, exports, "memset", Memset);
  Export(env, exports, "memcpy", Memcpy);
  Export(env, exports, "copyToHost", CopyToHost);
  Export(env, exports, "copyToHostInto", CopyToHostInto);
  Export(env, exports, "copyFromHost", CopyFromHost);
  Export(env, exports, "allocatorHooks", AllocatorHooks);
  Export(env, exports, "setAllocatorRegion", SetAllocatorRegion);
}

}  // namespace cuipc
