// Simulated device memory, what the driver says about a pointer: cuPointerGetAttribute (each
// attribute's answer by allocation kind comes from policy.h) and cuMemGetAddressRange.
#include <cstring>
#include <mutex>

#include "memory_internal.h"

namespace cuipcsim {
namespace {

template <typename T>
void put(void* data, T v) {
  std::memcpy(data, &v, sizeof v);
}

void putBool(void* data, bool v) {
  static_assert(kBoolAttrBytes == 4 || kBoolAttrBytes == 1, "bool attribute width");
  if (kBoolAttrBytes == 4) put<int>(data, v ? 1 : 0);
  else put<unsigned char>(data, v ? 1 : 0);
}

}  // namespace

namespace impl {

CUresult cuPointerGetAttribute(void* data, int attr, CUdeviceptr ptr) {
  if (int e = driverInitCheck()) return e;
  if (!data) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(static_cast<uintptr_t>(ptr));
  // recorded ("-" for null, 0xdeadbeef000, a stack address): not a CUDA pointer.
  // not recorded: which attributes answer for such pointers; the docs say
  // CUDA_ERROR_INVALID_VALUE for a pointer no context allocated, mapped or registered.
  if (!a) return cuabi::kErrorInvalidValue;
  // recorded: a graph allocation whose graph has not run yet answers no attribute.
  if (a->graphPending) return cuabi::kErrorInvalidValue;
  KindPolicy pol = policyFor(a->kind);
  switch (attr) {
    case cuabi::kPtrAttrContext: put(data, contextOfPhysical(a->physical)); return cuabi::kSuccess;
    case cuabi::kPtrAttrMemoryType: put<unsigned>(data, pol.memoryType); return cuabi::kSuccess;
    case 3:  // DEVICE_POINTER: the same address (unified addressing)
      put<CUdeviceptr>(data, ptr);
      return cuabi::kSuccess;
    case 4:  // HOST_POINTER: only memory the host can address
      if (a->kind != Kind::Host && a->kind != Kind::Managed) return cuabi::kErrorInvalidValue;
      put<void*>(data, reinterpret_cast<void*>(ptr));
      return cuabi::kSuccess;
    case 7: put<unsigned long long>(data, a->bufferId); return cuabi::kSuccess;  // BUFFER_ID
    case cuabi::kPtrAttrIsManaged: putBool(data, pol.isManaged != 0); return cuabi::kSuccess;
    case cuabi::kPtrAttrDeviceOrdinal: {
      // Ordinals are per process: the physical device translated to this process's view.
      // not recorded: host memory reports the device current when it was allocated (the
      // docs: "the device against which the memory was allocated or registered").
      // not recorded: imported memory of a device this process cannot see; reported as
      // the current device, whose context the mapping lives in.
      int v = physicalToVisible(a->physical);
      put<int>(data, v >= 0 ? v : currentVisibleDevice());
      return cuabi::kSuccess;
    }
    case cuabi::kPtrAttrIsLegacyIpcCapable: putBool(data, pol.legacyIpcCapable != 0); return cuabi::kSuccess;
    case cuabi::kPtrAttrRangeStartAddr:
      // The docs: the mappable address range (for VMM, the cuMemAddressReserve range).
      // recorded: a VMM allocation reserved and mapped at one size reports it like cudaMalloc.
      put<CUdeviceptr>(data, a->kind == Kind::Vmm ? a->reservationBase : a->base);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrRangeSize:
      // not recorded: whether the real size is rounded; the simulator reports the size
      // asked for.
      put<size_t>(data, a->kind == Kind::Vmm ? a->reservationSize : a->size);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrMapped: putBool(data, true); return cuabi::kSuccess;
    case cuabi::kPtrAttrAllowedHandleTypes:
      // recorded: 0x1 only for VMM memory created with the POSIX fd type; else 0.
      if (kHandleTypesAttrBytes == 8)
        put<unsigned long long>(data, a->kind == Kind::Vmm ? static_cast<unsigned>(a->handleTypes) : 0u);
      else
        put<unsigned>(data, a->kind == Kind::Vmm ? static_cast<unsigned>(a->handleTypes) : 0u);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrMempoolHandle:
      put<void*>(data, a->kind == Kind::Pool ? static_cast<void*>(&g_poolTokens[a->physical]) : nullptr);
      return cuabi::kSuccess;
    default: return cuabi::kErrorInvalidValue;
  }
}

// not recorded: an address the driver does not know. The docs list CUDA_ERROR_NOT_FOUND.
// For VMM memory this is the mapping (the docs point here for "the mapped region").
CUresult cuMemGetAddressRange(CUdeviceptr* base, size_t* size, CUdeviceptr ptr) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(static_cast<uintptr_t>(ptr));
  if (!a) return cuabi::kCuErrorNotFound;
  if (base) *base = a->base;
  if (size) *size = a->size;
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
