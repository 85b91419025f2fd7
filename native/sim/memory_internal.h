// What the simulated device's memory files share beyond memory.h (which ipc.cc reads too):
// the registry's maps, the device-memory budget, and the allocation and copy helpers.
//   memory.cc             the registry, the budget, allocation and release, safe copies
//   memory_runtime.cc     cudaMalloc and friends, cudaMemset, cudaMemcpy
//   memory_attributes.cc  cuPointerGetAttribute, cuMemGetAddressRange
//   memory_vmm.cc         cuMemCreate, reserve, map, access, release
// Only those files include this; every function here requires stateMutex() held unless it
// says otherwise.
#pragma once
#include <cstring>
#include <initializer_list>
#include <map>

#include "memory.h"

namespace cuipcsim {

constexpr size_t kVmmGranularity = 2u << 20;  // H200: 2 MiB minimum and recommended

extern std::map<uintptr_t, Alloc> g_allocs;         // by base
extern std::map<uintptr_t, size_t> g_reservations;  // cuMemAddressReserve: base -> size
extern char g_poolTokens[kMaxDevices];              // addresses used as default pool handles

// Device memory per physical device: reserves `bytes` (false when it would not fit), or gives it back.
bool reserveBudget(int physical, size_t bytes);
void releaseBudget(int physical, size_t bytes);
// Frees a VMM physical allocation once no handle and no mapping uses it.
void destroyPhysicalIfUnusedLocked(uint64_t handle);

// Allocates `size` bytes of `kind` on the current device (locks stateMutex itself).
cudaError_t allocate(void** ptr, size_t size, Kind kind, bool budget);
// Frees an allocation of one of `kinds` (locks stateMutex itself); 1 when p is not the base of one.
cudaError_t release(void* ptr, std::initializer_list<Kind> kinds);

// Copies with the kernel checking both sides (no lock needed): false when an address is not mapped.
bool safeCopy(void* dst, const void* src, size_t bytes);
// Validates one side of a copy: memory the simulator manages must be accessible over the
// whole range; other memory is plain host memory (checked by safeCopy).
int checkCopySide(uintptr_t p, size_t bytes, bool write);

}  // namespace cuipcsim
