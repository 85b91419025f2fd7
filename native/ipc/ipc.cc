// Legacy CUDA IPC (memory and event handles), and VMM sharing through POSIX file
// descriptors, which is how NCCL and PyTorch share memory that legacy IPC refuses.
#include "ipc/ipc.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "loader/loader.h"
#include "memory/memory.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace cuipc {
namespace {

std::mutex g_mutex;
std::map<uint64_t, size_t> g_imported_vmm;  // address -> mapped size

constexpr size_t kHandleBytes = cuabi::kIpcHandleBytes;

Napi::Value HandleResult(Napi::Env env, const Outcome& o, const void* handle) {
  return MakeResult(env, o, BytesValue(env, handle, kHandleBytes));
}

// One IPC handle (memory or event) in a Buffer / Uint8Array, of exactly kHandleBytes.
void ArgHandle(const Napi::CallbackInfo& info, size_t index, const char* name, char out[kHandleBytes]) {
  Napi::Uint8Array bytes = ArgBytesView(info, index, name);
  if (bytes.ByteLength() != kHandleBytes) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be exactly " + std::to_string(kHandleBytes) +
                                                " bytes (a cudaIpcMemHandle_t), got " + std::to_string(bytes.ByteLength()));
  }
  std::memcpy(out, bytes.Data(), kHandleBytes);
}

// The hot path writes into memory the caller owns and returns only the code: lib/cuda builds
// the result objects in JavaScript, where a fixed-shape literal costs a fraction of building
// one through Node-API.
Napi::Value IpcGetMemHandleInto(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "ipcGetMemHandleInto(ptr, out)");
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  auto* out = ArgTyped<cudaIpcMemHandle_t>(info, 1, "out (a 64-byte Uint8Array)", napi_uint8_array, kHandleBytes);
  return Napi::Number::New(info.Env(), CUIPC_RT(cudaIpcGetMemHandle, out, reinterpret_cast<void*>(ptr)).code);
}

// Handle i goes to out[64 i, 64 i + 64) and its code to codes[i]; returns how many failed.
Napi::Value IpcGetMemHandlePacked(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 3, "ipcGetMemHandlePacked(ptrs, out, codes)");
  PtrList ptrs = ArgPtrs(info, 0, "ptrs");
  auto* out = ArgTyped<cudaIpcMemHandle_t>(info, 1, "out (a Uint8Array of 64 bytes per pointer)", napi_uint8_array, kHandleBytes * ptrs.size);
  auto* codes = ArgTyped<int32_t>(info, 2, "codes (an Int32Array, one per pointer)", napi_int32_array, ptrs.size);
  auto fn = GetLoader().fn.cudaIpcGetMemHandle;
  int missing = GetLoader().MissingCode(Api::Runtime);
  uint32_t failed = 0;
  for (size_t i = 0; i < ptrs.size; i++) {
    codes[i] = fn ? fn(&out[i], reinterpret_cast<void*>(ptrs.data[i])) : missing;
    failed += codes[i] != 0;
  }
  return Napi::Number::New(info.Env(), failed);
}

unsigned ArgFlags(const Napi::CallbackInfo& info) { return static_cast<unsigned>(ArgInt(info, 1, "flags", 0, 0xffffffffLL)); }

Napi::Value IpcOpenMemHandle(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "ipcOpenMemHandle(handle, flags)");
  cudaIpcMemHandle_t h;
  ArgHandle(info, 0, "handle", h.reserved);
  unsigned flags = ArgFlags(info);
  void* p = nullptr;
  Outcome o = CUIPC_RT(cudaIpcOpenMemHandle, &p, h, flags);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(p)));
}

Napi::Value IpcOpenMemHandleAsync(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "ipcOpenMemHandleAsync(handle, flags)");
  auto h = std::make_shared<cudaIpcMemHandle_t>();
  ArgHandle(info, 0, "handle", h->reserved);
  unsigned flags = ArgFlags(info);
  auto p = std::make_shared<void*>(nullptr);
  return RunAsync(info.Env(), "cuipc.ipcOpenMemHandle",
                  {[h, flags, p]() { return CUIPC_RT(cudaIpcOpenMemHandle, p.get(), *h, flags); },
                   [p](Napi::Env env, const Outcome& o) -> Napi::Value {
                     return MakeResult(env, o, PtrValue(env, reinterpret_cast<uint64_t>(*p)));
                   }});
}

// Opens handle i (bytes [64 i, 64 i + 64) of handles) into ptrs[i], codes[i], all on one
// worker thread: a probe opens every peer's bases, and one thread hop per handle costs more
// than the opens. Resolves to how many failed. The typed arrays must stay untouched until then.
Napi::Value IpcOpenMemHandlePackedAsync(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 4, "ipcOpenMemHandlePackedAsync(handles, flags, ptrs, codes)");
  Napi::Uint8Array handlesView = ArgBytesView(info, 0, "handles");
  if (handlesView.ByteLength() % kHandleBytes != 0) {
    throw Napi::RangeError::New(info.Env(), "handles must hold whole " + std::to_string(kHandleBytes) + "-byte handles, got " +
                                                std::to_string(handlesView.ByteLength()) + " bytes");
  }
  size_t count = handlesView.ByteLength() / kHandleBytes;
  unsigned flags = ArgFlags(info);
  auto* ptrs = ArgTyped<uint64_t>(info, 2, "ptrs (a BigUint64Array, one per handle)", napi_biguint64_array, count);
  auto* codes = ArgTyped<int32_t>(info, 3, "codes (an Int32Array, one per handle)", napi_int32_array, count);
  const auto* handles = reinterpret_cast<const cudaIpcMemHandle_t*>(handlesView.Data());
  // Keep the arrays alive while the worker writes into them.
  auto keep = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
  for (size_t i : {0, 2, 3}) keep->push_back(Napi::Persistent(info[i]));  // the objects, not the flags
  auto failed = std::make_shared<uint32_t>(0);
  return RunAsync(info.Env(), "cuipc.ipcOpenMemHandlePacked",
                  {[handles, count, flags, ptrs, codes, failed]() {
                     // Per-handle codes go into `codes`; the batch itself always completes.
                     for (size_t i = 0; i < count; i++) {
                       void* p = nullptr;
                       Outcome o = CUIPC_RT(cudaIpcOpenMemHandle, &p, handles[i], flags);
                       ptrs[i] = reinterpret_cast<uint64_t>(p);
                       codes[i] = o.code;
                       if (o.code != 0) ++*failed;
                     }
                     return Outcome{0, "cudaIpcOpenMemHandle", Api::Runtime};
                   },
                   [keep, failed](Napi::Env env, const Outcome&) -> Napi::Value { return Napi::Number::New(env, *failed); }});
}

Napi::Value IpcCloseMemHandle(const Napi::CallbackInfo& info) {
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  return MakeStatus(info.Env(), CUIPC_RT(cudaIpcCloseMemHandle, reinterpret_cast<void*>(ptr)));
}

cudaEvent_t EventArg(const Napi::CallbackInfo& info, size_t i) { return reinterpret_cast<cudaEvent_t>(ArgPtr(info, i, "event")); }

Napi::Value EventCreate(const Napi::CallbackInfo& info) {
  bool interprocess = ArgBool(info, 0, "interprocess");
  cudaEvent_t e = nullptr;
  unsigned flags = cuabi::kEventDisableTiming | (interprocess ? cuabi::kEventInterprocess : 0);
  Outcome o = CUIPC_RT(cudaEventCreateWithFlags, &e, flags);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(e)));
}

Napi::Value EventDestroy(const Napi::CallbackInfo& info) { return MakeStatus(info.Env(), CUIPC_RT(cudaEventDestroy, EventArg(info, 0))); }

Napi::Value IpcGetEventHandle(const Napi::CallbackInfo& info) {
  cudaIpcEventHandle_t h{};
  Outcome o = CUIPC_RT(cudaIpcGetEventHandle, &h, EventArg(info, 0));
  return HandleResult(info.Env(), o, &h);
}

Napi::Value IpcOpenEventHandle(const Napi::CallbackInfo& info) {
  cudaIpcEventHandle_t h;
  ArgHandle(info, 0, "handle", h.reserved);
  cudaEvent_t e = nullptr;
  Outcome o = CUIPC_RT(cudaIpcOpenEventHandle, &e, h);
  return MakeResult(info.Env(), o, PtrValue(info.Env(), reinterpret_cast<uint64_t>(e)));
}

Napi::Value VmmExportFd(const Napi::CallbackInfo& info) {
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  CUmemGenericAllocationHandle h = 0;
  Outcome o = CUIPC_DRV(cuMemRetainAllocationHandle, &h, reinterpret_cast<void*>(ptr));
  if (o.code != 0) return MakeStatus(info.Env(), o);
  int fd = -1;
  o = CUIPC_DRV(cuMemExportToShareableHandle, &fd, h, cuabi::kMemHandleTypePosixFd, 0);
  CUIPC_DRV(cuMemRelease, h);
  return MakeResult(info.Env(), o, Napi::Number::New(info.Env(), fd));
}

Napi::Value VmmImportFd(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "vmmImportFd(fd, bytes)");
  int fd = static_cast<int>(ArgInt(info, 0, "fd", 0, INT32_MAX));
  size_t bytes = ArgBytes(info, 1, "bytes");
  if (bytes == 0) throw Napi::RangeError::New(info.Env(), "bytes must be a positive integer, got 0");
  CUmemGenericAllocationHandle h = 0;
  Outcome o = CUIPC_DRV(cuMemImportFromShareableHandle, &h, reinterpret_cast<void*>(static_cast<intptr_t>(fd)), cuabi::kMemHandleTypePosixFd);
  if (o.code != 0) return MakeStatus(info.Env(), o);
  uint64_t ptr = 0;
  size_t mapped = 0;
  o = MapVmm(h, bytes, &ptr, &mapped);
  CUIPC_DRV(cuMemRelease, h);  // the mapping keeps the memory alive
  if (o.code == 0) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_imported_vmm[ptr] = mapped;
  }
  return MakeResult(info.Env(), o, PtrValue(info.Env(), ptr));
}

Napi::Value VmmUnmapImported(const Napi::CallbackInfo& info) {
  uint64_t ptr = ArgPtr(info, 0, "ptr");
  size_t mapped = 0;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_imported_vmm.find(ptr);
    if (it == g_imported_vmm.end()) throw Napi::RangeError::New(info.Env(), "vmmUnmapImported: ptr was not mapped by vmmImportFd");
    mapped = it->second;
    g_imported_vmm.erase(it);
  }
  return MakeStatus(info.Env(), UnmapVmm(ptr, mapped));
}

// Duplicates another process's descriptor, as PyTorch shares expandable segments: pidfd_getfd
// (Linux 5.6+, needs ptrace permission), then reopening /proc/<pid>/fd/<fd>.
Napi::Value FdFromProcess(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "fdFromProcess(pid, fd)");
  int pid = static_cast<int>(ArgInt(info, 0, "pid", 1, INT32_MAX));
  int fd = static_cast<int>(ArgInt(info, 1, "fd", 0, INT32_MAX));
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  std::string errors;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    int got = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    int err = errno;
    close(pidfd);
    if (got >= 0) {
      r.Set("ok", true);
      r.Set("fd", got);
      r.Set("errno", 0);
      r.Set("message", "");
      r.Set("via", "pidfd_getfd");
      return r;
    }
    errors = std::string("pidfd_getfd: ") + std::strerror(err);
  } else {
    errors = std::string("pidfd_open: ") + std::strerror(errno);
  }
  std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  int got = open(path.c_str(), O_RDWR | O_CLOEXEC);
  int err = errno;
  r.Set("ok", got >= 0);
  r.Set("fd", got);
  r.Set("errno", got >= 0 ? 0 : err);
  r.Set("message", got >= 0 ? "" : errors + "; open " + path + ": " + std::strerror(err));
  r.Set("via", "/proc/pid/fd");
  return r;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(ArgInt(info, 0, "fd", 0, INT32_MAX));
  close(fd);
  return info.Env().Undefined();
}

}  // namespace

void RegisterIpc(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "ipcGetMemHandleInto", IpcGetMemHandleInto);
  Export(env, exports, "ipcGetMemHandlePacked", IpcGetMemHandlePacked);
  Export(env, exports, "ipcOpenMemHandle", IpcOpenMemHandle);
  Export(env, exports, "ipcOpenMemHandleAsync", IpcOpenMemHandleAsync);
  Export(env, exports, "ipcOpenMemHandlePackedAsync", IpcOpenMemHandlePackedAsync);
  Export(env, exports, "ipcCloseMemHandle", IpcCloseMemHandle);
  Export(env, exports, "eventCreate", EventCreate);
  Export(env, exports, "eventDestroy", EventDestroy);
  Export(env, exports, "ipcGetEventHandle", IpcGetEventHandle);
  Export(env, exports, "ipcOpenEventHandle", IpcOpenEventHandle);
  Export(env, exports, "vmmExportFd", VmmExportFd);
  Export(env, exports, "vmmImportFd", VmmImportFd);
  Export(env, exports, "vmmUnmapImported", VmmUnmapImported);
  Export(env, exports, "fdFromProcess", FdFromProcess);
  Export(env, exports, "closeFd", CloseFd);
}

}  // namespace cuipc
