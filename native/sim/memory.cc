// Simulated device memory, the registry: every allocation and mapping by address, the VMM
// physical allocations, the per-device budget, allocation and release, and safe copies.
// The calls themselves live in memory_runtime.cc, memory_attributes.cc and memory_vmm.cc
// (memory_internal.h lists what they share).
//
// cudaMalloc memory is a memfd_create mapping (MAP_SHARED), so another process can map
// the same pages through /proc/<pid>/fd/<fd>; nothing is ever created in /dev/shm or on
// disk, so a process that dies, even by SIGKILL, leaves nothing behind. VMM physical
// allocations are memfds too (that is what cuMemExportToShareableHandle hands out). Pool,
// managed and host memory is anonymous: nothing can export it.
#include "memory_internal.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

namespace cuipcsim {

std::map<uintptr_t, Alloc> g_allocs;
std::map<uintptr_t, size_t> g_reservations;
char g_poolTokens[kMaxDevices];

namespace {

std::map<uint64_t, Physical> g_physical;         // by generic handle
uint64_t g_nextBufferId = 1;
uint64_t g_nextHandle = 1;
uint64_t g_used[kMaxDevices];                    // bytes allocated per physical device
// Memfds of allocations that were exported and then freed. The recording shows a handle
// taken before cudaFree still opens after it (docs/hardware-facts.md#open-freed): the
// importer reaches the memory through /proc/<exporter pid>/fd/<fd>, so the exporter must
// keep that descriptor open (and its number taken, so a later allocation cannot reuse it)
// for the rest of its life. The pages are released when the exporter and every importer
// are gone.
std::vector<int> g_retainedFds;

bool fdStat(int fd, uint64_t* ino, uint64_t* dev) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  *ino = st.st_ino;
  *dev = st.st_dev;
  return true;
}

// Kinds that kernels and copies may touch; VMM mappings only with access set.
bool accessible(const Alloc& a, bool write) {
  if (a.kind != Kind::Vmm) return true;
  return write ? a.access == cuabi::kMemAccessReadWrite : a.access != 0;
}

bool accessibleRangeLocked(uintptr_t p, size_t bytes, bool write) {
  auto it = g_allocs.upper_bound(p);
  if (it == g_allocs.begin()) return false;
  --it;
  if (p >= it->second.base + it->second.size) return false;
  uintptr_t end = p + bytes;
  for (;;) {
    const Alloc& a = it->second;
    if (!accessible(a, write)) return false;
    uintptr_t aEnd = a.base + a.size;
    if (end <= aEnd) return true;
    ++it;
    if (it == g_allocs.end() || it->second.base != aEnd) return false;
  }
}

// Whether p lies inside memory the simulator manages (an allocation or a VMM reservation).
bool managedAddressLocked(uintptr_t p) {
  if (findAllocLocked(p)) return true;
  auto r = g_reservations.upper_bound(p);
  if (r == g_reservations.begin()) return false;
  --r;
  return p < r->first + r->second;
}

// Anonymous shared mapping for kinds that cannot be exported.
void* mapAnonymous(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

bool reserveBudget(int physical, size_t bytes) {
  if (physical < 0 || physical >= kMaxDevices) return false;
  if (g_used[physical] + bytes > deviceMemoryBytes()) return false;
  g_used[physical] += bytes;
  return true;
}

void releaseBudget(int physical, size_t bytes) {
  if (physical >= 0 && physical < kMaxDevices) g_used[physical] -= bytes;
}

void destroyPhysicalIfUnusedLocked(uint64_t handle) {
  auto it = g_physical.find(handle);
  if (it == g_physical.end() || it->second.refs > 0 || it->second.mappings > 0) return;
  close(it->second.fd);
  if (!it->second.imported) releaseBudget(it->second.physical, it->second.size);
  g_physical.erase(it);
}

// Copies with the kernel checking both sides, so a bad plain host pointer is an error code,
// not a crash. Falls back to memcpy where process_vm_readv is not allowed.
bool safeCopy(void* dst, const void* src, size_t bytes) {
  static bool usable = true;
  size_t done = 0;
  while (usable && done < bytes) {
    struct iovec local = {static_cast<char*>(dst) + done, bytes - done};
    struct iovec remote = {const_cast<char*>(static_cast<const char*>(src)) + done, bytes - done};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
      usable = false;
      break;
    }
    return false;  // EFAULT: an address is not mapped
  }
  if (!usable) std::memmove(static_cast<char*>(dst) + done, static_cast<const char*>(src) + done, bytes - done);
  return true;
}

// Validates one side of a copy: memory the simulator manages must be accessible over the
// whole range; other memory is plain host memory (checked by safeCopy).
int checkCopySide(uintptr_t p, size_t bytes, bool write) {
  if (!managedAddressLocked(p)) return cuabi::kSuccess;
  return accessibleRangeLocked(p, bytes, write) ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

cudaError_t allocate(void** ptr, size_t size, Kind kind, bool budget) {
  *ptr = nullptr;
  if (size == 0) return cuabi::kSuccess;  // the runtime returns success and a null pointer
  int phys = currentPhysicalDevice();
  size_t mapped = pageRound(size);
  std::lock_guard<std::mutex> lock(stateMutex());
  if (budget && !reserveBudget(phys, mapped)) return cuabi::kErrorMemoryAllocation;
  Alloc a;
  a.kind = kind;
  a.size = size;
  a.mappedBytes = mapped;
  a.physical = phys;
  void* p = nullptr;
  if (kind == Kind::Device) {
    a.fd = createMemfd("cuipc-sim", mapped);
    if (a.fd >= 0) {
      p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
      if (p == MAP_FAILED || !fdStat(a.fd, &a.inode, &a.fsdev)) {
        if (p != MAP_FAILED) munmap(p, mapped);
        p = nullptr;
        close(a.fd);
      }
    }
  } else {
    p = mapAnonymous(mapped);
  }
  if (!p) {
    if (budget) releaseBudget(phys, mapped);
    return cuabi::kErrorMemoryAllocation;
  }
  a.base = reinterpret_cast<uintptr_t>(p);
  a.bufferId = nextBufferIdLocked();
  addAllocLocked(a);
  *ptr = p;
  return cuabi::kSuccess;
}

// Frees an allocation of one of `kinds`; 1 when p is not the base of one.
cudaError_t release(void* ptr, std::initializer_list<Kind> kinds) {
  std::lock_guard<std::mutex> lock(stateMutex());
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == g_allocs.end()) return cuabi::kErrorInvalidValue;
  bool ok = false;
  for (Kind k : kinds) ok = ok || it->second.kind == k;
  if (!ok) return cuabi::kErrorInvalidValue;
  Alloc a = it->second;
  g_allocs.erase(it);
  munmap(reinterpret_cast<void*>(a.base), a.mappedBytes);
  if (a.kind != Kind::Host) releaseBudget(a.physical, a.mappedBytes);
  if (a.fd >= 0) {
    if (a.exported && kIpcOpenAfterExporterFreeSucceeds) g_retainedFds.push_back(a.fd);
    else close(a.fd);
  }
  return cuabi::kSuccess;
}

// ---------------- registry ----------------

std::mutex& stateMutex() {
  static std::mutex m;
  return m;
}

Alloc* findAllocLocked(uintptr_t p) {
  auto it = g_allocs.upper_bound(p);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  Alloc& a = it->second;
  // The range a caller may name is the size asked for (VMM: the mapping).
  return p < a.base + a.size ? &a : nullptr;
}

Alloc* findImportLocked(pid_t pid, int fd, uint64_t inode, int contextPhysical) {
  for (auto& kv : g_allocs) {
    Alloc& a = kv.second;
    if (a.kind == Kind::Imported && a.exporterPid == pid && a.exporterFd == fd && a.inode == inode &&
        a.contextPhysical == contextPhysical)
      return &a;
  }
  return nullptr;
}

void addAllocLocked(const Alloc& a) { g_allocs[a.base] = a; }
void removeAllocLocked(uintptr_t base) { g_allocs.erase(base); }
uint64_t nextBufferIdLocked() { return g_nextBufferId++; }

size_t pageRound(size_t bytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

int createMemfd(const char* name, size_t bytes) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0 && (errno == EMFILE)) {
    static bool raised = false;
    struct rlimit rl;
    if (!raised && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      raised = true;
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
      fd = memfd_create(name, MFD_CLOEXEC);
    }
  }
  if (fd < 0) return -1;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool deviceAccessibleLocked(uintptr_t p, size_t bytes) {
  if (p + bytes < p) return false;
  if (bytes == 0) return findAllocLocked(p) != nullptr;
  return accessibleRangeLocked(p, bytes, true);
}

Physical* findPhysicalLocked(uint64_t handle) {
  auto it = g_physical.find(handle);
  return it == g_physical.end() ? nullptr : &it->second;
}

uint64_t addPhysicalLocked(int fd, size_t size, int physical, int handleTypes, bool imported) {
  Physical ph;
  ph.handle = (0x51ull << 56) | g_nextHandle++;
  ph.fd = fd;
  ph.size = size;
  ph.physical = physical;
  ph.handleTypes = handleTypes;
  ph.refs = 1;
  ph.imported = imported;
  g_physical[ph.handle] = ph;
  return ph.handle;
}

void vmmMemfdName(char* out, size_t len, int physical, int handleTypes) {
  std::snprintf(out, len, "cuipc-sim-vmm:d=%d:t=%d", physical, handleTypes);
}

bool parseVmmMemfdName(const char* link, int* physical, int* handleTypes) {
  return std::sscanf(link, "/memfd:cuipc-sim-vmm:d=%d:t=%d", physical, handleTypes) == 2;
}

}  // namespace cuipcsim
