#pragma once
#include <napi.h>
namespace cuipc {
void RegisterCapture(Napi::Env env, Napi::Object exports);
}
