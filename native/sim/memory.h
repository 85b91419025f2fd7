// The simulated device's memory registry, shared by memory.cc (allocation, VMM, pointer
// attributes, copies) and ipc.cc (legacy IPC and VMM export/import). "Device" memory is
// host memory this process maps; every function here requires stateMutex() held.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "policy.h"
#include "sim.h"

namespace cuipcsim {

// One registered range: a cudaMalloc/pool/managed/host allocation, one cuMemMap mapping of
// a VMM allocation, or one cudaIpcOpenMemHandle mapping.
struct Alloc {
  uintptr_t base = 0;
  size_t size = 0;        // bytes asked for (VMM: the mapping's size)
  size_t mappedBytes = 0; // bytes of address space mapped (page-rounded)
  Kind kind = Kind::Device;
  int physical = 0;       // physical device index
  int fd = -1;            // memfd backing a cudaMalloc allocation (-1 for anonymous kinds)
  uint64_t inode = 0, fsdev = 0;
  bool exported = false;  // a cudaIpcGetMemHandle was taken on it
  // A graph allocation node's memory (cudaMallocAsync on a capturing stream): recorded on an
  // H100, every pointer attribute answers CUDA_ERROR_INVALID_VALUE until the graph first runs.
  bool graphPending = false;
  uint64_t bufferId = 0;
  // VMM mappings
  uint64_t vmmHandle = 0;
  size_t vmmOffset = 0;
  uintptr_t reservationBase = 0;
  size_t reservationSize = 0;
  int access = 0;          // CUmemAccess_flags currently set (0 none, 1 read, 3 read-write)
  int handleTypes = 0;     // requestedHandleTypes of the VMM allocation
  // imported IPC mappings: who exported it, and how many opens it stands for
  pid_t exporterPid = 0;
  int exporterFd = -1;
  int contextPhysical = -1;  // the device whose context opened it
  int refcount = 0;
};

// The registered range containing p, or nullptr.
Alloc* findAllocLocked(uintptr_t p);
// The mapping of (pid, fd, inode) already opened by the context of physical device
// `contextPhysical`, or nullptr.
Alloc* findImportLocked(pid_t pid, int fd, uint64_t inode, int contextPhysical);
void addAllocLocked(const Alloc& a);
void removeAllocLocked(uintptr_t base);
uint64_t nextBufferIdLocked();

// A memfd of `bytes` bytes named `name`; -1 on failure. Raises the soft open-file limit
// to the hard limit once if the process runs out of descriptors.
int createMemfd(const char* name, size_t bytes);
size_t pageRound(size_t bytes);

// VMM physical allocations (cuMemCreate / cuMemImportFromShareableHandle).
struct Physical {
  uint64_t handle = 0;
  int fd = -1;
  size_t size = 0;
  int physical = 0;
  int handleTypes = 0;
  int refs = 0;      // cuMemCreate / import / retain, minus cuMemRelease
  int mappings = 0;  // live cuMemMap mappings
  bool imported = false;  // from cuMemImportFromShareableHandle: not this process's budget
};
Physical* findPhysicalLocked(uint64_t handle);
// Registers a physical allocation backed by `fd` (taken over) and returns its handle.
uint64_t addPhysicalLocked(int fd, size_t size, int physical, int handleTypes, bool imported);
// The memfd name that carries a VMM allocation's device and handle types to an importer.
void vmmMemfdName(char* out, size_t len, int physical, int handleTypes);
bool parseVmmMemfdName(const char* linkTarget, int* physical, int* handleTypes);

}  // namespace cuipcsim
