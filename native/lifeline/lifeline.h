// A rank's lifeline: the process ends itself when its parent (the coordinator, or the Ray
// actor that started it) is gone, even while its JavaScript thread is stuck in a CUDA call.
#pragma once
#include <napi.h>

namespace cuipc {
void RegisterLifeline(Napi::Env env, Napi::Object exports);
}  // namespace cuipc
