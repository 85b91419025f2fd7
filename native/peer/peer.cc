// Peer access between devices of one host.
#include "peer/peer.h"

#include "loader/loader.h"

namespace cuipc {
namespace {

int Ordinal(const Napi::CallbackInfo& info, size_t i, const char* name) { return static_cast<int>(ArgInt(info, i, name, 0, 1 << 20)); }

Napi::Value CanAccessPeer(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "deviceCanAccessPeer(device, peer)");
  int can = 0;
  Outcome o = CUIPC_RT(cudaDeviceCanAccessPeer, &can, Ordinal(info, 0, "device"), Ordinal(info, 1, "peer"));
  return MakeResult(info.Env(), o, Napi::Boolean::New(info.Env(), can != 0));
}

Napi::Value GetP2PAttribute(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "deviceGetP2PAttribute(attr, src, dst)");
  int which = ArgChoice(info, 0, "attr", {"performance-rank", "access-supported", "native-atomic-supported"});
  const int attrs[3] = {cuabi::kP2PAttrPerformanceRank, cuabi::kP2PAttrAccessSupported, cuabi::kP2PAttrNativeAtomicSupported};
  int value = 0;
  Outcome o = CUIPC_RT(cudaDeviceGetP2PAttribute, &value, attrs[which], Ordinal(info, 1, "src"), Ordinal(info, 2, "dst"));
  return MakeResult(info.Env(), o, Napi::Number::New(info.Env(), value));
}

}  // namespace

void RegisterPeer(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "deviceCanAccessPeer", CanAccessPeer);
  Export(env, exports, "deviceGetP2PAttribute", GetP2PAttribute);
}

}  // namespace cuipc
