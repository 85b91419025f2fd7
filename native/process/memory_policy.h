// A rank's memory policy: what the rank program asks of the kernel for its own host memory.
#pragma once
#include <napi.h>

namespace cuipc {
void RegisterMemoryPolicy(Napi::Env env, Napi::Object exports);
}  // namespace cuipc
