// Node-API argument checks and value builders (see napi_util.h).
#include "common/napi_util.h"

#include <cmath>
#include <cstdio>

namespace cuipc {

Napi::Value PtrValue(Napi::Env env, uint64_t ptr) { return Napi::BigInt::New(env, ptr); }

Napi::Buffer<uint8_t> BytesValue(Napi::Env env, const void* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(data), size);
}

static Napi::Value Arg(const Napi::CallbackInfo& info, size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

void ExpectArgs(const Napi::CallbackInfo& info, size_t count, const char* signature) {
  if (info.Length() < count) {
    throw Napi::TypeError::New(info.Env(), std::string(signature) + ": expected " + std::to_string(count) +
                                               " argument(s), got " + std::to_string(info.Length()));
  }
}

static uint64_t ToPtr(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsBigInt()) {
    throw Napi::TypeError::New(env, name + " must be a BigInt address (e.g. 0x7f0000000000n), got " +
                                        (v.IsNumber() ? "a Number" : v.IsString() ? "a string" : "another type"));
  }
  bool lossless = false;
  uint64_t value = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(env, name + " must fit in 64 unsigned bits");
  return value;
}

uint64_t ArgPtr(const Napi::CallbackInfo& info, size_t index, const char* name) {
  return ToPtr(info.Env(), Arg(info, index), name);
}

std::vector<uint64_t> ArgPtrList(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = Arg(info, index);
  if (!v.IsArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an array of BigInt addresses");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<uint64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = ToPtr(info.Env(), a.Get(i), std::string(name) + "[" + std::to_string(i) + "]");
  return out;
}

PtrList ArgPtrs(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = Arg(info, index);
  PtrList list;
  napi_typedarray_type type;
  void* data = nullptr;
  if (TypedArrayData(info.Env(), v, &type, &list.size, &data)) {
    if (type != napi_biguint64_array) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a BigUint64Array or an array of BigInt addresses");
    list.data = static_cast<const uint64_t*>(data);
    return list;
  }
  if (!v.IsArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a BigUint64Array or an array of BigInt addresses");
  list.copy = ArgPtrList(info, index, name);
  list.data = list.copy.data();
  list.size = list.copy.size();
  return list;
}

// A Number as JavaScript would print it (1e+20, not a wrapped int64 or 100000000000000000000.000000).
std::string NumberText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char text[32];
  if (std::fabs(d) < 9007199254740992.0 && std::floor(d) == d) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(d));
  } else {
    std::snprintf(text, sizeof text, "%.17g", d);
  }
  return text;
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t min, int64_t max) {
  Napi::Value v = Arg(info, index);
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an integer Number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer, got " + NumberText(d));
  }
  // Compared as doubles before any conversion: 1e20 must not wrap to a negative int64.
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be between " + std::to_string(min) + " and " +
                                                std::to_string(max) + ", got " + NumberText(d));
  }
  return static_cast<int64_t>(d);
}

size_t ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name) {
  // 2^53 keeps the Number exact.
  return static_cast<size_t>(ArgInt(info, index, name, 0, (int64_t{1} << 53)));
}

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = Arg(info, index);
  if (!v.IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = Arg(info, index);
  if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

int ArgChoice(const Napi::CallbackInfo& info, size_t index, const char* name, const std::vector<const char*>& allowed) {
  std::string s = ArgString(info, index, name);
  std::string list;
  for (size_t i = 0; i < allowed.size(); i++) {
    if (s == allowed[i]) return static_cast<int>(i);
    list += (i ? ", '" : "'") + std::string(allowed[i]) + "'";
  }
  throw Napi::RangeError::New(info.Env(), std::string(name) + " must be one of " + list + ", got '" + s + "'");
}

Napi::Uint8Array ArgBytesView(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = Arg(info, index);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Buffer or Uint8Array");
  }
  return v.As<Napi::Uint8Array>();
}

}  // namespace cuipc
