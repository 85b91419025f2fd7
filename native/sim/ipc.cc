// Legacy CUDA IPC (cudaIpcGetMemHandle / cudaIpcOpenMemHandle / cudaIpcCloseMemHandle) and
// VMM export/import (cuMemExportToShareableHandle / cuMemImportFromShareableHandle with
// POSIX file descriptors) on the simulated device. Which pointers may be exported is
// decided in policy.h from the recording.
#include "ipc.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "memory.h"

namespace cuipcsim {

void encodeHandle(WireHandle& h, uint16_t kind) {
  std::memcpy(h.magic, "CUIPCSIM", 8);
  h.version = kWireVersion;
  h.kind = kind;
  h.pid = static_cast<int32_t>(getpid());
}

bool decodeHandle(const void* bytes, uint16_t kind, WireHandle* out) {
  std::memcpy(out, bytes, sizeof *out);
  return std::memcmp(out->magic, "CUIPCSIM", 8) == 0 && out->version == kWireVersion && out->kind == kind &&
         out->pid > 0 && out->fd >= 0 && out->size > 0;
}

int openExporterFd(const WireHandle& h) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd/%d", h.pid, h.fd);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_ino != h.inode || static_cast<uint64_t>(st.st_dev) != h.fsdev ||
      static_cast<uint64_t>(st.st_size) < h.size) {
    close(fd);
    return -1;
  }
  return fd;
}

namespace impl {

// recorded: success on cudaMalloc memory, interior pointers included (the handle names the
// whole allocation); cudaErrorInvalidValue on pool, managed, host, VMM memory and on
// pointers that are not CUDA memory; success during capture in every mode.
cudaError_t cudaIpcGetMemHandle(cudaIpcMemHandle_t* handle, void* ptr) {
  if (int e = runtimeInit()) return e;
  if (!handle) return cuabi::kErrorInvalidValue;
  if (kIpcGetMemHandleIsCaptureUnsafe)
    if (int e = checkUnsafeDuringCapture()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Alloc* a = findAllocLocked(reinterpret_cast<uintptr_t>(ptr));
  if (!a) return kIpcGetUnknownPointer;
  if (int e = policyFor(a->kind).ipcGetMemHandleResult) return e;
  if (a->fd < 0) return cuabi::kErrorInvalidValue;
  a->exported = true;
  WireHandle h{};
  encodeHandle(h, kWireMemory);
  h.fd = a->fd;
  h.device = a->physical;
  h.inode = a->inode;
  h.fsdev = a->fsdev;
  h.size = a->size;
  h.bufferId = a->bufferId;
  std::memcpy(handle->reserved, &h, sizeof h);
  return cuabi::kSuccess;
}

// recorded: another process on the same device -> success, and the imported pointer is not
// legacy-IPC-capable; the exporting process itself -> 201; 64 zero bytes -> 1; a handle
// taken before the exporter freed the memory -> still success.
cudaError_t cudaIpcOpenMemHandle(void** ptr, cudaIpcMemHandle_t handle, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  // not recorded: flags other than 0 and cudaIpcMemLazyEnablePeerAccess; the docs name
  // only that flag. 0 is accepted as well (peer access is not modelled per mapping).
  if (flags & ~cuabi::kIpcMemLazyEnablePeerAccess) return cuabi::kErrorInvalidValue;
  if (kIpcOpenMemHandleIsCaptureUnsafe)
    if (int e = checkUnsafeDuringCapture()) return e;
  WireHandle h;
  if (!decodeHandle(handle.reserved, kWireMemory, &h) || h.device < 0 || h.device >= physicalDeviceCount())
    return kIpcOpenGarbage;
  if (h.pid == static_cast<int32_t>(getpid())) return kIpcOpenOwnHandle;
  int self = currentPhysicalDevice();
  // The docs: a handle of a device this process cannot see may still be opened, but the
  // memory must be reachable from the current device.
  if (!peerReachable(self, h.device)) return kIpcOpenNotPeerReachable;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (kIpcOpenTwiceRefcounts) {
    if (Alloc* existing = findImportLocked(h.pid, h.fd, h.inode, self)) {
      existing->refcount++;
      *ptr = reinterpret_cast<void*>(existing->base);
      return cuabi::kSuccess;
    }
  }
  int fd = openExporterFd(h);
  if (fd < 0) return kIpcOpenExporterGone;
  size_t mapped = pageRound(h.size);
  void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the memory alive
  if (p == MAP_FAILED) return kIpcOpenExporterGone;
  Alloc a;
  a.base = reinterpret_cast<uintptr_t>(p);
  a.size = h.size;
  a.mappedBytes = mapped;
  a.kind = Kind::Imported;
  a.physical = h.device;
  a.inode = h.inode;
  a.fsdev = h.fsdev;
  a.exporterPid = h.pid;
  a.exporterFd = h.fd;
  a.contextPhysical = self;
  a.refcount = 1;
  a.bufferId = nextBufferIdLocked();
  addAllocLocked(a);
  *ptr = p;
  return cuabi::kSuccess;
}

// not recorded: closing a pointer that cudaIpcOpenMemHandle did not return; the docs list
// cudaErrorInvalidValue among the codes.
cudaError_t cudaIpcCloseMemHandle(void* ptr) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Alloc* a = findAllocLocked(reinterpret_cast<uintptr_t>(ptr));
  if (!a || a->kind != Kind::Imported || a->base != reinterpret_cast<uintptr_t>(ptr))
    return cuabi::kErrorInvalidValue;
  if (--a->refcount > 0) return cuabi::kSuccess;
  uintptr_t base = a->base;
  size_t mapped = a->mappedBytes;
  removeAllocLocked(base);
  munmap(reinterpret_cast<void*>(base), mapped);
  return cuabi::kSuccess;
}

// The POSIX fd handle is a duplicate of the allocation's memfd; the caller owns it and
// passes it on (SCM_RIGHTS, pidfd_getfd).
CUresult cuMemExportToShareableHandle(void* shareable, CUmemGenericAllocationHandle handle, int type,
                                      unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (!shareable || flags != 0) return cuabi::kErrorInvalidValue;
  if (type != 1 && type != 2 && type != 4 && type != 8) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Physical* ph = findPhysicalLocked(handle);
  if (!ph) return cuabi::kErrorInvalidValue;
  if (!(ph->handleTypes & type)) return kVmmExportTypeNotRequested;
  int fd = fcntl(ph->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return cuabi::kErrorMemoryAllocation;
  *static_cast<int*>(shareable) = fd;
  return cuabi::kSuccess;
}

// Takes an fd from cuMemExportToShareableHandle (in any process) and gives a new generic
// handle for cuMemMap. The caller keeps its fd (it may close it afterwards).
CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* handle, void* osHandle, int type) {
  if (int e = driverInitCheck()) return e;
  if (!handle) return cuabi::kErrorInvalidValue;
  if (type == 2 || type == 4 || type == 8) return cuabi::kErrorNotSupported;  // not on Linux / no IMEX
  if (type != cuabi::kMemHandleTypePosixFd) return cuabi::kErrorInvalidValue;
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(osHandle));
  char path[64], link[256];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n <= 0) return cuabi::kErrorInvalidValue;
  link[n] = '\0';
  int physical = -1, types = 0;
  // Only a simulated VMM export carries its device and handle types in its memfd name.
  if (!parseVmmMemfdName(link, &physical, &types) || physical < 0 || physical >= physicalDeviceCount())
    return cuabi::kErrorInvalidValue;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) return cuabi::kErrorInvalidValue;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return cuabi::kErrorMemoryAllocation;
  std::lock_guard<std::mutex> lock(stateMutex());
  *handle = addPhysicalLocked(own, static_cast<size_t>(st.st_size), physical, types, true);
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
