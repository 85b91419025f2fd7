// What the parts of libcuipc_trace.so (the CUPTI injection library) share. The library is
// one shared object split by concern, one file each:
//   calls.cc       what is traced: one row per callback id, and the argument readers
//   libraries.cc   the libraries opened at run time (libcupti, the process's libcuda.so.1)
//   output.cc      the trace file: one per process, written a whole line at a time
//   process.cc     the process line: who this is, and the environment the hazard rules read
//   evidence.cc    per-call evidence (callers, pointer provenance, capture state), OnApi
//   injection.cc   start and end: InitializeInjection, the only exported symbol
//   runtime.cc     the C++ runtime pieces used (std::string, operator new), without exceptions
// Nothing here is exported (a version script keeps InitializeInjection alone visible); the
// names are shared between the files, and with test/trace/native/callback_harness.cc, which
// drives the callback code without a GPU.
#pragma once
#include <cupti.h>
#ifndef CUIPC_CUPTI_H_HAS_PARAMS
// CUPTI 13's cupti.h includes the params structs itself (they have no include guards).
#include <generated_cuda_meta.h>
#include <generated_cuda_runtime_api_meta.h>
#endif
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trace/json_line.h"

namespace cuipc_trace {

constexpr int kFormatVersion = 1;

// ---- calls.cc: what is traced ----

enum class Kind {
  IpcGet, IpcOpen, IpcClose, IpcEvent,
  Alloc, Free,
  VmmCreate, VmmRelease, VmmReserve, VmmUnreserve, VmmMap, VmmUnmap,
  ShareExport, ShareImport,
  CaptureBegin, CaptureEnd,
};

const char* KindName(Kind k);

// What a params reader found that the record needs beyond its arguments.
struct Extracted {
  bool has_ptr = false;        // a pointer whose provenance to record (IPC export)
  unsigned long long ptr = 0;
  bool has_stream = false;     // capture begin/end
  unsigned long long stream = 0;
  int mode = 0;                // CUstreamCaptureMode / cudaStreamCaptureMode (same values)
};

using ParamsReader = void (*)(JsonLine& j, const void* params, bool ok, Extracted& x);

struct Traced {
  CUpti_CallbackDomain domain;
  CUpti_CallbackId cbid;
  const char* name;
  Kind kind;
  const char* memory;  // allocations: device, async, pool, managed, host, pitch
  ParamsReader read;
};

inline unsigned long long U(const void* p) { return reinterpret_cast<unsigned long long>(p); }

// The callback ids enabled, nothing else.
extern const Traced kTraced[];
extern const size_t kTracedCount;
// The row of a callback id, or nullptr when it is not traced.
const Traced* Lookup(CUpti_CallbackDomain domain, CUpti_CallbackId cbid);
// Fills the lookup tables and the call names; once, before the first callback.
void FillNames();
// kTraced[index]'s name in records: CUPTI's, without the runtime's _vNNNN suffix.
const char* CallName(size_t index);

// ---- libraries.cc: opened at run time ----

using cuptiSubscribe_t = CUptiResult (*)(CUpti_SubscriberHandle*, CUpti_CallbackFunc, void*);
using cuptiEnableCallback_t = CUptiResult (*)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain, CUpti_CallbackId);
using cuptiGetResultString_t = CUptiResult (*)(CUptiResult, const char**);
using cuptiGetVersion_t = CUptiResult (*)(uint32_t*);

struct Cupti {
  void* lib = nullptr;
  std::string path;
  cuptiSubscribe_t subscribe = nullptr;
  cuptiEnableCallback_t enable = nullptr;
  cuptiGetResultString_t result_string = nullptr;
  cuptiGetVersion_t version = nullptr;
};

using cuPointerGetAttribute_t = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
using cuMemRetainAllocationHandle_t = CUresult (*)(CUmemGenericAllocationHandle*, void*);
using cuMemRelease_t = CUresult (*)(CUmemGenericAllocationHandle);
using cuThreadExchangeStreamCaptureMode_t = CUresult (*)(CUstreamCaptureMode*);
using cuDriverGetVersion_t = CUresult (*)(int*);

struct Driver {
  uintptr_t base = 0;
  cuPointerGetAttribute_t pointer_get_attribute = nullptr;
  cuMemRetainAllocationHandle_t retain_allocation_handle = nullptr;
  cuMemRelease_t release = nullptr;
  cuThreadExchangeStreamCaptureMode_t exchange_capture_mode = nullptr;
  cuDriverGetVersion_t driver_get_version = nullptr;
};

extern Cupti g_cupti;
extern Driver g_driver;
extern uintptr_t g_self_base;   // this library's load address
extern uintptr_t g_cupti_base;  // libcupti's
extern std::string g_self_path;

// The load address of the object that holds `symbol` (and its path), or 0.
uintptr_t BaseOf(const void* symbol, std::string* path = nullptr);
// Fetches our own driver calls from the libcuda.so.1 the process already has.
void LoadDriver();

struct Attempt {
  std::string candidate;
  std::string error;
};
// Finds and opens libcupti into g_cupti; `attempts` says what was tried when it fails.
bool LoadCupti(std::vector<Attempt>& attempts);

// ---- output.cc: the trace file ----

extern std::string g_file;
extern std::atomic<unsigned long long> g_seq;
extern std::atomic<unsigned long long> g_calls;
extern std::atomic<unsigned long long> g_write_errors;
extern std::chrono::steady_clock::time_point g_t0;

double Millis();  // since g_t0
long Tid();       // the calling thread's id, right after a fork too
// CUIPC_TRACE_RUN with only safe characters, or "".
std::string RunId();
bool OpenOutput(std::string* error);
// Writes one whole line; after a fork, first opens the child's own file.
void WriteLine(const std::string& line);

// ---- process.cc: the process line ----

std::string ProcessLine(pid_t forked_from);

// ---- evidence.cc: the callback ----

void CUPTIAPI OnApi(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data);

// ---- injection.cc: start and end ----

void WriteEnd();

}  // namespace cuipc_trace
