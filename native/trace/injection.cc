// libcuipc_trace.so: a CUPTI injection library. The CUDA driver loads it when
// CUDA_INJECTION64_PATH names it and calls InitializeInjection() from cuInit, so the traced
// program changes in nothing. It subscribes to the runtime and driver API callbacks, enables
// only the callback ids it needs (one cuptiEnableCallback each, never a whole domain), and
// writes one JSON line per call to <CUIPC_TRACE_DIR>/cuipc-trace[-<run>]-<pid>.jsonl: the
// CUDA IPC, allocation, VMM, shareable-handle and stream-capture calls with their return
// codes, for the IPC calls the pointer's provenance and the capture state, for allocations
// the library that made the call. The format is documented in lib/trace/format.ts.
//
// libcupti is opened with dlopen, never linked, so this library loads (and says why it
// cannot trace) where CUPTI is missing. Driver calls of its own (pointer attributes) are
// fetched from the libcuda.so.1 the process already has, and a thread-local guard keeps
// their callbacks out of the trace.
//
// This file is the start and the end; tracer.h lists the library's other parts.
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "trace/tracer.h"

#define CUIPC_TRACE_EXPORT extern "C" __attribute__((visibility("default")))

namespace cuipc_trace {
namespace {

constexpr int kCuptiMultipleSubscribers = 39;  // CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED

void Note(const std::string& message) {
  // The traced program's stderr hears from us only when tracing could not start.
  std::fprintf(stderr, "cuipc trace (pid %d): %s\n", static_cast<int>(getpid()), message.c_str());
}

std::string CuptiMessage(CUptiResult r) {
  const char* s = nullptr;
  if (g_cupti.result_string && g_cupti.result_string(r, &s) == CUPTI_SUCCESS && s) return s;
  return "CUPTI error " + std::to_string(static_cast<int>(r));
}

}  // namespace

void WriteEnd() {
  JsonLine j;
  j.Begin().Key("type").Str("end").Key("t").Double(Millis(), 3).Key("calls").Uint(g_calls.load())
      .Key("writeErrors").Uint(g_write_errors.load()).End();
  WriteLine(j.Line());
}

}  // namespace cuipc_trace

// Called by the CUDA driver from cuInit when CUDA_INJECTION64_PATH names this library.
CUIPC_TRACE_EXPORT int InitializeInjection(void) {
  using namespace cuipc_trace;
  static std::atomic<bool> started{false};
  if (started.exchange(true)) return 1;
  g_t0 = std::chrono::steady_clock::now();
  FillNames();
  g_self_base = BaseOf(reinterpret_cast<void*>(&InitializeInjection), &g_self_path);
  {
    // backtrace() loads libgcc_s on first use; do it here, not inside a CUDA call.
    void* warm[2];
    backtrace(warm, 2);
  }
  LoadDriver();

  std::string open_error;
  if (!OpenOutput(&open_error)) {
    Note("cannot write the trace (" + open_error + "); this process is not traced. Set CUIPC_TRACE_DIR to a writable folder.");
    return 1;
  }
  WriteLine(ProcessLine(0));

  JsonLine status;
  status.Begin().Key("type").Str("status").Key("t").Double(Millis(), 3);
  std::vector<Attempt> attempts;
  if (!LoadCupti(attempts)) {
    status.Key("state").Str("cupti-unavailable")
        .Key("message").Str("libcupti was not found or could not be loaded; set CUIPC_LIBCUPTI to its path (it ships with the CUDA toolkit, and in the nvidia-cuda-cupti pip wheel)");
    status.Key("searched").BeginArray();
    for (const Attempt& a : attempts) status.Begin().Key("candidate").Str(a.candidate).Key("error").Str(a.error).End();
    status.EndArray().End();
    WriteLine(status.Line());
    Note("CUPTI unavailable: this process is not traced (set CUIPC_LIBCUPTI to libcupti.so's path)");
    return 1;
  }
  uint32_t version = 0;
  if (g_cupti.version) g_cupti.version(&version);
  status.Key("cupti").Begin().Key("path").Str(g_cupti.path).Key("version").Uint(version).End();

  CUpti_SubscriberHandle subscriber = nullptr;
  CUptiResult r = g_cupti.subscribe(&subscriber, reinterpret_cast<CUpti_CallbackFunc>(OnApi), nullptr);
  if (r != CUPTI_SUCCESS) {
    bool busy = static_cast<int>(r) == kCuptiMultipleSubscribers;
    status.Key("state").Str(busy ? "subscriber-busy" : "cupti-error").Key("code").Int(static_cast<int>(r))
        .Key("message").Str(CuptiMessage(r)).End();
    WriteLine(status.Line());
    Note(busy ? "another tool (a profiler: Nsight Systems, torch.profiler/Kineto, DCGM profiling) already holds the CUPTI "
                "subscriber; this process is not traced. Run without the other tool."
              : "cuptiSubscribe failed (" + CuptiMessage(r) + "); this process is not traced");
    return 1;
  }
  int enabled = 0;
  status.Key("state").Str("tracing");
  status.Key("notEnabled").BeginArray();
  for (size_t i = 0; i < kTracedCount; ++i) {
    CUptiResult e = g_cupti.enable(1, subscriber, kTraced[i].domain, kTraced[i].cbid);
    if (e == CUPTI_SUCCESS) ++enabled;
    else status.Begin().Key("call").Str(CallName(i)).Key("code").Int(static_cast<int>(e)).End();
  }
  status.EndArray().Key("enabled").Int(enabled).End();
  WriteLine(status.Line());
  std::atexit(WriteEnd);
  return 1;
}