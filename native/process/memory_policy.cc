// Why this is native: Node has no prctl. A rank's host memory is the Node process's (V8's
// heap, the protocol's data) and the driver's; with transparent huge pages set to "always", a
// touched 4 KiB page of a sparse heap region can cost a 2 MiB page, so a rank's RSS says more
// about the host's THP setting than about what the rank holds. PR_SET_THP_DISABLE is a flag of
// the process (kernels from 3.15 on): it applies to its later page faults and is kept across
// fork and execve, so a program started while it is set starts without huge pages. Device
// memory, and with it everything a probe reports, is untouched by it.
#include "process/memory_policy.h"

#include <sys/prctl.h>

#include "common/napi_util.h"

#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#define PR_GET_THP_DISABLE 42
#endif

namespace cuipc {
namespace {

// setHugePagesDisabled(disabled): sets the flag; returns what it was, or null where the
// kernel has no such flag (then nothing changed).
Napi::Value SetHugePagesDisabled(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 1, "setHugePagesDisabled(disabled)");
  bool disabled = ArgBool(info, 0, "disabled");
  int before = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
  if (before < 0 || prctl(PR_SET_THP_DISABLE, disabled ? 1 : 0, 0, 0, 0) != 0) return info.Env().Null();
  return Napi::Boolean::New(info.Env(), before != 0);
}

}  // namespace

void RegisterMemoryPolicy(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "setHugePagesDisabled", SetHugePagesDisabled);
}

}  // namespace cuipc
