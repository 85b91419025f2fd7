// Events of the simulated device, and their IPC handles. Work completes when its call
// returns, so an event is complete as soon as it is recorded; what an event carries is a
// record count. An interprocess event keeps that count in a one-page memfd, which is what
// its IPC handle names, so a process that opens the handle shares the record.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <set>

#include "ipc.h"
#include "memory.h"

namespace cuipcsim {
namespace {

struct SharedEventRecord {
  char magic[8];  // "CUIPCEVT"
  std::atomic<uint64_t> records;
};

struct Event {
  unsigned flags = 0;
  int fd = -1;                      // interprocess events made here: the shared page's memfd
  SharedEventRecord* shared = nullptr;
  SharedEventRecord local{};        // events that are not interprocess
  bool imported = false;
  bool capturedLast = false;        // last recorded into a capturing stream
  uint64_t inode = 0, fsdev = 0;
  uint64_t id = 0;
  SharedEventRecord* record() { return shared ? shared : &local; }
};

std::set<Event*> g_events;
uint64_t g_nextEventId = 1;
constexpr unsigned kEventFlags = 1u | cuabi::kEventDisableTiming | cuabi::kEventInterprocess;  // BlockingSync|...

Event* eventOf(cudaEvent_t e) {
  Event* p = reinterpret_cast<Event*>(e);
  return g_events.count(p) ? p : nullptr;
}

size_t sharedBytes() { return pageRound(sizeof(SharedEventRecord)); }

}  // namespace

namespace impl {

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (!event || (flags & ~kEventFlags)) return cuabi::kErrorInvalidValue;
  // The docs: cudaEventInterprocess requires cudaEventDisableTiming.
  if ((flags & cuabi::kEventInterprocess) && !(flags & cuabi::kEventDisableTiming)) return cuabi::kErrorInvalidValue;
  Event* ev = new Event;
  ev->flags = flags;
  if (flags & cuabi::kEventInterprocess) {
    ev->fd = createMemfd("cuipc-sim-event", sharedBytes());
    void* p = ev->fd >= 0 ? mmap(nullptr, sharedBytes(), PROT_READ | PROT_WRITE, MAP_SHARED, ev->fd, 0) : MAP_FAILED;
    struct stat st;
    if (p == MAP_FAILED || fstat(ev->fd, &st) != 0) {
      if (p != MAP_FAILED) munmap(p, sharedBytes());
      if (ev->fd >= 0) close(ev->fd);
      delete ev;
      return cuabi::kErrorMemoryAllocation;
    }
    ev->inode = st.st_ino;
    ev->fsdev = st.st_dev;
    ev->shared = static_cast<SharedEventRecord*>(p);
    std::memcpy(ev->shared->magic, "CUIPCEVT", 8);
  }
  std::lock_guard<std::mutex> lock(stateMutex());
  ev->id = g_nextEventId++;
  g_events.insert(ev);
  *event = reinterpret_cast<cudaEvent_t>(ev);
  return cuabi::kSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Event* ev = eventOf(event);
  if (!ev) return cuabi::kErrorInvalidResourceHandle;
  g_events.erase(ev);
  if (ev->shared) munmap(ev->shared, sharedBytes());
  if (ev->fd >= 0) close(ev->fd);
  delete ev;
  return cuabi::kSuccess;
}

// not recorded: recording into a capturing stream adds an event node on real hardware;
// here it only marks the event, so that synchronising on it is cudaErrorCapturedEvent
// (907) as the docs describe, until it is recorded outside capture again.
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Event* ev = eventOf(event);
  if (!ev) return cuabi::kErrorInvalidResourceHandle;
  int status = 0;
  if (int e = streamCaptureStatusLocked(stream, &status)) return e;
  if (status == cuabi::kCaptureStatusInvalidated) return cuabi::kErrorStreamCaptureInvalidated;
  ev->capturedLast = status == cuabi::kCaptureStatusActive;
  if (!ev->capturedLast) ev->record()->records.fetch_add(1);
  return cuabi::kSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Event* ev = eventOf(event);
  if (!ev) return cuabi::kErrorInvalidResourceHandle;
  if (ev->capturedLast) return 907;  // cudaErrorCapturedEvent
  return cuabi::kSuccess;
}

cudaError_t cudaIpcGetEventHandle(cudaIpcEventHandle_t* handle, cudaEvent_t event) {
  if (int e = runtimeInit()) return e;
  if (!handle) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Event* ev = eventOf(event);
  if (!ev) return cuabi::kErrorInvalidResourceHandle;
  // not recorded: re-exporting an imported event; refused like a non-interprocess event.
  if (!(ev->flags & cuabi::kEventInterprocess) || ev->fd < 0) return kIpcGetEventNotInterprocess;
  WireHandle h{};
  encodeHandle(h, kWireEvent);
  h.fd = ev->fd;
  h.device = currentPhysicalDevice();
  h.inode = ev->inode;
  h.fsdev = ev->fsdev;
  h.size = sharedBytes();
  h.bufferId = ev->id;
  std::memcpy(handle->reserved, &h, sizeof h);
  return cuabi::kSuccess;
}

cudaError_t cudaIpcOpenEventHandle(cudaEvent_t* event, cudaIpcEventHandle_t handle) {
  if (int e = runtimeInit()) return e;
  if (!event) return cuabi::kErrorInvalidValue;
  WireHandle h;
  if (!decodeHandle(handle.reserved, kWireEvent, &h) || h.size < sizeof(SharedEventRecord))
    return kIpcOpenGarbage;
  if (h.pid == static_cast<int32_t>(getpid())) return kIpcOpenOwnEventHandle;
  int fd = openExporterFd(h);
  if (fd < 0) return kIpcOpenExporterGone;
  void* p = mmap(nullptr, sharedBytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return kIpcOpenExporterGone;
  Event* ev = new Event;
  ev->flags = cuabi::kEventInterprocess | cuabi::kEventDisableTiming;
  ev->shared = static_cast<SharedEventRecord*>(p);
  ev->imported = true;
  std::lock_guard<std::mutex> lock(stateMutex());
  ev->id = g_nextEventId++;
  g_events.insert(ev);
  *event = reinterpret_cast<cudaEvent_t>(ev);
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
