// Why this is native: a rank whose JavaScript thread is blocked in a CUDA call (a hung
// cudaIpcOpenMemHandle, a graph launch that never returns) runs no timers, and
// process.exit() waits for libuv worker threads stuck in CUDA calls. Only a thread of its
// own can end such a process. One detached thread polls getppid() every 50 ms; when the
// parent changes (it died; the rank was re-parented) or a deadline set from JavaScript
// passes, it sends the process SIGKILL. A rank that still can leave cleanly does so first:
// the parent check waits a grace period after the change, in which the JavaScript side
// (which sees the rendezvous socket close) releases what it holds and exits.
#include "lifeline/lifeline.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "common/napi_util.h"

namespace cuipc {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_started{false};
std::atomic<pid_t> g_parent{0};
std::atomic<int64_t> g_graceMs{0};
// Milliseconds since the clock's epoch after which the process kills itself; 0: none.
std::atomic<int64_t> g_deadline{0};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

void Watch() {
  int64_t orphanedAt = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int64_t now = NowMs();
    if (orphanedAt == 0 && getppid() != g_parent.load()) orphanedAt = now;
    int64_t deadline = g_deadline.load();
    bool expired = deadline != 0 && now >= deadline;
    bool orphaned = orphanedAt != 0 && now - orphanedAt >= g_graceMs.load();
    if (expired || orphaned) {
      kill(getpid(), SIGKILL);
      return;
    }
  }
}

// lifeline(parentPid, graceMs): starts the watch (once per process). Returns false when the
// parent is already not `parentPid` (the caller should leave at once).
Napi::Value Lifeline(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "lifeline(parentPid, graceMs)");
  pid_t parent = static_cast<pid_t>(ArgInt(info, 0, "parentPid", 1, INT32_MAX));
  int64_t grace = ArgInt(info, 1, "graceMs", 0, 60'000);
  g_graceMs.store(grace);
  g_parent.store(parent);
  if (!g_started.exchange(true)) std::thread(Watch).detach();
  return Napi::Boolean::New(info.Env(), getppid() == parent);
}

// lifelineDeadline(ms): the process kills itself `ms` from now unless it has exited by then
// (armed before a normal exit that a stuck worker thread could hold up). Starts the watch
// thread when lifeline() was not called.
Napi::Value LifelineDeadline(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 1, "lifelineDeadline(ms)");
  int64_t ms = ArgInt(info, 0, "ms", 0, 60'000);
  g_deadline.store(NowMs() + ms);
  if (!g_started.exchange(true)) {
    g_parent.store(getppid());
    g_graceMs.store(60'000);
    std::thread(Watch).detach();
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterLifeline(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "lifeline", Lifeline);
  Export(env, exports, "lifelineDeadline", LifelineDeadline);
}

}  // namespace cuipc
