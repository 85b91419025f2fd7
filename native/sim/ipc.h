// The simulated IPC handles (cudaIpcMemHandle_t / cudaIpcEventHandle_t, 64 bytes each) and
// how a process reaches the exporter's memory through them.
#pragma once
#include <sys/types.h>

#include <cstdint>

namespace cuipcsim {

// Everything another process needs to map what the handle names. The exporter's memfd is
// reached as /proc/<pid>/fd/<fd>; its inode and filesystem device are checked after
// opening, so a descriptor number that was closed and reused for something else is
// detected instead of silently mapping the wrong memory.
struct WireHandle {
  char magic[8];        // "CUIPCSIM"
  uint16_t version;     // kWireVersion
  uint16_t kind;        // kWireMemory or kWireEvent
  int32_t pid;          // exporting process
  int32_t fd;           // its memfd
  int32_t device;       // physical device index of the allocation
  uint64_t inode;       // of the memfd
  uint64_t fsdev;       // st_dev of the memfd
  uint64_t size;        // bytes of the whole allocation (the handle names all of it)
  uint64_t bufferId;    // the exporter's allocation id (distinguishes handles)
  uint64_t reserved;
};
static_assert(sizeof(WireHandle) == 64, "an IPC handle is 64 bytes");

constexpr uint16_t kWireVersion = 1;
constexpr uint16_t kWireMemory = 1;
constexpr uint16_t kWireEvent = 2;

void encodeHandle(WireHandle& h, uint16_t kind);
// False when the bytes are not a simulated handle of this kind and version.
bool decodeHandle(const void* bytes, uint16_t kind, WireHandle* out);
// Opens the exporter's memfd read-write, checking inode and device; -1 when it is gone.
int openExporterFd(const WireHandle& h);

}  // namespace cuipcsim
