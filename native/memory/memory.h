#pragma once
#include <napi.h>

#include <cstdint>

#include "common/napi_util.h"
#include "loader/cuda_abi.h"
#include "loader/status.h"

namespace cuipc {

// The slots of pointerAttributesInto, in order: the one home of this order. Slot i answers
// the PointerAttributes field `name` (binding.d.ts); the last slot is no attribute but
// whether cuMemRetainAllocationHandle succeeds. The addon exports the names to TypeScript
// (binding.constants.pointerAttributeSlots), which reads values[i] and codes[i] by them.
struct PointerAttributeSlot {
  const char* name;
  int attribute;  // CUpointer_attribute, or -1 for the retain slot
};
inline constexpr PointerAttributeSlot kPointerAttributeSlots[] = {
    {"memoryType", cuabi::kPtrAttrMemoryType},
    {"deviceOrdinal", cuabi::kPtrAttrDeviceOrdinal},
    {"isManaged", cuabi::kPtrAttrIsManaged},
    {"rangeStart", cuabi::kPtrAttrRangeStartAddr},
    {"rangeSize", cuabi::kPtrAttrRangeSize},
    {"mapped", cuabi::kPtrAttrMapped},
    {"isLegacyIpcCapable", cuabi::kPtrAttrIsLegacyIpcCapable},
    {"allowedHandleTypes", cuabi::kPtrAttrAllowedHandleTypes},
    {"mempool", cuabi::kPtrAttrMempoolHandle},
    {"retainAllocationHandle", -1},
};
inline constexpr size_t kPointerAttributeSlotCount = sizeof(kPointerAttributeSlots) / sizeof(kPointerAttributeSlots[0]);

void RegisterMemory(Napi::Env env, Napi::Object exports);
// VMM mapping of `bytes` (rounded to the granularity) of `handle` on the current device.
Outcome MapVmm(CUmemGenericAllocationHandle handle, size_t bytes, uint64_t* ptr, size_t* mapped);
Outcome UnmapVmm(uint64_t ptr, size_t mapped);
Outcome VmmGranularity(int requestedHandleTypes, size_t* granularity);
}  // namespace cuipc
