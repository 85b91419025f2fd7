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

// binding.constants: the numbers and orders TypeScript must agree with, from their one home
// here (the IPC handle size, the slots of pointerAttributesInto), frozen.
Napi::Object ConstantsValue(Napi::Env env) {
  Napi::Array slots = Napi::Array::New(env, cuipc::kPointerAttributeSlotCount);
  for (uint32_t i = 0; i < cuipc::kPointerAttributeSlotCount; i++) slots.Set(i, cuipc::kPointerAttributeSlots[i].name);
  slots.Freeze();
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("ipcHandleBytes", Napi::Number::New(env, static_cast<double>(cuabi::kIpcHandleBytes)));
  constants.Set("pointerAttributeSlots", slots);
  constants.Freeze();
  return constants;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", ConstantsValue(env));
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
