// Simulated device memory: the registry of allocations, cudaMalloc and friends, the VMM
// calls, pointer attributes and synchronous copies.
//
// cudaMalloc memory is a memfd_create mapping (MAP_SHARED), so another process can map
// the same pages through /proc/<pid>/fd/<fd>; nothing is ever created in /dev/shm or on
// disk, so a process that dies, even by SIGKILL, leaves nothing behind. VMM physical
// allocations are memfds too (that is what cuMemExportToShareableHandle hands out). Pool,
// managed and host memory is anonymous: nothing can export it.
#include "memory.h"

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
namespace {

constexpr size_t kVmmGranularity = 2u << 20;  // H200: 2 MiB minimum and recommended

std::map<uintptr_t, Alloc> g_allocs;             // by base
std::map<uint64_t, Physical> g_physical;         // by generic handle
std::map<uintptr_t, size_t> g_reservations;      // cuMemAddressReserve: base -> size
uint64_t g_nextBufferId = 1;
uint64_t g_nextHandle = 1;
uint64_t g_used[kMaxDevices];                    // bytes allocated per physical device
// Memfds of allocations that were exported and then freed. The recording shows a handle
// taken before cudaFree still opens after it: the importer reaches the memory through
// /proc/<exporter pid>/fd/<fd>, so the exporter must keep that descriptor open (and its
// number taken, so a later allocation cannot reuse it) for the rest of its life. The pages
// are released when the exporter and every importer are gone.
std::vector<int> g_retainedFds;
char g_poolTokens[kMaxDevices];                  // addresses used as default pool handles

bool reserveBudget(int physical, size_t bytes) {
  if (physical < 0 || physical >= kMaxDevices) return false;
  if (g_used[physical] + bytes > deviceMemoryBytes()) return false;
  g_used[physical] += bytes;
  return true;
}

void releaseBudget(int physical, size_t bytes) {
  if (physical >= 0 && physical < kMaxDevices) g_used[physical] -= bytes;
}

bool fdStat(int fd, uint64_t* ino, uint64_t* dev) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  *ino = st.st_ino;
  *dev = st.st_dev;
  return true;
}

void destroyPhysicalIfUnusedLocked(uint64_t handle) {
  auto it = g_physical.find(handle);
  if (it == g_physical.end() || it->second.refs > 0 || it->second.mappings > 0) return;
  close(it->second.fd);
  if (!it->second.imported) releaseBudget(it->second.physical, it->second.size);
  g_physical.erase(it);
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

// Anonymous shared mapping for kinds that cannot be exported.
void* mapAnonymous(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
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

int validateProp(const CUmemAllocationProp* prop, int* physical) {
  if (!prop) return cuabi::kErrorInvalidValue;
  if (prop->type != cuabi::kMemAllocationTypePinned) return cuabi::kErrorInvalidValue;
  if (prop->location.type != cuabi::kMemLocationTypeDevice) return cuabi::kErrorInvalidValue;
  if (prop->requestedHandleTypes & ~0xF) return cuabi::kErrorInvalidValue;
  *physical = visibleToPhysical(prop->location.id);
  if (*physical < 0) return cuabi::kErrorInvalidDevice;
  return cuabi::kSuccess;
}

bool granular(uint64_t v) { return v % kVmmGranularity == 0; }

// The reservation containing [p, p+size), or g_reservations.end().
std::map<uintptr_t, size_t>::iterator reservationOf(uintptr_t p, size_t size) {
  auto r = g_reservations.upper_bound(p);
  if (r == g_reservations.begin()) return g_reservations.end();
  --r;
  if (p + size > r->first + r->second || p + size < p) return g_reservations.end();
  return r;
}

// The VMM mappings that exactly tile [p, p+size), in order; empty when they do not.
std::vector<uintptr_t> mappingsTiling(uintptr_t p, size_t size) {
  std::vector<uintptr_t> out;
  uintptr_t at = p, end = p + size;
  while (at < end) {
    auto it = g_allocs.find(at);
    if (it == g_allocs.end() || it->second.kind != Kind::Vmm) return {};
    out.push_back(at);
    at += it->second.size;
  }
  return at == end ? out : std::vector<uintptr_t>{};
}

void unmapMappingLocked(uintptr_t base) {
  auto it = g_allocs.find(base);
  if (it == g_allocs.end()) return;
  Alloc a = it->second;
  g_allocs.erase(it);
  // Back to an inaccessible part of the reservation.
  mmap(reinterpret_cast<void*>(a.base), a.size, PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (Physical* ph = findPhysicalLocked(a.vmmHandle)) {
    ph->mappings--;
    destroyPhysicalIfUnusedLocked(a.vmmHandle);
  }
}

template <typename T>
void put(void* data, T v) {
  std::memcpy(data, &v, sizeof v);
}

void putBool(void* data, bool v) {
  static_assert(kBoolAttrBytes == 4 || kBoolAttrBytes == 1, "bool attribute width");
  if (kBoolAttrBytes == 4) put<int>(data, v ? 1 : 0);
  else put<unsigned char>(data, v ? 1 : 0);
}

}  // namespace

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

namespace impl {

// ---------------- runtime allocation ----------------

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

// not recorded: allocation from the default pool during capture becomes a graph
// allocation node on real hardware; the simulator allocates at once (the pointer
// attributes are the pool's either way) and does not treat it as capture-unsafe.
cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  if (!ptr) return cuabi::kErrorInvalidValue;
  {
    std::lock_guard<std::mutex> lock(stateMutex());
    if (!isValidStreamLocked(stream)) return cuabi::kErrorInvalidResourceHandle;
  }
  return allocate(ptr, size, Kind::Pool, true);
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

// ---------------- pointer attributes ----------------

CUresult cuPointerGetAttribute(void* data, int attr, CUdeviceptr ptr) {
  if (int e = driverInitCheck()) return e;
  if (!data) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(static_cast<uintptr_t>(ptr));
  // recorded ("-" for null, 0xdeadbeef000, a stack address): not a CUDA pointer.
  // not recorded: which attributes answer for such pointers; the docs say
  // CUDA_ERROR_INVALID_VALUE for a pointer no context allocated, mapped or registered.
  if (!a) return cuabi::kErrorInvalidValue;
  KindPolicy pol = policyFor(a->kind);
  switch (attr) {
    case cuabi::kPtrAttrContext: put(data, contextOfPhysical(a->physical)); return cuabi::kSuccess;
    case cuabi::kPtrAttrMemoryType: put<unsigned>(data, pol.memoryType); return cuabi::kSuccess;
    case 3:  // DEVICE_POINTER: the same address (unified addressing)
      put<CUdeviceptr>(data, ptr);
      return cuabi::kSuccess;
    case 4:  // HOST_POINTER: only memory the host can address
      if (a->kind != Kind::Host && a->kind != Kind::Managed) return cuabi::kErrorInvalidValue;
      put<void*>(data, reinterpret_cast<void*>(ptr));
      return cuabi::kSuccess;
    case 7: put<unsigned long long>(data, a->bufferId); return cuabi::kSuccess;  // BUFFER_ID
    case cuabi::kPtrAttrIsManaged: putBool(data, pol.isManaged != 0); return cuabi::kSuccess;
    case cuabi::kPtrAttrDeviceOrdinal: {
      // Ordinals are per process: the physical device translated to this process's view.
      // not recorded: host memory reports the device current when it was allocated (the
      // docs: "the device against which the memory was allocated or registered").
      // not recorded: imported memory of a device this process cannot see; reported as
      // the current device, whose context the mapping lives in.
      int v = physicalToVisible(a->physical);
      put<int>(data, v >= 0 ? v : currentVisibleDevice());
      return cuabi::kSuccess;
    }
    case cuabi::kPtrAttrIsLegacyIpcCapable: putBool(data, pol.legacyIpcCapable != 0); return cuabi::kSuccess;
    case cuabi::kPtrAttrRangeStartAddr:
      // The docs: the mappable address range (for VMM, the cuMemAddressReserve range).
      // recorded: a VMM allocation reserved and mapped at one size reports it like cudaMalloc.
      put<CUdeviceptr>(data, a->kind == Kind::Vmm ? a->reservationBase : a->base);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrRangeSize:
      // not recorded: whether the real size is rounded; the simulator reports the size
      // asked for.
      put<size_t>(data, a->kind == Kind::Vmm ? a->reservationSize : a->size);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrMapped: putBool(data, true); return cuabi::kSuccess;
    case cuabi::kPtrAttrAllowedHandleTypes:
      // recorded: 0x1 only for VMM memory created with the POSIX fd type; else 0.
      if (kHandleTypesAttrBytes == 8)
        put<unsigned long long>(data, a->kind == Kind::Vmm ? static_cast<unsigned>(a->handleTypes) : 0u);
      else
        put<unsigned>(data, a->kind == Kind::Vmm ? static_cast<unsigned>(a->handleTypes) : 0u);
      return cuabi::kSuccess;
    case cuabi::kPtrAttrMempoolHandle:
      put<void*>(data, a->kind == Kind::Pool ? static_cast<void*>(&g_poolTokens[a->physical]) : nullptr);
      return cuabi::kSuccess;
    default: return cuabi::kErrorInvalidValue;
  }
}

// not recorded: an address the driver does not know. The docs list CUDA_ERROR_NOT_FOUND.
// For VMM memory this is the mapping (the docs point here for "the mapped region").
CUresult cuMemGetAddressRange(CUdeviceptr* base, size_t* size, CUdeviceptr ptr) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(static_cast<uintptr_t>(ptr));
  if (!a) return cuabi::kCuErrorNotFound;
  if (base) *base = a->base;
  if (size) *size = a->size;
  return cuabi::kSuccess;
}

// ---------------- VMM ----------------
// not recorded: whether the VMM calls are capture-unsafe. The docs do not list them; the
// simulator lets them run during capture (allocators such as torch_memory_saver call them
// from inside a capture).

CUresult cuMemGetAllocationGranularity(size_t* granularity, const CUmemAllocationProp* prop, int option) {
  if (int e = driverInitCheck()) return e;
  if (!granularity || (option != 0 && option != 1)) return cuabi::kErrorInvalidValue;
  int phys;
  if (int e = validateProp(prop, &phys)) return e;
  *granularity = kVmmGranularity;
  return cuabi::kSuccess;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size, const CUmemAllocationProp* prop,
                     unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (!handle || flags != 0) return cuabi::kErrorInvalidValue;
  int phys;
  if (int e = validateProp(prop, &phys)) return e;
  if (size == 0 || !granular(size)) return cuabi::kErrorInvalidValue;
  // not recorded: Win32 handle types on Linux and the fabric type without IMEX; the docs
  // say CUDA_ERROR_NOT_SUPPORTED.
  if (prop->requestedHandleTypes & ~cuabi::kMemHandleTypePosixFd) return cuabi::kErrorNotSupported;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (!reserveBudget(phys, size)) return cuabi::kErrorMemoryAllocation;
  char name[64];
  vmmMemfdName(name, sizeof name, phys, prop->requestedHandleTypes);
  int fd = createMemfd(name, size);
  if (fd < 0) {
    releaseBudget(phys, size);
    return cuabi::kErrorMemoryAllocation;
  }
  *handle = addPhysicalLocked(fd, size, phys, prop->requestedHandleTypes, false);
  return cuabi::kSuccess;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Physical* ph = findPhysicalLocked(handle);
  if (!ph || ph->refs <= 0) return cuabi::kErrorInvalidValue;
  ph->refs--;
  destroyPhysicalIfUnusedLocked(handle);  // the memory lives on while a mapping uses it
  return cuabi::kSuccess;
}

CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (!ptr || flags != 0 || size == 0 || !granular(size)) return cuabi::kErrorInvalidValue;
  if (alignment == 0) alignment = kVmmGranularity;
  if ((alignment & (alignment - 1)) != 0 || !granular(alignment)) return cuabi::kErrorInvalidValue;
  // A PROT_NONE reservation: nothing is readable until cuMemMap + cuMemSetAccess.
  size_t span = size + alignment;
  void* raw = mmap(reinterpret_cast<void*>(addr), span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return cuabi::kErrorMemoryAllocation;
  uintptr_t r = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (r + alignment - 1) & ~(static_cast<uintptr_t>(alignment) - 1);
  if (aligned > r) munmap(raw, aligned - r);
  uintptr_t tail = aligned + size, rawEnd = r + span;
  if (rawEnd > tail) munmap(reinterpret_cast<void*>(tail), rawEnd - tail);
  std::lock_guard<std::mutex> lock(stateMutex());
  g_reservations[aligned] = size;
  *ptr = aligned;
  return cuabi::kSuccess;
}

// not recorded: freeing a reservation that still has mappings; the simulator unmaps them.
CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  auto r = g_reservations.find(static_cast<uintptr_t>(ptr));
  if (r == g_reservations.end() || r->second != size) return cuabi::kErrorInvalidValue;
  std::vector<uintptr_t> inside;
  for (auto it = g_allocs.lower_bound(ptr); it != g_allocs.end() && it->first < ptr + size; ++it)
    if (it->second.kind == Kind::Vmm) inside.push_back(it->first);
  for (uintptr_t b : inside) unmapMappingLocked(b);
  munmap(reinterpret_cast<void*>(ptr), size);
  g_reservations.erase(r);
  return cuabi::kSuccess;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags) {
  if (int e = driverInitCheck()) return e;
  if (flags != 0 || size == 0 || !granular(ptr) || !granular(size) || !granular(offset))
    return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Physical* ph = findPhysicalLocked(handle);
  if (!ph || ph->refs <= 0 || offset + size > ph->size) return cuabi::kErrorInvalidValue;
  auto r = reservationOf(ptr, size);
  if (r == g_reservations.end()) return cuabi::kErrorInvalidValue;
  // Mapping over an existing mapping is an error.
  auto next = g_allocs.lower_bound(ptr);
  if (findAllocLocked(ptr) || (next != g_allocs.end() && next->first < ptr + size))
    return cuabi::kErrorInvalidValue;
  void* p = mmap(reinterpret_cast<void*>(ptr), size, PROT_NONE, MAP_SHARED | MAP_FIXED, ph->fd,
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return cuabi::kErrorMemoryAllocation;
  Alloc a;
  a.base = ptr;
  a.size = size;
  a.mappedBytes = size;
  a.kind = Kind::Vmm;
  a.physical = ph->physical;
  a.vmmHandle = handle;
  a.vmmOffset = offset;
  a.reservationBase = r->first;
  a.reservationSize = r->second;
  a.handleTypes = ph->handleTypes;
  a.bufferId = nextBufferIdLocked();
  addAllocLocked(a);
  ph->mappings++;
  return cuabi::kSuccess;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  if (int e = driverInitCheck()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  std::vector<uintptr_t> maps = mappingsTiling(ptr, size);
  if (maps.empty()) return cuabi::kErrorInvalidValue;
  for (uintptr_t b : maps) unmapMappingLocked(b);
  return cuabi::kSuccess;
}

// One address space serves every simulated device, so access is the widest of the
// descriptors (not modelled: different access for different devices).
CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc* desc, size_t count) {
  if (int e = driverInitCheck()) return e;
  if (!desc || count == 0 || size == 0) return cuabi::kErrorInvalidValue;
  int access = 0;
  for (size_t i = 0; i < count; ++i) {
    if (desc[i].location.type != cuabi::kMemLocationTypeDevice) return cuabi::kErrorInvalidValue;
    if (visibleToPhysical(desc[i].location.id) < 0) return cuabi::kErrorInvalidDevice;
    int f = desc[i].flags;
    if (f != 0 && f != 1 && f != cuabi::kMemAccessReadWrite) return cuabi::kErrorInvalidValue;
    if (f > access) access = f;
  }
  std::lock_guard<std::mutex> lock(stateMutex());
  // Every byte of the range must be mapped.
  std::vector<Alloc*> covered;
  for (uintptr_t at = ptr; at < ptr + size;) {
    Alloc* a = findAllocLocked(at);
    if (!a || a->kind != Kind::Vmm) return cuabi::kErrorInvalidValue;
    covered.push_back(a);
    at = a->base + a->size;
  }
  int prot = access == 0 ? PROT_NONE : access == 1 ? PROT_READ : PROT_READ | PROT_WRITE;
  if (mprotect(reinterpret_cast<void*>(ptr), size, prot) != 0) return cuabi::kErrorInvalidValue;
  for (Alloc* a : covered) a->access = access;
  return cuabi::kSuccess;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle* handle, void* addr) {
  if (int e = driverInitCheck()) return e;
  if (!handle) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  const Alloc* a = findAllocLocked(reinterpret_cast<uintptr_t>(addr));
  if (!a || a->kind != Kind::Vmm) return kRetainOnNonVmm;  // recorded: VMM memory only
  Physical* ph = findPhysicalLocked(a->vmmHandle);
  if (!ph) return cuabi::kErrorInvalidValue;
  ph->refs++;
  *handle = a->vmmHandle;
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
