// Devices: identity (name, UUID, PCI bus id), versions, the current device, and context
// creation off the JS thread.
#include <cstdio>

#include "common/napi_util.h"
#include "device/devices.h"
#include "loader/loader.h"

namespace cuipc {
namespace {

Napi::Value IntResult(Napi::Env env, const Outcome& o, int value) { return MakeResult(env, o, Napi::Number::New(env, value)); }

Napi::Value DriverGetVersion(const Napi::CallbackInfo& info) {
  int v = 0;
  Outcome o = CUIPC_RT(cudaDriverGetVersion, &v);
  return IntResult(info.Env(), o, v);
}

Napi::Value RuntimeGetVersion(const Napi::CallbackInfo& info) {
  int v = 0;
  Outcome o = CUIPC_RT(cudaRuntimeGetVersion, &v);
  return IntResult(info.Env(), o, v);
}

Napi::Value GetDeviceCount(const Napi::CallbackInfo& info) {
  int n = 0;
  Outcome o = CUIPC_RT(cudaGetDeviceCount, &n);
  return IntResult(info.Env(), o, n);
}

std::string FormatUuid(const CUuuid& u, bool simulated) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(u.bytes);
  char s[64];
  std::snprintf(s, sizeof s, "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", simulated ? "SIM" : "GPU",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

Napi::Value GetDeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ordinal = static_cast<int>(ArgInt(info, 0, "ordinal", 0, 1 << 20));
  CUdevice dev = 0;
  Outcome o = CUIPC_DRV(cuDeviceGet, &dev, ordinal);
  if (o.code != 0) return MakeStatus(env, o);
  char name[256] = {0};
  if ((o = CUIPC_DRV(cuDeviceGetName, name, sizeof name, dev)).code != 0) return MakeStatus(env, o);
  CUuuid uuid{};
  if ((o = CUIPC_DRV(cuDeviceGetUuid, &uuid, dev)).code != 0) return MakeStatus(env, o);
  char bus[32] = {0};
  if ((o = CUIPC_RT(cudaDeviceGetPCIBusId, bus, sizeof bus, ordinal)).code != 0) return MakeStatus(env, o);
  int attrs[6] = {0};
  const int which[6] = {cuabi::kDevAttrComputeCapabilityMajor, cuabi::kDevAttrComputeCapabilityMinor, cuabi::kDevAttrUnifiedAddressing,
                        cuabi::kDevAttrComputeMode, cuabi::kDevAttrVmmSupported, cuabi::kDevAttrPosixFdSupported};
  for (int i = 0; i < 6; i++) {
    if ((o = CUIPC_DRV(cuDeviceGetAttribute, &attrs[i], which[i], dev)).code != 0) return MakeStatus(env, o);
  }
  Napi::Object d = Napi::Object::New(env);
  d.Set("ordinal", ordinal);
  d.Set("name", std::string(name));
  d.Set("uuid", FormatUuid(uuid, GetLoader().backend == "sim"));
  d.Set("pciBusId", std::string(bus));
  Napi::Array cc = Napi::Array::New(env, 2);
  cc.Set(0u, attrs[0]);
  cc.Set(1u, attrs[1]);
  d.Set("computeCapability", cc);
  d.Set("unifiedAddressing", attrs[2] != 0);
  d.Set("computeMode", attrs[3]);
  d.Set("vmmSupported", attrs[4] != 0);
  d.Set("posixFdHandleSupported", attrs[5] != 0);
  return MakeResult(env, o, d);
}

Napi::Value SetDevice(const Napi::CallbackInfo& info) {
  int ordinal = static_cast<int>(ArgInt(info, 0, "ordinal", 0, 1 << 20));
  Outcome o = CUIPC_RT(cudaSetDevice, ordinal);
  if (o.code == 0) SetCurrentDevice(ordinal);
  return MakeStatus(info.Env(), o);
}

Napi::Value GetDevice(const Napi::CallbackInfo& info) {
  int d = 0;
  Outcome o = CUIPC_RT(cudaGetDevice, &d);
  return IntResult(info.Env(), o, d);
}

Napi::Value InitDeviceAsync(const Napi::CallbackInfo& info) {
  int ordinal = static_cast<int>(ArgInt(info, 0, "ordinal", 0, 1 << 20));
  SetCurrentDevice(ordinal);
  // Also on the JS thread, so later synchronous calls find the same context current.
  Outcome set = CUIPC_RT(cudaSetDevice, ordinal);
  if (set.code != 0) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(info.Env());
    d.Resolve(MakeStatus(info.Env(), set));
    return d.Promise();
  }
  return RunAsync(info.Env(), "cuipc.initDevice",
                  {[]() {
                     // cudaFree(0) is the documented way to force context creation.
                     return CUIPC_RT(cudaFree, nullptr);
                   },
                   [](Napi::Env env, const Outcome& o) -> Napi::Value { return MakeStatus(env, o); }});
}

}  // namespace

void RegisterDevices(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "driverGetVersion", DriverGetVersion);
  Export(env, exports, "runtimeGetVersion", RuntimeGetVersion);
  Export(env, exports, "getDeviceCount", GetDeviceCount);
  Export(env, exports, "getDeviceInfo", GetDeviceInfo);
  Export(env, exports, "setDevice", SetDevice);
  Export(env, exports, "getDevice", GetDevice);
  Export(env, exports, "initDeviceAsync", InitDeviceAsync);
}

}  // namespace cuipc
