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
// cuMemCreate + cuMemMap; the shareable handle type is none unless
// CUIPC_INTERPOSER_HANDLE_TYPE=fd asks for POSIX file descriptors.
cudaError_t ServeVmm(void** ptr, size_t size);
// Unmaps what ServeVmm made, forwards every other pointer to the runtime's cudaFree.
cudaError_t Free(void* ptr);
}  // namespace cuipc_interposer
