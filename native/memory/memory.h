#pragma once
#include <napi.h>

#include <cstdint>

#include "common/napi_util.h"
#include "loader/cuda_abi.h"

namespace cuipc {
void RegisterMemory(Napi::Env env, Napi::Object exports);
// VMM mapping of `bytes` (rounded to the granularity) of `handle` on the current device.
Outcome MapVmm(CUmemGenericAllocationHandle handle, size_t bytes, uint64_t* ptr, size_t* mapped);
Outcome UnmapVmm(uint64_t ptr, size_t mapped);
Outcome VmmGranularity(int requestedHandleTypes, size_t* granularity);
}  // namespace cuipc
