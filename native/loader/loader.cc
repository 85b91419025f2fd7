// The loader: opens the CUDA driver and runtime (or the simulated device) from the candidates
// lib/binding gives it, resolves the entry-point table, and reports what it found and tried.
#include "loader/loader.h"

#include <dlfcn.h>
#include <link.h>

#include <atomic>
#include <climits>
#include <cstdlib>

#include "kernels/kernels.h"

namespace cuipc {
namespace {

Loader g_loader;
std::atomic<int> g_current_device{-1};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

std::string HandlePath(void* handle) {
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name) return RealPath(map->l_name);
  return "";
}

// Tries each candidate in order. A bare soname is first looked for among the libraries
// the process already has (RTLD_NOLOAD), then through the dynamic linker's search.
// RTLD_GLOBAL so that an LD_PRELOAD interposer's dlsym(RTLD_NEXT, ...) finds the real calls.
Library OpenFirst(const std::vector<Attempt>& candidates, std::vector<Attempt>& attempts) {
  for (const Attempt& c : candidates) {
    bool bare = c.candidate.find('/') == std::string::npos;
    if (bare) {
      if (void* h = dlopen(c.candidate.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
        attempts.push_back({c.candidate, "already loaded", ""});
        return {h, HandlePath(h), "already loaded", 0};
      }
    }
    dlerror();
    if (void* h = dlopen(c.candidate.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      attempts.push_back({c.candidate, c.source, ""});
      return {h, HandlePath(h), c.source, 0};
    }
    const char* err = dlerror();
    attempts.push_back({c.candidate, c.source, err ? err : "not found"});
  }
  return {};
}

std::vector<Attempt> ReadCandidates(Napi::Env env, Napi::Object options, const char* key) {
  Napi::Value v = options.Get(key);
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("load: options.") + key + " must be an array of { candidate, source }");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<Attempt> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject()) throw Napi::TypeError::New(env, std::string("load: options.") + key + "[" + std::to_string(i) + "] must be an object");
    Napi::Object o = e.As<Napi::Object>();
    if (!o.Get("candidate").IsString() || !o.Get("source").IsString()) {
      throw Napi::TypeError::New(env, std::string("load: options.") + key + "[" + std::to_string(i) + "] needs string candidate and source");
    }
    out.push_back({o.Get("candidate").As<Napi::String>().Utf8Value(), o.Get("source").As<Napi::String>().Utf8Value(), ""});
  }
  return out;
}

void ResolveRuntime(Loader& l) {
  void* h = l.runtime.handle;
#define CUIPC_RESOLVE_RT(name, params, args)                                         \
  l.fn.name = reinterpret_cast<decltype(l.fn.name)>(dlsym(h, #name));               \
  if (!l.fn.name) l.missingSymbols.push_back(#name);
  CUIPC_RUNTIME_TABLE(CUIPC_RESOLVE_RT)
#undef CUIPC_RESOLVE_RT
  l.fn.cudaGetErrorName = reinterpret_cast<cuipc_cudaGetErrorName_t>(dlsym(h, "cudaGetErrorName"));
  l.fn.cudaGetErrorString = reinterpret_cast<cuipc_cudaGetErrorString_t>(dlsym(h, "cudaGetErrorString"));
  // Allocation entry points: the global scope first, so an LD_PRELOAD interposer wins as it
  // does for PyTorch; then the runtime itself.
#define CUIPC_RESOLVE_ALLOC(name, params, args)                                                     \
  {                                                                                                 \
    void* sym = dlsym(RTLD_DEFAULT, #name);                                                         \
    if (!sym) sym = dlsym(h, #name);                                                                \
    l.fn.name = reinterpret_cast<decltype(l.fn.name)>(sym);                                         \
    SymbolOrigin origin{#name, "", false};                                                          \
    Dl_info info;                                                                                   \
    if (sym && dladdr(sym, &info) && info.dli_fname) origin.path = RealPath(info.dli_fname);        \
    origin.interposed = sym && origin.path != l.runtime.path;                                       \
    if (!sym) l.missingSymbols.push_back(#name);                                                    \
    l.allocation.push_back(origin);                                                                 \
  }
  CUIPC_ALLOCATION_TABLE(CUIPC_RESOLVE_ALLOC)
#undef CUIPC_RESOLVE_ALLOC
  l.fn.runtimeMalloc = reinterpret_cast<decltype(l.fn.runtimeMalloc)>(dlsym(h, "cudaMalloc"));
  l.fn.runtimeFree = reinterpret_cast<decltype(l.fn.runtimeFree)>(dlsym(h, "cudaFree"));
}

void ResolveDriver(Loader& l) {
  auto getProc = reinterpret_cast<cuipc_cuGetProcAddress_t>(dlsym(l.driver.handle, "cuGetProcAddress_v2"));
  if (!getProc) {
    l.missingSymbols.push_back("cuGetProcAddress_v2 (driver older than CUDA 12)");
    return;
  }
#define CUIPC_RESOLVE_DRV(name, params, args)                                                         \
  {                                                                                                   \
    void* pfn = nullptr;                                                                              \
    int status = 0;                                                                                   \
    if (getProc(#name, &pfn, cuabi::kProcAddressVersion, cuabi::kGetProcAddressDefault, &status) != 0 || !pfn) { \
      pfn = nullptr;                                                                                  \
      l.missingSymbols.push_back(#name);                                                              \
    }                                                                                                 \
    l.fn.name = reinterpret_cast<decltype(l.fn.name)>(pfn);                                           \
  }
  CUIPC_DRIVER_TABLE(CUIPC_RESOLVE_DRV)
#undef CUIPC_RESOLVE_DRV
}

Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgs(info, 1, "load(options)");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "load: options must be an object");
  Napi::Object options = info[0].As<Napi::Object>();
  std::string backend = options.Get("backend").IsString() ? options.Get("backend").As<Napi::String>().Utf8Value() : "";
  if (backend != "cuda" && backend != "sim") throw Napi::RangeError::New(env, "load: options.backend must be 'cuda' or 'sim'");
  Loader& l = g_loader;
  if (l.loaded) {
    if (l.backend != backend) {
      throw Napi::RangeError::New(env, "load: the '" + l.backend + "' backend is already loaded in this process; one process holds one backend");
    }
    return LoaderReportValue(env);
  }
  std::vector<Attempt> driverCandidates = ReadCandidates(env, options, "driverCandidates");
  std::vector<Attempt> runtimeCandidates = ReadCandidates(env, options, "runtimeCandidates");
  l.backend = backend;
  // The driver first: the runtime loads it too, and we want to know which one it will get.
  l.driver = OpenFirst(driverCandidates, l.driverAttempts);
  if (backend == "sim") {
    l.runtime = l.driver;  // one library answers as both
  } else {
    l.runtime = OpenFirst(runtimeCandidates, l.runtimeAttempts);
  }
  if (l.driver.handle) {
    ResolveDriver(l);
    if (l.fn.cuInit) l.driverInitCode = l.fn.cuInit(0);
    int v = 0;
    if (l.fn.cuDriverGetVersion && l.fn.cuDriverGetVersion(&v) == 0) l.driver.version = v;
  }
  if (l.runtime.handle) {
    ResolveRuntime(l);
    int v = 0;
    if (l.fn.cudaRuntimeGetVersion && l.fn.cudaRuntimeGetVersion(&v) == 0) l.runtime.version = v;
  }
  l.loaded = true;
  return LoaderReportValue(env);
}

// [name, message] of a code, for lib/cuda's per-code cache of result texts.
Napi::Value DescribeError(const Napi::CallbackInfo& info) {
  int code = static_cast<int>(ArgInt(info, 0, "code", INT32_MIN, INT32_MAX));
  Api api = ArgBool(info, 1, "driver") ? Api::Driver : Api::Runtime;
  Napi::Array r = Napi::Array::New(info.Env(), 2);
  r.Set(0u, ErrorName(code, api));
  r.Set(1u, ErrorMessage(code, api));
  return r;
}

}  // namespace

Napi::Object LibraryValue(Napi::Env env, const Library& lib, const char* role) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("role", role);
  o.Set("path", lib.path);
  o.Set("source", lib.source);
  o.Set("version", lib.version);
  return o;
}

Napi::Array AttemptsValue(Napi::Env env, const std::vector<Attempt>& attempts) {
  Napi::Array a = Napi::Array::New(env, attempts.size());
  for (size_t i = 0; i < attempts.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("candidate", attempts[i].candidate);
    o.Set("source", attempts[i].source);
    if (!attempts[i].error.empty()) o.Set("error", attempts[i].error);
    a.Set(i, o);
  }
  return a;
}

Napi::Value LoaderReportValue(Napi::Env env) {
  const Loader& l = g_loader;
  Napi::Object r = Napi::Object::New(env);
  r.Set("backend", l.backend);
  r.Set("simulated", l.backend == "sim");
  r.Set("driver", l.driver.handle ? Napi::Value(LibraryValue(env, l.driver, "driver")) : env.Null());
  r.Set("runtime", l.runtime.handle ? Napi::Value(LibraryValue(env, l.runtime, "runtime")) : env.Null());
  Napi::Object attempts = Napi::Object::New(env);
  attempts.Set("driver", AttemptsValue(env, l.driverAttempts));
  attempts.Set("runtime", AttemptsValue(env, l.runtimeAttempts));
  r.Set("attempts", attempts);
  r.Set("driverInit", l.driverInitCode >= 0 ? Napi::Value(MakeStatus(env, Outcome{l.driverInitCode, "cuInit", Api::Driver})) : env.Null());
  Napi::Array missing = Napi::Array::New(env, l.missingSymbols.size());
  for (size_t i = 0; i < l.missingSymbols.size(); i++) missing.Set(i, l.missingSymbols[i]);
  r.Set("missingSymbols", missing);
  Napi::Array alloc = Napi::Array::New(env, l.allocation.size());
  for (size_t i = 0; i < l.allocation.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("symbol", l.allocation[i].symbol);
    o.Set("path", l.allocation[i].path);
    o.Set("interposed", l.allocation[i].interposed);
    alloc.Set(i, o);
  }
  r.Set("allocation", alloc);
  r.Set("kernels", KernelsReportValue(env));
  return r;
}

const Loader& GetLoader() { return g_loader; }
int CurrentDevice() { return g_current_device.load(); }
void SetCurrentDevice(int device) { g_current_device.store(device); }

int Loader::MissingCode(Api api) const {
  if (api == Api::Runtime) {
    if (!runtime.handle) return driver.handle ? cuabi::kErrorInitializationError : cuabi::kErrorInsufficientDriver;
    return cuabi::kErrorNotFound;  // the runtime lacks this symbol
  }
  if (!driver.handle) return cuabi::kCuErrorNotInitialized;
  return cuabi::kCuErrorNotFound;
}

std::string Loader::MissingLibraryNote(Api api) const {
  if (!loaded) return "cuipc: no backend loaded yet";
  if (!driver.handle) return "cuipc found no CUDA driver (libcuda.so.1); `cuipc doctor` lists what it tried";
  if (api == Api::Runtime && !runtime.handle) return "cuipc found no CUDA runtime (libcudart.so.13 or .12); `cuipc doctor` lists what it tried";
  return "";
}

void RegisterLoader(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "load", Load);
  Export(env, exports, "describeError", DescribeError);
}

}  // namespace cuipc
