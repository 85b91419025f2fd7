// Argument checking shared by every binding: a programming error (wrong type, wrong range)
// throws TypeError/RangeError naming the argument and what was expected. Plain Node-API, no
// CUDA: a CUDA failure becomes a result object in loader/status.h, which builds on this.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cuipc {

Napi::Value PtrValue(Napi::Env env, uint64_t ptr);
Napi::Buffer<uint8_t> BytesValue(Napi::Env env, const void* data, size_t size);

uint64_t ArgPtr(const Napi::CallbackInfo& info, size_t index, const char* name);
std::vector<uint64_t> ArgPtrList(const Napi::CallbackInfo& info, size_t index, const char* name);
// A list of pointers as a BigUint64Array (read in place) or an array of BigInt (copied).
struct PtrList {
  const uint64_t* data = nullptr;
  size_t size = 0;
  std::vector<uint64_t> copy;
};
PtrList ArgPtrs(const Napi::CallbackInfo& info, size_t index, const char* name);
// A typed array argument of an exact element type and at least `minLength` elements.
template <typename T>
T* ArgTyped(const Napi::CallbackInfo& info, size_t index, const char* name, napi_typedarray_type type, size_t minLength);
size_t ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name);
// A Number as JavaScript prints it, for error messages.
std::string NumberText(double d);
int64_t ArgInt(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max);
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name);
// An enum given as a string: returns the position of the value in `allowed`.
int ArgChoice(const Napi::CallbackInfo& info, size_t index, const char* name, const std::vector<const char*>& allowed);
Napi::Uint8Array ArgBytesView(const Napi::CallbackInfo& info, size_t index, const char* name);
void ExpectArgs(const Napi::CallbackInfo& info, size_t count, const char* signature);

// Exports `fn` as `name` (the JS function's own name too).
inline void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

// One napi_get_typedarray_info call (it also answers "is this a typed array"): the packed
// forms are the hot path, and each Node-API call costs tens of nanoseconds.
inline bool TypedArrayData(napi_env env, napi_value v, napi_typedarray_type* type, size_t* length, void** data) {
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, v, type, length, data, &buffer, &offset) == napi_ok;
}

template <typename T>
T* ArgTyped(const Napi::CallbackInfo& info, size_t index, const char* name, napi_typedarray_type type, size_t minLength) {
  napi_typedarray_type actual;
  size_t length = 0;
  void* data = nullptr;
  if (index >= info.Length() || !TypedArrayData(info.Env(), info[index], &actual, &length, &data) || actual != type) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " has the wrong typed-array type");
  }
  if (length < minLength) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must hold at least " + std::to_string(minLength) + " elements");
  }
  return static_cast<T*>(data);
}

}  // namespace cuipc
