// Every entry point the simulated device exports, numbered, for fault injection.
#pragma once
#include "loader/cuda_table.h"

namespace cuipcsim {

enum EntryId : int {
#define CUIPC_SIM_ENTRY_ID(name, params, args) kEntry_##name,
  CUIPC_RUNTIME_TABLE(CUIPC_SIM_ENTRY_ID)
  CUIPC_ALLOCATION_TABLE(CUIPC_SIM_ENTRY_ID)
  CUIPC_DRIVER_TABLE(CUIPC_SIM_ENTRY_ID)
#undef CUIPC_SIM_ENTRY_ID
  kEntry_cudaGetErrorName,
  kEntry_cudaGetErrorString,
  kEntry_cuGetProcAddress_v2,
  kEntry_cuipcSimDescribe,
  kEntryCount
};

// Entry points that return a pointer, not an error code: a fault rule can only hang or
// kill them.
constexpr bool entryReturnsCode(int id) {
  return id != kEntry_cudaGetErrorName && id != kEntry_cudaGetErrorString && id != kEntry_cuipcSimDescribe;
}

// The name of entry point `id` ("cudaMalloc"), or nullptr.
const char* entryName(int id);

}  // namespace cuipcsim
