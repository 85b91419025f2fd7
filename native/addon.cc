// The addon's entry point: each concern registers its own bindings.
#include <napi.h>

#include "capture/capture.h"
#include "device/devices.h"
#include "ipc/ipc.h"
#include "kernels/kernels.h"
#include "lifeline/lifeline.h"
#include "loader/loader.h"
#include "memory/memory.h"
#include "peer/peer.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  cuipc::RegisterLoader(env, exports);
  cuipc::RegisterDevices(env, exports);
  cuipc::RegisterMemory(env, exports);
  cuipc::RegisterIpc(env, exports);
  cuipc::RegisterCapture(env, exports);
  cuipc::RegisterPeer(env, exports);
  cuipc::RegisterKernels(env, exports);
  cuipc::RegisterLifeline(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(cuipc, Init)
