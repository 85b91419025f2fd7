// libcuipc_trace.so, per-call evidence and the callback itself: who called (the first frame
// outside CUDA, CUPTI and this library), what the driver says about an exported pointer, and
// the stream captures in progress; OnApi writes one record per traced call. See tracer.h for
// the library's other parts.
#include <dlfcn.h>
#include <execinfo.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "loader/cuda_errors.h"
#include "trace/tracer.h"

namespace cuipc_trace {
namespace {

thread_local int t_guard = 0;  // set while this library makes driver calls of its own
struct OpenRuntimeCall {
  size_t index;
  unsigned long long seq;
};
constexpr int kMaxDepth = 16;
thread_local OpenRuntimeCall t_runtime_stack[kMaxDepth];
thread_local int t_runtime_depth = 0;

bool IsCudaFrame(const Dl_info& info) {
  uintptr_t base = reinterpret_cast<uintptr_t>(info.dli_fbase);
  if (base == g_self_base || (g_cupti_base && base == g_cupti_base) || (g_driver.base && base == g_driver.base)) return true;
  const char* slash = std::strrchr(info.dli_fname, '/');
  const char* file = slash ? slash + 1 : info.dli_fname;
  return std::strncmp(file, "libcudart.so", 12) == 0 || std::strncmp(file, "libcupti.so", 11) == 0 ||
         std::strncmp(file, "libcuda.so", 10) == 0;
}

// The first frame outside CUDA, CUPTI and this library made the call (an LD_PRELOAD
// interposer, PyTorch's allocator, the program); the next few libraries say who called it.
void WriteCallers(JsonLine& j) {
  void* pcs[64];
  int n = backtrace(pcs, 64);
  const char* last = nullptr;
  int libs = 0;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(pcs[i], &info) == 0 || info.dli_fname == nullptr) continue;
    if (last == nullptr) {
      if (IsCudaFrame(info)) continue;
      j.Key("caller").Begin().Key("lib").Str(info.dli_fname).Key("symbol").Str(info.dli_sname)
          .Key("offset").Hex(reinterpret_cast<uintptr_t>(pcs[i]) - reinterpret_cast<uintptr_t>(info.dli_fbase)).End();
      j.Key("libs").BeginArray();
      last = info.dli_fname;
      continue;
    }
    if (std::strcmp(info.dli_fname, last) == 0 || IsCudaFrame(info)) continue;
    j.Str(info.dli_fname);
    last = info.dli_fname;
    if (++libs == 5) break;
  }
  if (last != nullptr) j.EndArray();
}

void WriteProvenance(JsonLine& j, unsigned long long ptr) {
  j.Key("provenance").Begin().Key("ptr").Hex(ptr);
  if (g_driver.pointer_get_attribute == nullptr) {
    j.Key("unavailable").Str("cuPointerGetAttribute was not found in libcuda.so.1").End();
    return;
  }
  struct Refusal {
    const char* name;
    int code;
  } refused[12];
  int refusals = 0;
  auto query = [&](CUpointer_attribute a, void* out, const char* name) {
    CUresult r = g_driver.pointer_get_attribute(out, a, ptr);
    if (r != CUDA_SUCCESS) refused[refusals++] = {name, static_cast<int>(r)};
    if (r != CUDA_SUCCESS) j.Key(name).Null();
    return r == CUDA_SUCCESS;
  };
  unsigned memory_type = 0;
  bool known = query(CU_POINTER_ATTRIBUTE_MEMORY_TYPE, &memory_type, "memoryType");
  if (known) j.Key("memoryType").Uint(memory_type);
  int device = -1;
  if (query(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, &device, "device")) j.Key("device").Int(device);
  unsigned managed = 0;
  if (query(CU_POINTER_ATTRIBUTE_IS_MANAGED, &managed, "isManaged")) j.Key("isManaged").Bool(managed != 0);
  CUdeviceptr start = 0;
  if (query(CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, &start, "rangeStart")) j.Key("rangeStart").Hex(start);
  size_t size = 0;
  if (query(CU_POINTER_ATTRIBUTE_RANGE_SIZE, &size, "rangeSize")) j.Key("rangeSize").Uint(size);
  unsigned legacy = 0;
  if (query(CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE, &legacy, "legacyIpcCapable")) j.Key("legacyIpcCapable").Bool(legacy != 0);
  unsigned long long handle_types = 0;
  if (query(CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES, &handle_types, "allowedHandleTypes")) j.Key("allowedHandleTypes").Uint(handle_types);
  void* pool = nullptr;
  if (query(CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, &pool, "mempool")) {
    if (pool) j.Key("mempool").Hex(U(pool)); else j.Key("mempool").Null();
  }
  // cuMemRetainAllocationHandle succeeds only on VMM memory (docs/hardware-facts.md#vmm-looks-like-device-memory).
  if (g_driver.retain_allocation_handle) {
    CUmemGenericAllocationHandle h = 0;
    CUresult r = g_driver.retain_allocation_handle(&h, reinterpret_cast<void*>(ptr));
    if (r == CUDA_SUCCESS && g_driver.release) g_driver.release(h);  // retain took a reference
    j.Key("retainCode").Int(r);
    if (known) j.Key("vmm").Bool(r == CUDA_SUCCESS); else j.Key("vmm").Null();
  }
  j.Key("refused").Begin();
  for (int i = 0; i < refusals; ++i) j.Key(refused[i].name).Int(refused[i].code);
  j.End().End();
}

struct Capturing {
  unsigned long long stream;
  int mode;
  long tid;
  unsigned long long seq;
};
std::mutex g_capture_mutex;
std::vector<Capturing>* g_capturing = new std::vector<Capturing>();  // never freed: calls may come during exit

void TrackCapture(Kind kind, int code, const Extracted& x, unsigned long long seq) {
  if (!x.has_stream) return;
  std::lock_guard<std::mutex> lock(g_capture_mutex);
  auto& v = *g_capturing;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].stream == x.stream) {
      v.erase(v.begin() + static_cast<long>(i));
      break;
    }
  }
  // The runtime's begin and the driver's begin inside it name the same stream: one entry.
  if (kind == Kind::CaptureBegin && code == 0) v.push_back({x.stream, x.mode, Tid(), seq});
}

// Every capture in progress (in global mode another thread's capture forbids this thread's
// unsafe calls too) and the calling thread's capture mode, read by the caller.
void WriteCapture(JsonLine& j, bool always, bool mode_known, CUstreamCaptureMode mode) {
  std::vector<Capturing> active;
  {
    std::lock_guard<std::mutex> lock(g_capture_mutex);
    active = *g_capturing;
  }
  if (!always && active.empty()) return;
  j.Key("capture").Begin();
  if (mode_known) j.Key("threadMode").Int(static_cast<int>(mode)); else j.Key("threadMode").Null();
  j.Key("active").BeginArray();
  for (const Capturing& c : active) {
    j.Begin().Key("stream").Hex(c.stream).Key("mode").Int(c.mode).Key("tid").Int(c.tid).Key("seq").Uint(c.seq)
        .Key("sameThread").Bool(c.tid == Tid()).End();
  }
  j.EndArray().End();
}

// While this library queries the driver, the thread is put in relaxed capture mode, so that
// no query of ours can invalidate a capture the program has in progress; then it is put back.
struct RelaxedCaptureMode {
  bool known = false;
  CUstreamCaptureMode previous = CU_STREAM_CAPTURE_MODE_GLOBAL;
  RelaxedCaptureMode() {
    if (g_driver.exchange_capture_mode == nullptr) return;
    CUstreamCaptureMode m = CU_STREAM_CAPTURE_MODE_RELAXED;
    if (g_driver.exchange_capture_mode(&m) == CUDA_SUCCESS) {
      known = true;
      previous = m;
    }
  }
  ~RelaxedCaptureMode() {
    if (!known) return;
    CUstreamCaptureMode m = previous;
    g_driver.exchange_capture_mode(&m);
  }
};

bool WantsCallers(Kind k) {
  return k == Kind::IpcGet || k == Kind::IpcOpen || k == Kind::Alloc || k == Kind::VmmCreate || k == Kind::VmmReserve ||
         k == Kind::VmmMap || k == Kind::ShareExport || k == Kind::ShareImport || k == Kind::CaptureBegin;
}

}  // namespace

void CUPTIAPI OnApi(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* data) {
  if (t_guard) return;
  const Traced* t = Lookup(domain, cbid);
  if (t == nullptr || data == nullptr) return;
  const auto* cb = static_cast<const CUpti_CallbackData*>(data);
  const bool runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
  const size_t index = static_cast<size_t>(t - kTraced);

  if (cb->callbackSite == CUPTI_API_ENTER) {
    // Numbered on entry, so a runtime call comes before the driver calls it makes.
    unsigned long long seq = ++g_seq;
    if (cb->correlationData) *cb->correlationData = seq;
    if (runtime) {
      if (t_runtime_depth < kMaxDepth) t_runtime_stack[t_runtime_depth] = {index, seq};
      ++t_runtime_depth;
    }
    return;
  }

  // The call during which the driver loaded this library reaches us on exit only.
  unsigned long long seq = cb->correlationData ? *cb->correlationData : 0;
  if (seq == 0 || seq > g_seq.load()) seq = ++g_seq;
  if (runtime && t_runtime_depth > 0) --t_runtime_depth;
  int code = cb->functionReturnValue ? *static_cast<const int*>(cb->functionReturnValue) : -1;

  t_guard = 1;
  JsonLine j;
  j.Begin().Key("type").Str("call").Key("seq").Uint(seq).Key("t").Double(Millis(), 3).Key("tid").Int(Tid());
  j.Key("api").Str(runtime ? "runtime" : "driver").Key("call").Str(CallName(index)).Key("kind").Str(KindName(t->kind));
  j.Key("code").Int(code);
  // The code's name and message from the project's one table, so a trace reads without CUDA.
  if (const cuerrors::ErrorRow* e = cuerrors::Find(code, !runtime)) j.Key("codeName").Str(e->name).Key("codeMessage").Str(e->text);
  if (t->memory) j.Key("memory").Str(t->memory);
  Extracted x;
  if (cb->functionParams) t->read(j, cb->functionParams, code == 0, x);
  if (!runtime && t_runtime_depth > 0 && t_runtime_depth <= kMaxDepth) {
    const OpenRuntimeCall& parent = t_runtime_stack[t_runtime_depth - 1];
    j.Key("within").Begin().Key("call").Str(CallName(parent.index)).Key("seq").Uint(parent.seq).End();
  }
  if (WantsCallers(t->kind)) WriteCallers(j);
  if (t->kind == Kind::CaptureBegin || t->kind == Kind::CaptureEnd) TrackCapture(t->kind, code, x, seq);
  if (t->kind == Kind::IpcGet || t->kind == Kind::IpcOpen) {
    RelaxedCaptureMode relaxed;
    if (x.has_ptr) WriteProvenance(j, x.ptr);
    WriteCapture(j, true, relaxed.known, relaxed.previous);
  } else if (t->kind == Kind::Alloc || t->kind == Kind::VmmCreate || t->kind == Kind::VmmMap) {
    bool capturing;
    {
      std::lock_guard<std::mutex> lock(g_capture_mutex);
      capturing = !g_capturing->empty();
    }
    if (capturing) {
      RelaxedCaptureMode relaxed;
      WriteCapture(j, false, relaxed.known, relaxed.previous);
    }
  }
  j.End();
  WriteLine(j.Line());
  ++g_calls;
  t_guard = 0;
}

}  // namespace cuipc_trace
