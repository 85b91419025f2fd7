// Simulated device memory, the VMM calls: cuMemCreate (a memfd per physical allocation, which
// is what cuMemExportToShareableHandle hands out), cuMemAddressReserve (a PROT_NONE
// reservation), cuMemMap, cuMemSetAccess, cuMemUnmap, cuMemRelease, cuMemRetainAllocationHandle.
#include <sys/mman.h>

#include <mutex>
#include <vector>

#include "memory_internal.h"

namespace cuipcsim {
namespace {

int validateProp(const CUmemAllocationProp* prop, int* physical) {
  if (!prop) return cuabi::kErrorInvalidValue;
  if (prop->type != cuabi::kMemAllocationTypePinned) return cuabi::kErrorInvalidValue;
  if (prop->location.type != cuabi::kMemLocationTypeDevice) return cuabi::kErrorInvalidValue;
  if (prop->requestedHandleTypes & ~0xF) return cuabi::kErrorInvalidValue;
  *physical = visibleToPhysical(prop->location.id);
  if (*physical < 0) return cuabi::kErrorInvalidDevice;
  return cuabi::kSuccess;
}

bool granular(uint64_t v) { return v % kVmmGranularity == 0; }

// The reservation containing [p, p+size), or g_reservations.end().
std::map<uintptr_t, size_t>::iterator reservationOf(uintptr_t p, size_t size) {
  auto r = g_reservations.upper_bound(p);
  if (r == g_reservations.begin()) return g_reservations.end();
  --r;
  if (p + size > r->first + r->second || p + size < p) return g_reservations.end();
  return r;
}

// The VMM mappings that exactly tile [p, p+size), in order; empty when they do not.
std::vector<uintptr_t> mappingsTiling(uintptr_t p, size_t size) {
  std::vector<uintptr_t> out;
  uintptr_t at = p, end = p + size;
  while (at < end) {
    auto it = g_allocs.find(at);
    if (it == g_allocs.end() || it->second.kind != Kind::Vmm) return {};
    out.push_back(at);
    at += it->second.size;
  }
  return at == end ? out : std::vector<uintptr_t>{};
}

void unmapMappingLocked(uintptr_t base) {
  auto it = g_allocs.find(base);
  if (it == g_allocs.end()) return;
  Alloc a = it->second;
  g_allocs.erase(it);
  // Back to an inaccessible part of the reservation.
  mmap(reinterpret_cast<void*>(a.base), a.size, PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (Physical* ph = findPhysicalLocked(a.vmmHandle)) {
    ph->mappings--;
    destroyPhysicalIfUnusedLocked(a.vmmHandle);
  }
}

}  // namespace

namespace impl {

// not recorded: whether the VMM calls are capture-unsafe. The docs do not list them; the
// simulator lets them run during capture (allocators such as torch_memory_saver call them
// from inside a capture).

CUresult cuMemGetAllocationGranularity(size_t* granularity, const CUmemAllocationProp* prop, int option) {
  if (int e = driverInitCheck()) return e;
  if (!granularity || (option != 0 && option != 1)) return cuabi::kErrorInvalidValue;
  int phys;
  if (int e = validateProp(prop, &phys)) return e;
  *granularity = kVmmGranularity;
  return cuabi::kSuccess;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop,
                     unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (!handle || flags != 0) return cuabi::kErrorInvalidValue;
  int phys;
  if (int e = validateProp(prop, &phys)) return e;
  if (size == 0 || !granular(size)) return cuabi::kErrorInvalidValue;
  // not recorded: Win32 handle types on Linux and the fabric type without IMEX; the docs
  // say CUDA_ERROR_NOT_SUPPORTED.
  if (prop->requestedHandleTypes & ~cuabi::kMemHandleTypePosixFd) return cuabi::kErrorNotSupported;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (!reserveBudget(phys, size)) return cuabi::kErrorMemoryAllocation;
  char name[64];
  vmmMemfdName(name, sizeof name, phys, prop->requestedHandleTypes);
  int fd = createMemfd(name, size);
  if (fd < 0) {
    releaseBudget(phys, size);
    return cuabi::kErrorMemoryAllocation;
  }
  *handle = addPhysicalLocked(fd, size, phys, prop->requestedHandleTypes, false);
  return cuabi::kSuccess;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Physical* ph = findPhysicalLocked(handle);
  if (!ph || ph->refs <= 0) return cuabi::kErrorInvalidValue;
  ph->refs--;
  destroyPhysicalIfUnusedLocked(handle);  // the memory lives on while a mapping uses it
  return cuabi::kSuccess;
}

CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (!ptr || flags != 0 || size == 0 || !granular(size)) return cuabi::kErrorInvalidValue;
  if (alignment == 0) alignment = kVmmGranularity;
  if ((alignment & (alignment - 1)) != 0 || !granular(alignment)) return cuabi::kErrorInvalidValue;
  // A PROT_NONE reservation: nothing is readable until cuMemMap + cuMemSetAccess.
  size_t span = size + alignment;
  void* raw = mmap(reinterpret_cast<void*>(addr), span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return cuabi::kErrorMemoryAllocation;
  uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (r + alignment - 1) & ~(static_cast<uintptr_t>(alignment) - 1);
  if (aligned > r) munmap(raw, aligned - r);
  uintptr_t tail = aligned + size, rawEnd = r + span;
  if (rawEnd > tail) munmap(reinterpret_cast<void*>(tail), rawEnd - tail);
  std::lock_guard<std::mutex> lock(stateMutex());
  g_reservations[aligned] = size;
  *ptr = aligned;
  return cuabi::kSuccess;
}

// not recorded: freeing a reservation that still has mappings; the simulator unmaps them.
CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  auto r = g_reservations.find(static_cast<uintptr_t>(ptr));
  if (r == g_reservations.end() || r->second != size) return cuabi::kErrorInvalidValue;
  std::vector<uintptr_t> inside;
  for (auto it = g_allocs.lower_bound(ptr); it != g_allocs.end() && it->first < ptr + size; ++it)
    if (it->second.kind == Kind::Vmm) inside.push_back(it->first);
  for (uintptr_t b : inside) unmapMappingLocked(b);
  munmap(reinterpret_cast<void*>(ptr), size);
  g_reservations.erase(r);
  return cuabi::kSuccess;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (flags != 0 || size == 0 || !granular(ptr) || !granular(size) || !granular(offset))
    return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Physical* ph = findPhysicalLocked(handle);
  if (!ph || ph->refs <= 0 || offset + size > ph->size) return cuabi::kErrorInvalidValue;
  auto r = reservationOf(ptr, size);
  if (r == g_reservations.end()) return cuabi::kErrorInvalidValue;
  // Mapping over an existing mapping is an error.
  auto next = g_allocs.lower_bound(ptr);
  if (findAllocLocked(ptr) || (next != g_allocs.end() && next->first < ptr + size))
    return cuabi::kErrorInvalidValue;
  void* p = mmap(reinterpret_cast<void*>(ptr), size, PROT_NONE, MAP_SHARED | MAP_FIXED, ph->fd,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return cuabi::kErrorMemoryAllocation;
  Alloc a;
  a.base = ptr;
  a.size = size;
  a.mappedBytes = size;
  a.kind = Kind::Vmm;
  a.physical = ph->physical;
  a.vmmHandle = handle;
  a.vmmOffset = offset;
  a.reservationBase = r->first;
  a.reservationSize = r->second;
  a.handleTypes = ph->handleTypes;
  a.bufferId = nextBufferIdLocked();
  addAllocLocked(a);
  ph->mappings++;
  return cuabi::kSuccess;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  std::vector<uintptr_t> maps = mappingsTiling(ptr, size);
  if (maps.empty()) return cuabi::kErrorInvalidValue;
  for (uintptr_t b : maps) unmapMappingLocked(b);
  return cuabi::kSuccess;
}

// One address space serves every simulated device, so access is the widest of the
// descriptors (not modelled: different access for different devices).
CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count) {
  if (int e = driverInitCheck()) return e;
  if (!desc || count == 0 || size == 0) return cuabi::kErrorInvalidValue;
  int access = 0;
  for (size_t i = 0; i < count; ++i) {
    if (desc[i].location.type != cuabi::kMemLocationTypeDevice) return cuabi::kErrorInvalidValue;
    if (visibleToPhysical(desc[i].location.id) < 0) return cuabi::kErrorInvalidDevice;
    int f = desc[i].flags;
    if (f != 0 && f != 1 && f != cuabi::kMemAccessReadWrite) return cuabi::kErrorInvalidValue;
    if (f > access) access = f;
  }
  std::lock_guard<std::mutex> lock(stateMutex());
  // Every byte of the range must be mapped.
  std::vector<Alloc*> covered;
  for (uintptr_t at = ptr; at < ptr + size;) {
    Alloc* a = findAllocLocked(at);
    if (!a || a->kind != Kind::Vmm) return cuabi::kErrorInvalidValue;
    covered.push_back(a);
    at = a->base + a->size;
  }
  int prot = access == 0 ? PROT_NONE : access == 1 ? PROT_READ : PROT_READ | PROT_WRITE;
  if (mprotect(reinterpret_cast<void*>(ptr), size, prot) != 0) return cuabi::kErrorInvalidValue;
  for (Alloc* a : covered) a->access = access;
  return cuabi::kSuccess;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle* handle, void* addr) {
  if (int e = driverInitCheck()) return e;
  if (!handle) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(reinterpret_cast<uintptr_t>(addr));
  if (!a || a->kind != Kind::Vmm) return kRetainOnNonVmm;  // recorded: VMM memory only
  Physical* ph = findPhysicalLocked(a->vmmHandle);
  if (!ph) return cuabi::kErrorInvalidValue;
  ph->refs++;
  *handle = a->vmmHandle;
  return cuabi::kSuccess;
}


}  // namespace impl
}  // namespace cuipcsim
