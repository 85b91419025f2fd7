// Streams, stream capture and graphs of the simulated device.
//
// Work runs synchronously on the calling thread, so a stream is only an object that can be
// capturing. While a stream captures, kernel launches on it are appended to the capture's
// graph (the function and a copy of its argument values); cudaGraphLaunch replays them in
// order. The capture rules follow the recording (docs/hardware-facts.md#capture) and, where
// it is silent, the CUDA documentation of cudaStreamCaptureMode and
// cudaThreadExchangeStreamCaptureMode.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "memory.h"
#include "sim.h"

namespace cuipcsim {
namespace {

struct Graph {
  std::vector<KernelLaunch> launches;
  std::vector<uintptr_t> allocations;  // bases of its allocation nodes' memory
};

struct GraphExec {
  std::vector<KernelLaunch> launches;
  std::vector<uintptr_t> allocations;
};

struct Capture {
  int mode = cuabi::kCaptureModeGlobal;
  std::thread::id thread;
  unsigned long long id = 0;
  bool invalidated = false;
  Graph* graph = nullptr;
};

struct Stream {
  unsigned flags = 0;
  Capture* capture = nullptr;
};

std::set<Stream*> g_streams;
std::set<Graph*> g_graphs;
std::set<GraphExec*> g_execs;
unsigned long long g_nextCaptureId = 1;
// The calling thread's capture interaction mode (cudaThreadExchangeStreamCaptureMode).
thread_local int t_captureMode = cuabi::kCaptureModeGlobal;

Stream* streamOf(cudaStream_t s) {
  Stream* p = reinterpret_cast<Stream*>(s);
  return g_streams.count(p) ? p : nullptr;
}

bool validMode(int m) {
  return m == cuabi::kCaptureModeGlobal || m == cuabi::kCaptureModeThreadLocal || m == cuabi::kCaptureModeRelaxed;
}

// Work on the legacy default stream waits for every blocking stream; if one of those is
// capturing, the docs say the call fails with cudaErrorStreamCaptureImplicit (906) and
// the capture is invalidated. not recorded.
int legacyCheckLocked(bool invalidate) {
  int result = cuabi::kSuccess;
  for (Stream* s : g_streams) {
    if (s->capture && !(s->flags & cuabi::kStreamNonBlocking)) {
      if (invalidate) s->capture->invalidated = true;
      result = cuabi::kErrorStreamCaptureImplicit;
    }
  }
  return result;
}

}  // namespace

bool isValidStreamLocked(CUstream stream) { return stream == nullptr || streamOf(stream) != nullptr; }

int streamCaptureStatusLocked(CUstream stream, int* status) {
  *status = cuabi::kCaptureStatusNone;
  if (!stream) return legacyCheckLocked(true);
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  if (s->capture)
    *status = s->capture->invalidated ? cuabi::kCaptureStatusInvalidated : cuabi::kCaptureStatusActive;
  return cuabi::kSuccess;
}

// recorded: cudaMalloc during a global or thread-local capture -> 900 and the capture is
// invalidated; during a relaxed capture -> 0. The documented rule that produces this: a
// thread whose interaction mode is
//   global:       may not make unsafe calls while it has a non-relaxed capture of its own,
//                 or while any thread has a global-mode capture;
//   thread-local: may not while it has a non-relaxed capture of its own;
//   relaxed:      always may.
// not recorded: which capture is invalidated when another thread's global capture is what
// forbids the call; the simulator invalidates every capture that forbids it.
int checkUnsafeDuringCapture() {
  if (t_captureMode == cuabi::kCaptureModeRelaxed) return cuabi::kSuccess;
  std::lock_guard<std::mutex> lock(stateMutex());
  std::thread::id self = std::this_thread::get_id();
  int result = cuabi::kSuccess;
  for (Stream* s : g_streams) {
    Capture* c = s->capture;
    if (!c) continue;
    bool own = c->thread == self && c->mode != cuabi::kCaptureModeRelaxed;
    bool global = t_captureMode == cuabi::kCaptureModeGlobal && c->mode == cuabi::kCaptureModeGlobal;
    if (own || global) {
      c->invalidated = true;
      result = cuabi::kErrorStreamCaptureUnsupported;
    }
  }
  return result;
}

int checkLegacyStreamDuringCapture() {
  std::lock_guard<std::mutex> lock(stateMutex());
  return legacyCheckLocked(true);
}

bool recordGraphAllocationLocked(CUstream stream, uintptr_t base) {
  Stream* s = stream ? streamOf(stream) : nullptr;
  if (!s || !s->capture || s->capture->invalidated) return false;
  s->capture->graph->allocations.push_back(base);
  return true;
}

int captureLaunchLocked(CUstream stream, const KernelLaunch& launch) {
  if (!stream) {
    int e = legacyCheckLocked(true);
    return e ? e : -1;
  }
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  if (!s->capture) return -1;
  if (s->capture->invalidated) return cuabi::kErrorStreamCaptureInvalidated;
  s->capture->graph->launches.push_back(launch);
  return cuabi::kSuccess;
}

namespace impl {

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (!stream || (flags & ~cuabi::kStreamNonBlocking)) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Stream* s = new Stream;
  s->flags = flags;
  g_streams.insert(s);
  *stream = reinterpret_cast<cudaStream_t>(s);
  return cuabi::kSuccess;
}

// not recorded: destroying a stream that is capturing; the simulator drops the capture.
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  if (s->capture) {
    delete s->capture->graph;
    delete s->capture;
  }
  g_streams.erase(s);
  delete s;
  return cuabi::kSuccess;
}

// not recorded: synchronising a capturing stream; the docs say it is not permitted (900)
// and invalidates the capture.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (!stream) return legacyCheckLocked(true);
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  if (s->capture) {
    s->capture->invalidated = true;
    return cuabi::kErrorStreamCaptureUnsupported;
  }
  return cuabi::kSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, int mode) {
  if (int e = runtimeInit()) return e;
  if (!validMode(mode)) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  // not recorded: the docs say the legacy stream cannot be captured (900).
  if (!stream) return cuabi::kErrorStreamCaptureUnsupported;
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  // not recorded: the docs' cudaErrorIllegalState (401) for a stream already capturing.
  if (s->capture) return 401;
  Capture* c = new Capture;
  c->mode = mode;
  c->thread = std::this_thread::get_id();
  c->id = g_nextCaptureId++;
  c->graph = new Graph;
  s->capture = c;
  return cuabi::kSuccess;
}

// recorded: after an unsafe call invalidated the capture, 901 (and the last error 901).
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (int e = runtimeInit()) return e;
  if (!graph) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Stream* s = streamOf(stream);
  if (!s) return stream ? cuabi::kErrorInvalidResourceHandle : 401;
  Capture* c = s->capture;
  // not recorded: the docs' cudaErrorIllegalState (401) for a stream that is not capturing,
  // and cudaErrorStreamCaptureWrongThread (908) when a global or thread-local capture is
  // ended by another thread than the one that began it.
  if (!c) return 401;
  if (c->mode != cuabi::kCaptureModeRelaxed && c->thread != std::this_thread::get_id())
    return 908;  // cudaErrorStreamCaptureWrongThread
  s->capture = nullptr;
  if (c->invalidated) {
    delete c->graph;
    delete c;
    *graph = nullptr;
    return cuabi::kErrorStreamCaptureInvalidated;
  }
  g_graphs.insert(c->graph);
  *graph = reinterpret_cast<cudaGraph_t>(c->graph);
  delete c;
  return cuabi::kSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, int* status) {
  if (int e = runtimeInit()) return e;
  if (!status) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  if (!stream) {
    // not recorded: the docs say asking about the legacy stream while a blocking stream
    // captures is cudaErrorStreamCaptureImplicit (906).
    if (int e = legacyCheckLocked(false)) return e;
    *status = cuabi::kCaptureStatusNone;
    return cuabi::kSuccess;
  }
  Stream* s = streamOf(stream);
  if (!s) return cuabi::kErrorInvalidResourceHandle;
  // recorded: active (1) in all three modes.
  *status = !s->capture ? cuabi::kCaptureStatusNone
            : s->capture->invalidated ? cuabi::kCaptureStatusInvalidated
                                      : cuabi::kCaptureStatusActive;
  return cuabi::kSuccess;
}

cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, int* status, unsigned long long* id, void* graph,
                                     void* deps, void* edges, void* count) {
  if (int e = cudaStreamIsCapturing(stream, status)) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  Stream* s = streamOf(stream);
  Capture* c = s ? s->capture : nullptr;
  if (id && c) *id = c->id;
  // CUDA 13's trailing outputs: the graph being built, no dependency nodes or edges.
  if (graph) *static_cast<void**>(graph) = c ? static_cast<void*>(c->graph) : nullptr;
  if (deps) *static_cast<void**>(deps) = nullptr;
  if (edges) *static_cast<void**>(edges) = nullptr;
  if (count) *static_cast<size_t*>(count) = 0;
  return cuabi::kSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(int* mode) {
  if (!mode || !validMode(*mode)) return cuabi::kErrorInvalidValue;
  int previous = t_captureMode;
  t_captureMode = *mode;
  *mode = previous;
  return cuabi::kSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  if (int e = runtimeInit()) return e;
  if (!exec || (flags & ~0xFull)) return cuabi::kErrorInvalidValue;
  std::lock_guard<std::mutex> lock(stateMutex());
  Graph* g = reinterpret_cast<Graph*>(graph);
  if (!g_graphs.count(g)) return cuabi::kErrorInvalidValue;
  GraphExec* x = new GraphExec;
  x->launches = g->launches;
  x->allocations = g->allocations;
  g_execs.insert(x);
  *exec = reinterpret_cast<cudaGraphExec_t>(x);
  return cuabi::kSuccess;
}

// Replays the recorded launches in order; kernels read memory as it is now (so a pointer
// table filled after capture is what an all-reduce graph sees, as on the GPU).
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (int e = runtimeInit()) return e;
  std::lock_guard<std::mutex> lock(stateMutex());
  GraphExec* x = reinterpret_cast<GraphExec*>(exec);
  if (!g_execs.count(x)) return cuabi::kErrorInvalidResourceHandle;
  if (!isValidStreamLocked(stream)) return cuabi::kErrorInvalidResourceHandle;
  // recorded: a graph allocation's memory is mapped from the graph's first launch on.
  for (uintptr_t base : x->allocations)
    if (Alloc* a = findAllocLocked(base)) a->graphPending = false;
  if (!x->launches.empty()) {
    // Launched into a capturing stream, the graph's work becomes part of that capture.
    int r = captureLaunchLocked(stream, x->launches.front());
    if (r > 0) return r;
    if (r == 0) {
      for (size_t i = 1; i < x->launches.size(); ++i) captureLaunchLocked(stream, x->launches[i]);
      return cuabi::kSuccess;
    }
  } else if (!stream) {
    if (int e = legacyCheckLocked(true)) return e;
  }
  for (const KernelLaunch& k : x->launches)
    if (int e = runKernelLocked(k)) return e;
  return cuabi::kSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  std::lock_guard<std::mutex> lock(stateMutex());
  Graph* g = reinterpret_cast<Graph*>(graph);
  if (!g_graphs.erase(g)) return cuabi::kErrorInvalidValue;
  delete g;
  return cuabi::kSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  std::lock_guard<std::mutex> lock(stateMutex());
  GraphExec* x = reinterpret_cast<GraphExec*>(exec);
  if (!g_execs.erase(x)) return cuabi::kErrorInvalidResourceHandle;
  delete x;
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
