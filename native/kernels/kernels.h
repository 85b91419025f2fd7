#pragma once
#include <napi.h>
namespace cuipc {
Napi::Object KernelsReportValue(Napi::Env env);
void RegisterKernels(Napi::Env env, Napi::Object exports);
}  // namespace cuipc
