#pragma once
#include <napi.h>
namespace cuipc {
void RegisterIpc(Napi::Env env, Napi::Object exports);
}
