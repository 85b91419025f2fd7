// The VMM allocator behind both LD_PRELOAD front ends (see vmm_backing.cc). Hidden symbols:
// only the front ends' cudaMalloc/cudaFree and region calls are exported.
#pragma once
#include <cstddef>

#include "loader/cuda_abi.h"

namespace cuipc_interposer {
// Once per process; `selfMalloc`/`selfFree` are the front end's own exports, so that the
// runtime's definitions, not the front end's, are what allocations outside a region reach.
void Init(void* selfMalloc, void* selfFree);
cudaError_t ForwardMalloc(void** ptr, size_t size);
// The runtime's cudaFree, whatever the pointer (torch_memory_saver 0.0.9 outside its region).
cudaError_t ForwardFree(void* ptr);
// How a front end's allocator behaves where torch_memory_saver releases differ.
struct VmmPolicy {
  // Round the size up to the granularity (cuipc's interposer, torch_memory_saver from mid-2026);
  // false: cuMemCreate gets the size as asked, as in torch_memory_saver 0.0.9 / 0.0.9.post1.
  bool roundToGranularity = true;
  // A driver error ends the process with a message on stderr (torch_memory_saver's
  // CURESULT_CHECK) instead of being returned as a runtime error code.
  bool exitOnDriverError = false;
};
// cuMemCreate + cuMemMap; the shareable handle type is none unless
// CUIPC_INTERPOSER_HANDLE_TYPE=fd asks for POSIX file descriptors.
cudaError_t ServeVmm(void** ptr, size_t size, const VmmPolicy& policy = VmmPolicy{});
// Unmaps what ServeVmm made, forwards every other pointer to the runtime's cudaFree.
cudaError_t Free(void* ptr);
}  // namespace cuipc_interposer
