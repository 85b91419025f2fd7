// A CUDA call's outcome as the JavaScript value every binding returns: { ok, code, name,
// message, call } (and `value` on success), and the worker-thread form of a call. Names and
// messages come from the loaded library, else from the project's one table
// (loader/cuda_errors.h). This sits in loader/, above common/: it needs the loaded entry
// points, and common/ (plain Node-API argument helpers) must not reach up into the loader.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

namespace cuipc {

enum class Api { Runtime, Driver };

struct Outcome {
  int code = 0;
  const char* call = "";
  Api api = Api::Runtime;
};

std::string ErrorName(int code, Api api);
std::string ErrorMessage(int code, Api api);

Napi::Object MakeStatus(Napi::Env env, const Outcome& outcome);
// Sets `value` on the status object only when the call succeeded.
Napi::Object MakeResult(Napi::Env env, const Outcome& outcome, Napi::Value value);

// The baton pattern: `work` runs on a libuv worker thread with the caller's device made
// current there first; `finish` builds the JS result back on the main thread.
struct AsyncCall {
  std::function<Outcome()> work;
  std::function<Napi::Value(Napi::Env, const Outcome&)> finish;
};
Napi::Promise RunAsync(Napi::Env env, const char* name, AsyncCall call);

}  // namespace cuipc
