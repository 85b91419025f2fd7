#pragma once
#include <napi.h>
namespace cuipc {
void RegisterDevices(Napi::Env env, Napi::Object exports);
}
