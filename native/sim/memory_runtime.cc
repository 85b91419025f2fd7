// Simulated device memory, the runtime's allocation calls (cudaMalloc, cudaMallocAsync,
// cudaMallocManaged, cudaHostAlloc and their frees) and its synchronous cudaMemset and
// cudaMemcpy. Capture rules and argument checks are here; the registry is memory.cc's.
#include <cstring>
#include <mutex>

#include "memory_internal.h"

namespace cuipcsim {
namespace impl {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  if (kMallocIsCaptureUnsafe)
    if (int e = checkUnsafeDuringCapture()) return e;
  return allocate(ptr, size, Kind::Device, true);
}

// cudaFree(nullptr) is the idiom that creates the context: success.
cudaError_t cudaFree(void* ptr) {
  if (int e = runtimeInit()) return e;
  // not recorded: cudaFree during capture. The docs count it among the calls that may
  // synchronise implicitly, which capture forbids (global/thread-local): 900.
  if (int e = checkUnsafeDuringCapture()) return e;
  if (!ptr) return cuabi::kSuccess;
  // not recorded: the runtime frees pool and managed memory with cudaFree as well; host,
  // VMM and imported memory are cudaErrorInvalidValue (they have their own release calls).
  return release(ptr, {Kind::Device, Kind::Pool, Kind::Managed});
}

// On a capturing stream the allocation becomes a node of the graph. recorded (H100, PyTorch's
// cudaMallocAsync backend, docs/hardware-facts.md#graph-allocation): until the graph first
// runs, every pointer attribute of that memory is CUDA_ERROR_INVALID_VALUE; afterwards it is
// pool memory (device, not legacy-IPC-capable, cudaIpcGetMemHandle 1). The simulator reserves
// the memory at once and answers as recorded.
cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  {
    std::lock_guard<std::mutex> lock(stateMutex());
    if (!isValidStreamLocked(stream)) return cuabi::kErrorInvalidResourceHandle;
  }
  if (int e = allocate(ptr, size, Kind::Pool, true)) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  const uintptr_t base = reinterpret_cast<uintptr_t>(*ptr);
  if (recordGraphAllocationLocked(stream, base))
    if (Alloc* a = findAllocLocked(base)) a->graphPending = true;
  return cuabi::kSuccess;
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  {
    std::lock_guard<std::mutex> lock(stateMutex());
    if (!isValidStreamLocked(stream)) return cuabi::kErrorInvalidResourceHandle;
  }
  if (!ptr) return cuabi::kSuccess;
  return release(ptr, {Kind::Pool, Kind::Device});
}

cudaError_t cudaMallocManaged(void** ptr, size_t size, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  // cudaMemAttachGlobal (1) or cudaMemAttachHost (2), exactly one.
  if (flags != 1 && flags != 2) return cuabi::kErrorInvalidValue;
  if (int e = checkUnsafeDuringCapture()) return e;  // not recorded: as cudaMalloc
  return allocate(ptr, size, Kind::Managed, true);
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  if (flags & ~7u) return cuabi::kErrorInvalidValue;  // Portable | Mapped | WriteCombined
  if (int e = checkUnsafeDuringCapture()) return e;  // not recorded: as cudaMalloc
  return allocate(ptr, size, Kind::Host, false);
}

cudaError_t cudaFreeHost(void* ptr) {
  if (int e = runtimeInit()) return e;
  if (int e = checkUnsafeDuringCapture()) return e;  // not recorded: as cudaFree
  if (!ptr) return cuabi::kSuccess;
  return release(ptr, {Kind::Host});
}

// Synchronous copies and sets run on the legacy default stream; inside simulated device
// memory the whole range must be accessible (else cudaErrorInvalidValue), outside it is
// plain host memory. not recorded: real devices reject pageable host memory in cudaMemset
// and check copy directions; here every address is host memory, so both are accepted.
cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  if (int e = checkLegacyStreamDuringCapture()) return e;
  if (count == 0) return cuabi::kSuccess;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (int e = checkCopySide(reinterpret_cast<uintptr_t>(ptr), count, true)) return e;
  static char chunk[1 << 16];
  std::memset(chunk, value & 0xff, sizeof chunk);
  for (size_t done = 0; done < count;) {
    size_t n = count - done < sizeof chunk ? count - done : sizeof chunk;
    if (!safeCopy(static_cast<char*>(ptr) + done, chunk, n)) return cuabi::kErrorInvalidValue;
    done += n;
  }
  return cuabi::kSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, int kind) {
  if (int e = runtimeInit()) return e;
  if (kind < 0 || kind > cuabi::kMemcpyDefault) return 21;  // cudaErrorInvalidMemcpyDirection
  if (count == 0) return cuabi::kSuccess;
  if (!dst || !src) return cuabi::kErrorInvalidValue;
  if (int e = checkLegacyStreamDuringCapture()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (int e = checkCopySide(reinterpret_cast<uintptr_t>(dst), count, true)) return e;
  if (int e = checkCopySide(reinterpret_cast<uintptr_t>(src), count, false)) return e;
  return safeCopy(dst, src, count) ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

}  // namespace impl
}  // namespace cuipcsim
