// Loads the CUDA driver and runtime (or the simulated device) at run time and holds the
// table of resolved entry points. Nothing in the addon links against CUDA.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "common/napi_util.h"
#include "loader/cuda_table.h"
#include "loader/status.h"

namespace cuipc {

struct Functions {
#define CUIPC_RT_FIELD(name, params, args) cudaError_t(*name) params = nullptr;
  CUIPC_RUNTIME_TABLE(CUIPC_RT_FIELD)
  CUIPC_ALLOCATION_TABLE(CUIPC_RT_FIELD)
#undef CUIPC_RT_FIELD
#define CUIPC_DRV_FIELD(name, params, args) CUresult(*name) params = nullptr;
  CUIPC_DRIVER_TABLE(CUIPC_DRV_FIELD)
#undef CUIPC_DRV_FIELD
  cuipc_cudaGetErrorName_t cudaGetErrorName = nullptr;
  cuipc_cudaGetErrorString_t cudaGetErrorString = nullptr;
  // cudaMalloc / cudaFree from the runtime library's own handle, never the global scope: what
  // ctypes.CDLL(libcudart).cudaMalloc calls (SGLang's CudaRTLibrary), so a preloaded hook
  // does not see them.
  cudaError_t (*runtimeMalloc)(void** ptr, size_t size) = nullptr;
  cudaError_t (*runtimeFree)(void* ptr) = nullptr;
};

struct Attempt {
  std::string candidate, source, error;
};

struct Library {
  void* handle = nullptr;
  std::string path, source;
  int version = 0;
};

struct SymbolOrigin {
  std::string symbol, path;
  bool interposed = false;
};

struct Loader {
  bool loaded = false;
  std::string backend;
  Library driver, runtime;
  std::vector<Attempt> driverAttempts, runtimeAttempts;
  std::vector<std::string> missingSymbols;
  std::vector<SymbolOrigin> allocation;
  int driverInitCode = -1;
  Functions fn;

  // The code a call answers with when its library or symbol is absent.
  int MissingCode(Api api) const;
  std::string MissingLibraryNote(Api api) const;
};

const Loader& GetLoader();
int CurrentDevice();
void SetCurrentDevice(int device);

Napi::Value LoaderReportValue(Napi::Env env);
void RegisterLoader(Napi::Env env, Napi::Object exports);

}  // namespace cuipc

// Call a resolved entry point; an absent one answers with the loader's "missing" code.
#define CUIPC_RT(name, ...)                                                                         \
  ::cuipc::Outcome {                                                                                \
    (::cuipc::GetLoader().fn.name ? ::cuipc::GetLoader().fn.name(__VA_ARGS__)                       \
                                  : ::cuipc::GetLoader().MissingCode(::cuipc::Api::Runtime)),       \
        #name, ::cuipc::Api::Runtime                                                                \
  }
#define CUIPC_DRV(name, ...)                                                                        \
  ::cuipc::Outcome {                                                                                \
    (::cuipc::GetLoader().fn.name ? ::cuipc::GetLoader().fn.name(__VA_ARGS__)                       \
                                  : ::cuipc::GetLoader().MissingCode(::cuipc::Api::Driver)),        \
        #name, ::cuipc::Api::Driver                                                                 \
  }
