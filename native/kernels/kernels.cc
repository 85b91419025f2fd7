// Loads the embedded fatbin per device with cuModuleLoadData and launches with
// cuLaunchKernel, so launches on a capturing stream are recorded into the graph.
#include "kernels/kernels.h"

#include <map>
#include <mutex>
#include <sstream>

#include "cuipc_kernels_fatbin.h"
#include "loader/loader.h"

namespace cuipc {
namespace {

struct Module {
  CUmodule module = nullptr;
  CUfunction fill = nullptr, checksum = nullptr, allreduce = nullptr;
};

std::mutex g_mutex;
std::map<CUcontext, Module> g_modules;  // per context: a module belongs to the context it was loaded in

Outcome GetModule(Module** out) {
  if (!CUIPC_HAVE_KERNELS) return Outcome{cuabi::kErrorNoKernelImageForDevice, "cuModuleLoadData", Api::Runtime};
  CUcontext ctx = nullptr;
  Outcome o = CUIPC_DRV(cuCtxGetCurrent, &ctx);
  if (o.code != 0) return o;
  if (!ctx) return Outcome{cuabi::kCuErrorInvalidContext, "cuCtxGetCurrent", Api::Driver};
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_modules.find(ctx);
  if (it != g_modules.end()) {
    *out = &it->second;
    return o;
  }
  Module m;
  if ((o = CUIPC_DRV(cuModuleLoadData, &m.module, cuipc_kernels_fatbin)).code != 0) return o;
  if ((o = CUIPC_DRV(cuModuleGetFunction, &m.fill, m.module, "cuipc_fill")).code != 0) return o;
  if ((o = CUIPC_DRV(cuModuleGetFunction, &m.checksum, m.module, "cuipc_checksum")).code != 0) return o;
  if ((o = CUIPC_DRV(cuModuleGetFunction, &m.allreduce, m.module, "cuipc_allreduce")).code != 0) return o;
  *out = &(g_modules[ctx] = m);
  return o;
}

unsigned Blocks(unsigned long long count) {
  unsigned long long b = (count + 255) / 256;
  return static_cast<unsigned>(b == 0 ? 1 : b > 4096 ? 4096 : b);
}

size_t Count(const Napi::CallbackInfo& info, size_t i) { return static_cast<size_t>(ArgInt(info, i, "count", 0, int64_t{1} << 40)); }
cudaStream_t Stream(const Napi::CallbackInfo& info, size_t i) { return reinterpret_cast<cudaStream_t>(ArgPtr(info, i, "stream")); }

Napi::Value LaunchFill(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 4, "launchFill(ptr, count, seed, stream)");
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  unsigned long long count = Count(info, 1);
  uint32_t seed = static_cast<uint32_t>(ArgInt(info, 2, "seed", 0, 0xffffffffLL));
  cudaStream_t s = Stream(info, 3);
  Module* m = nullptr;
  Outcome o = GetModule(&m);
  if (o.code != 0) return MakeStatus(info.Env(), o);
  void* p = reinterpret_cast<void*>(ptr);
  void* params[] = {&p, &count, &seed};
  return MakeStatus(info.Env(), CUIPC_DRV(cuLaunchKernel, m->fill, Blocks(count), 1, 1, 256, 1, 1, 0, s, params, nullptr));
}

Napi::Value LaunchChecksum(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 4, "launchChecksum(ptr, count, out, stream)");
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  unsigned long long count = Count(info, 1);
  uint64_t out = ArgPtr(info, 2, "out");
  cudaStream_t s = Stream(info, 3);
  Module* m = nullptr;
  Outcome o = GetModule(&m);
  if (o.code != 0) return MakeStatus(info.Env(), o);
  void* p = reinterpret_cast<void*>(ptr);
  void* q = reinterpret_cast<void*>(out);
  void* params[] = {&p, &count, &q};
  return MakeStatus(info.Env(), CUIPC_DRV(cuLaunchKernel, m->checksum, 1, 1, 1, 256, 1, 1, 0, s, params, nullptr));
}

Napi::Value LaunchAllReduce(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 5, "launchAllReduce(table, ranks, out, count, stream)");
  uint64_t table = ArgPtr(info, 0, "table");
  int ranks = static_cast<int>(ArgInt(info, 1, "ranks", 1, 1024));
  uint64_t out = ArgPtr(info, 2, "out");
  unsigned long long count = Count(info, 3);
  cudaStream_t s = Stream(info, 4);
  Module* m = nullptr;
  Outcome o = GetModule(&m);
  if (o.code != 0) return MakeStatus(info.Env(), o);
  void* t = reinterpret_cast<void*>(table);
  void* q = reinterpret_cast<void*>(out);
  void* params[] = {&t, &ranks, &q, &count};
  return MakeStatus(info.Env(), CUIPC_DRV(cuLaunchKernel, m->allreduce, Blocks(count), 1, 1, 256, 1, 1, 0, s, params, nullptr));
}

// Many launches in one call: the probe captures one all-reduce per graph input and fills every
// input before a replay, thousands per rank at 4096 inputs, where a Node-API call and the
// rank's announcement per launch cost more than the launch. Launches in order and stops at the
// first that fails; the status says which call failed, `launched` how many succeeded before it.
Napi::Value BatchStatus(Napi::Env env, const Outcome& o, size_t launched) {
  Napi::Object status = MakeStatus(env, o).As<Napi::Object>();
  status.Set("launched", Napi::Number::New(env, static_cast<double>(launched)));
  return status;
}

Napi::Value LaunchFillBatch(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 4, "launchFillBatch(ptrs, count, seeds, stream)");
  PtrList ptrs = ArgPtrs(info, 0, "ptrs");
  unsigned long long count = Count(info, 1);
  auto* seeds = ArgTyped<uint32_t>(info, 2, "seeds (a Uint32Array, one per pointer)", napi_uint32_array, ptrs.size);
  cudaStream_t s = Stream(info, 3);
  Module* m = nullptr;
  Outcome o = GetModule(&m);
  if (o.code != 0) return BatchStatus(info.Env(), o, 0);
  size_t i = 0;
  for (; i < ptrs.size; ++i) {
    void* p = reinterpret_cast<void*>(ptrs.data[i]);
    uint32_t seed = seeds[i];
    void* params[] = {&p, &count, &seed};
    o = CUIPC_DRV(cuLaunchKernel, m->fill, Blocks(count), 1, 1, 256, 1, 1, 0, s, params, nullptr);
    if (o.code != 0) break;
  }
  return BatchStatus(info.Env(), o, i);
}

Napi::Value LaunchAllReduceBatch(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 5, "launchAllReduceBatch(tables, ranks, outs, count, stream)");
  PtrList tables = ArgPtrs(info, 0, "tables");
  int ranks = static_cast<int>(ArgInt(info, 1, "ranks", 1, 1024));
  PtrList outs = ArgPtrs(info, 2, "outs");
  if (outs.size != tables.size) {
    throw Napi::RangeError::New(info.Env(), "outs must hold one pointer per table (" + std::to_string(tables.size) + "), got " + std::to_string(outs.size));
  }
  unsigned long long count = Count(info, 3);
  cudaStream_t s = Stream(info, 4);
  Module* m = nullptr;
  Outcome o = GetModule(&m);
  if (o.code != 0) return BatchStatus(info.Env(), o, 0);
  size_t i = 0;
  for (; i < tables.size; ++i) {
    void* t = reinterpret_cast<void*>(tables.data[i]);
    void* q = reinterpret_cast<void*>(outs.data[i]);
    void* params[] = {&t, &ranks, &q, &count};
    o = CUIPC_DRV(cuLaunchKernel, m->allreduce, Blocks(count), 1, 1, 256, 1, 1, 0, s, params, nullptr);
    if (o.code != 0) break;
  }
  return BatchStatus(info.Env(), o, i);
}

std::string Reason() {
  if (!CUIPC_HAVE_KERNELS) return "built without nvcc: no kernels embedded; probes verify with copies";
  if (!GetLoader().fn.cuModuleLoadData) return "no CUDA driver loaded";
  return std::string("embedded fatbin (sm ") + cuipc_kernels_archs + " + PTX)";
}

Napi::Value KernelsAvailable(const Napi::CallbackInfo& info) {
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("available", CUIPC_HAVE_KERNELS && GetLoader().fn.cuModuleLoadData != nullptr);
  r.Set("reason", Reason());
  return r;
}

}  // namespace

Napi::Object KernelsReportValue(Napi::Env env) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("available", CUIPC_HAVE_KERNELS && GetLoader().fn.cuModuleLoadData != nullptr);
  r.Set("reason", Reason());
  Napi::Array archs = Napi::Array::New(env);
  std::stringstream ss(cuipc_kernels_archs);
  std::string a;
  uint32_t i = 0;
  while (std::getline(ss, a, ',')) {
    if (!a.empty()) archs.Set(i++, "sm_" + a);
  }
  r.Set("architectures", archs);
  return r;
}

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "kernelsAvailable", KernelsAvailable);
  Export(env, exports, "launchFill", LaunchFill);
  Export(env, exports, "launchChecksum", LaunchChecksum);
  Export(env, exports, "launchAllReduce", LaunchAllReduce);
  Export(env, exports, "launchFillBatch", LaunchFillBatch);
  Export(env, exports, "launchAllReduceBatch", LaunchAllReduceBatch);
}

}  // namespace cuipc
