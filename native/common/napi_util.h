// Argument checking and result building shared by every binding. A CUDA failure becomes a
// result object; a programming error (wrong type, wrong range) throws TypeError/RangeError
// naming the argument and what was expected.
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

Napi::Value PtrValue(Napi::Env env, uint64_t ptr);
Napi::Buffer<uint8_t> BytesValue(Napi::Env env, const void* data, size_t size);

uint64_t ArgPtr(const Napi::CallbackInfo& info, size_t index, const char* name);
std::vector<uint64_t> ArgPtrList(const Napi::CallbackInfo& info, size_t index, const char* name);
size_t ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max);
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name);
// An enum given as a string: returns the position of the value in `allowed`.
int ArgChoice(const Napi::CallbackInfo& info, size_t index, const char* name, const std::vector<const char*>& allowed);
// A 64-byte IPC handle in a Buffer / Uint8Array.
void ArgHandle(const Napi::CallbackInfo& info, size_t index, const char* name, char out[64]);
Napi::Uint8Array ArgBytesView(const Napi::CallbackInfo& info, size_t index, const char* name);
void ExpectArgs(const Napi::CallbackInfo& info, size_t count, const char* signature);

// The baton pattern: `work` runs on a libuv worker thread with the caller's device made
// current there first; `finish` builds the JS result back on the main thread.
struct AsyncCall {
  std::function<Outcome()> work;
  std::function<Napi::Value(Napi::Env, const Outcome&)> finish;
};
Napi::Promise RunAsync(Napi::Env env, const char* name, AsyncCall call);

}  // namespace cuipc
