#pragma once
#include <napi.h>
namespace cuipc {
void RegisterPeer(Napi::Env env, Napi::Object exports);
}
