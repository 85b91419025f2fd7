// Streams, stream capture and graphs, and the runtime's last-error state: a stale error
// left by an earlier call must be told apart from the call that made it.
#include "capture/capture.h"

#include "loader/loader.h"

namespace cuipc {
namespace {

const std::vector<const char*> kModes = {"global", "thread-local", "relaxed"};  // cudaStreamCaptureMode order
const char* StatusName(int s) { return s == 0 ? "none" : s == 1 ? "active" : "invalidated"; }

cudaStream_t StreamArg(const Napi::CallbackInfo& info, size_t i) { return reinterpret_cast<cudaStream_t>(ArgPtr(info, i, "stream")); }

Napi::Value StreamCreate(const Napi::CallbackInfo& info) {
  bool nonBlocking = ArgBool(info, 0, "nonBlocking");
  cudaStream_t s = nullptr;
  Outcome o = CUIPC_RT(cudaStreamCreateWithFlags, &s, nonBlocking ? cuabi::kStreamNonBlocking : 0u);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(s)));
}

Napi::Value StreamDestroy(const Napi::CallbackInfo& info) { return MakeStatus(info.Env(), CUIPC_RT(cudaStreamDestroy, StreamArg(info, 0))); }
Napi::Value StreamSynchronize(const Napi::CallbackInfo& info) { return MakeStatus(info.Env(), CUIPC_RT(cudaStreamSynchronize, StreamArg(info, 0))); }

Napi::Value StreamSynchronizeAsync(const Napi::CallbackInfo& info) {
  cudaStream_t s = StreamArg(info, 0);
  return RunAsync(info.Env(), "cuipc.streamSynchronize",
                  {[s]() { return CUIPC_RT(cudaStreamSynchronize, s); },
                   [](Napi::Env env, const Outcome& o) -> Napi::Value { return MakeStatus(env, o); }});
}

Napi::Value StreamBeginCapture(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "streamBeginCapture(stream, mode)");
  cudaStream_t s = StreamArg(info, 0);
  int mode = ArgChoice(info, 1, "mode", kModes);
  return MakeStatus(info.Env(), CUIPC_RT(cudaStreamBeginCapture, s, mode));
}

Napi::Value StreamEndCapture(const Napi::CallbackInfo& info) {
  cudaGraph_t g = nullptr;
  Outcome o = CUIPC_RT(cudaStreamEndCapture, StreamArg(info, 0), &g);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(g)));
}

Napi::Value StreamIsCapturing(const Napi::CallbackInfo& info) {
  int status = 0;
  Outcome o = CUIPC_RT(cudaStreamIsCapturing, StreamArg(info, 0), &status);
  return MakeResult(info.Env(), o, Napi::String::New(info.Env(), StatusName(status)));
}

Napi::Value StreamGetCaptureInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int status = 0;
  unsigned long long id = 0;
  Outcome o = CUIPC_RT(cudaStreamGetCaptureInfo, StreamArg(info, 0), &status, &id, nullptr, nullptr, nullptr, nullptr);
  Napi::Object v = Napi::Object::New(env);
  v.Set("status", StatusName(status));
  v.Set("id", Napi::BigInt::New(env, static_cast<uint64_t>(id)));
  return MakeResult(env, o, v);
}

Napi::Value ThreadExchangeStreamCaptureMode(const Napi::CallbackInfo& info) {
  int mode = ArgChoice(info, 0, "mode", kModes);
  Outcome o = CUIPC_RT(cudaThreadExchangeStreamCaptureMode, &mode);
  return MakeResult(info.Env(), o, Napi::String::New(info.Env(), mode >= 0 && mode < 3 ? kModes[mode] : "unknown"));
}

Napi::Value GraphInstantiate(const Napi::CallbackInfo& info) {
  cudaGraph_t g = reinterpret_cast<cudaGraph_t>(ArgPtr(info, 0, "graph"));
  cudaGraphExec_t e = nullptr;
  Outcome o = CUIPC_RT(cudaGraphInstantiate, &e, g, 0ULL);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(e)));
}

Napi::Value GraphLaunch(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "graphLaunch(exec, stream)");
  cudaGraphExec_t e = reinterpret_cast<cudaGraphExec_t>(ArgPtr(info, 0, "exec"));
  return MakeStatus(info.Env(), CUIPC_RT(cudaGraphLaunch, e, StreamArg(info, 1)));
}

Napi::Value GraphDestroy(const Napi::CallbackInfo& info) {
  return MakeStatus(info.Env(), CUIPC_RT(cudaGraphDestroy, reinterpret_cast<cudaGraph_t>(ArgPtr(info, 0, "graph"))));
}

Napi::Value GraphExecDestroy(const Napi::CallbackInfo& info) {
  return MakeStatus(info.Env(), CUIPC_RT(cudaGraphExecDestroy, reinterpret_cast<cudaGraphExec_t>(ArgPtr(info, 0, "exec"))));
}

Napi::Value GetLastError(const Napi::CallbackInfo& info) { return MakeStatus(info.Env(), CUIPC_RT(cudaGetLastError)); }
Napi::Value PeekAtLastError(const Napi::CallbackInfo& info) { return MakeStatus(info.Env(), CUIPC_RT(cudaPeekAtLastError)); }

}  // namespace

void RegisterCapture(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "streamCreate", StreamCreate);
  Export(env, exports, "streamDestroy", StreamDestroy);
  Export(env, exports, "streamSynchronize", StreamSynchronize);
  Export(env, exports, "streamSynchronizeAsync", StreamSynchronizeAsync);
  Export(env, exports, "streamBeginCapture", StreamBeginCapture);
  Export(env, exports, "streamEndCapture", StreamEndCapture);
  Export(env, exports, "streamIsCapturing", StreamIsCapturing);
  Export(env, exports, "streamGetCaptureInfo", StreamGetCaptureInfo);
  Export(env, exports, "threadExchangeStreamCaptureMode", ThreadExchangeStreamCaptureMode);
  Export(env, exports, "graphInstantiate", GraphInstantiate);
  Export(env, exports, "graphLaunch", GraphLaunch);
  Export(env, exports, "graphDestroy", GraphDestroy);
  Export(env, exports, "graphExecDestroy", GraphExecDestroy);
  Export(env, exports, "getLastError", GetLastError);
  Export(env, exports, "peekAtLastError", PeekAtLastError);
}

}  // namespace cuipc
