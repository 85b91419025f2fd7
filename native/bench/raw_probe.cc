// cuipc_bench_raw_probe: the floor `cuipc probe` is held against end to end. The probe's nine
// steps, with its sizes and its checks, written as plain C++ with nothing else in the way:
// the parent forks the ranks before anything loads CUDA, and relays all-gathers and barriers
// over socketpairs. Each rank loads CUDA as the addon does (dlopen of the driver and the
// runtime, the same entry-point table: loader/cuda_table.h), creates its context, and runs:
//
//   register  cudaMalloc(inputs x bytes), cudaIpcGetMemHandle, all-gather, open every peer's
//             (lazy peer access)
//   capture   pointer tables, graph inputs packed INPUTS_PER_ALLOCATION (8) per cudaMalloc, the
//             all-reduce outputs, a non-blocking stream, one all-reduce launch per input captured
//             into a graph (global mode), instantiate
//   export    RANGE_START_ADDR per input, bases de-duplicated, cudaIpcGetMemHandle per base
//   exchange  all-gather of handles and (base, offset) per input; each peer's data checked
//   import    cudaIpcOpenMemHandle of every peer base (lazy peer access); pointer tables copied
//   replay    fill each input (the fill kernel, or copies without kernels), sync; barrier;
//             graph launch, sync
//   verify    each all-reduce output read back and compared with the sums computed here (or,
//             without kernels, every peer's input through the tables against its fill)
//   teardown  close every opened handle; barrier; destroy graph, exec, stream; free all
//
// Only the synchronisation the work needs is here (two all-gathers, two barriers), where the
// probe runs twelve lock-step rounds: this is the floor, not a replica of its protocol. The
// parent prints one JSON document. `--context-only` is the other floor: one process, CUDA
// loaded and a context created, its peak RSS.
//
//   cuipc_bench_raw_probe --ranks N --inputs M [--bytes B] [--backend cuda|sim]
//       [--driver PATH] [--runtime PATH] [--devices 0,0,..] [--verify kernel|copy] [--context-only]
// Library paths default to CUIPC_LIBCUDA / CUIPC_LIBCUDART (as the addon's search starts), then
// libcuda.so.1 and libcudart.so.13 / .12; with --backend sim both default to CUIPC_LIBCUDA.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/raw_frames.h"
#include "cuipc_kernels_fatbin.h"
#include "bench/entry_points.h"

namespace {

using namespace rawprobe;

constexpr int kInputsPerAllocation = 8;  // lib/probe/steps/capture.ts INPUTS_PER_ALLOCATION
constexpr uint32_t kFillMultiplier = 2654435761u;
constexpr int kCudaMemcpyHostToDevice = 1, kCudaMemcpyDeviceToHost = 2;

using cuipc_bench::EntryPoints;
EntryPoints fn;

uint64_t NowNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

long MaxRssKiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n' ? ' ' : c);
  }
  return out;
}

// A rank's side of an all-gather: its blob out, every rank's blob back (a barrier when empty).
std::vector<std::string> AllGather(int fd, const std::string& mine, int ranks) {
  Send(fd, kData, mine);
  uint32_t type = 0;
  std::string all;
  if (!Receive(fd, &type, &all) || type != kData) throw Failure{"the parent went away during an all-gather"};
  std::vector<std::string> out;
  size_t at = 0;
  for (int r = 0; r < ranks; r++) {
    uint32_t n = 0;
    std::memcpy(&n, all.data() + at, 4);
    out.emplace_back(all.substr(at + 4, n));
    at += 4 + n;
  }
  return out;
}

// ---- loading, as the addon does ------------------------------------------------------------

struct Options {
  std::string backend = "cuda", driver, runtime, verify = "kernel";
  int ranks = 4, inputs = 72;
  long bytes = 4096;
  std::vector<int> devices;
  bool contextOnly = false;
};

void* Open(const std::string& path, const char* role) {
  dlerror();
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* e = dlerror();
    throw Failure{std::string("could not dlopen the ") + role + " " + path + ": " + (e ? e : "unknown error")};
  }
  return h;
}

void Load(const Options& o) {
  void* driver = Open(o.driver, "driver");
  void* runtime = o.backend == "sim" ? driver : nullptr;
  if (!runtime) {
    for (const std::string& candidate : {o.runtime, std::string("libcudart.so.13"), std::string("libcudart.so.12")}) {
      if (candidate.empty()) continue;
      runtime = dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (runtime || !o.runtime.empty()) break;
    }
    if (!runtime) runtime = Open(o.runtime.empty() ? "libcudart.so.13" : o.runtime, "runtime");
  }
  if (!cuipc_bench::ResolveEntryPoints(runtime, driver, fn)) throw Failure{"the driver has no cuGetProcAddress_v2"};
  const std::pair<const char*, bool> required[] = {
      {"cuInit", fn.cuInit}, {"cuPointerGetAttribute", fn.cuPointerGetAttribute}, {"cudaSetDevice", fn.cudaSetDevice},
      {"cudaMalloc", fn.cudaMalloc}, {"cudaFree", fn.cudaFree}, {"cudaMemcpy", fn.cudaMemcpy},
      {"cudaIpcGetMemHandle", fn.cudaIpcGetMemHandle}, {"cudaIpcOpenMemHandle", fn.cudaIpcOpenMemHandle},
      {"cudaIpcCloseMemHandle", fn.cudaIpcCloseMemHandle}, {"cudaStreamBeginCapture", fn.cudaStreamBeginCapture},
      {"cudaGraphInstantiate", fn.cudaGraphInstantiate}, {"cuDeviceGetUuid", fn.cuDeviceGetUuid},
  };
  for (const auto& r : required) {
    if (!r.second) throw Failure{std::string("entry point not found: ") + r.first};
  }
  CHECK(fn.cuInit(0), "cuInit");
}

// The context, and what the probe's init reads about the device.
void CreateContext(int device) {
  CHECK(fn.cudaSetDevice(device), "cudaSetDevice");
  CHECK(fn.cudaFree(nullptr), "cudaFree(0)");
  CUdevice dev = 0;
  char name[256] = {0}, bus[32] = {0};
  CUuuid uuid{};
  CHECK(fn.cuDeviceGet(&dev, device), "cuDeviceGet");
  CHECK(fn.cuDeviceGetName(name, sizeof name, dev), "cuDeviceGetName");
  CHECK(fn.cuDeviceGetUuid(&uuid, dev), "cuDeviceGetUuid");
  CHECK(fn.cudaDeviceGetPCIBusId(bus, sizeof bus, device), "cudaDeviceGetPCIBusId");
}

uint32_t FillValue(uint32_t seed, uint32_t element) { return seed * kFillMultiplier + element; }
uint32_t SeedOf(int rank, int input) { return static_cast<uint32_t>(rank * 1000 + input); }
unsigned Blocks(unsigned long long count) {
  unsigned long long b = (count + 255) / 256;
  return static_cast<unsigned>(b == 0 ? 1 : b > 4096 ? 4096 : b);
}

// ---- one rank ------------------------------------------------------------------------------

enum Step { kLoad, kInit, kRegister, kCapture, kExport, kExchange, kImport, kReplay, kVerify, kTeardown, kSteps };
const char* kStepNames[kSteps] = {"load", "init", "register", "capture", "export", "exchange", "import", "replay", "verify", "teardown"};

struct RankResult {
  uint64_t stepNs[kSteps] = {0};
  uint64_t startNs = 0, endNs = 0;
  long contextRssKiB = 0;
  size_t handles = 0, opened = 0;
  long mismatches = 0, bytesChecked = 0;
};

void RunRank(const Options& o, int rank, int fd, RankResult& res) {
  const int ranks = o.ranks, inputs = o.inputs;
  const long bytes = o.bytes;
  const unsigned long long count = static_cast<unsigned long long>(bytes / 4);
  const bool kernels = o.verify == "kernel";
  uint64_t t = NowNs();
  auto lap = [&](Step s) {
    uint64_t now = NowNs();
    res.stepNs[s] = now - t;
    t = now;
  };
  Load(o);
  lap(kLoad);
  CreateContext(o.devices[rank]);
  res.contextRssKiB = MaxRssKiB();
  lap(kInit);

  // register: the communicator's buffer, its handle all-gathered and every peer's opened.
  void* registered = nullptr;
  CHECK(fn.cudaMalloc(&registered, inputs * bytes), "cudaMalloc(registered buffer)");
  cudaIpcMemHandle_t own{};
  CHECK(fn.cudaIpcGetMemHandle(&own, registered), "cudaIpcGetMemHandle(registered buffer)");
  std::vector<void*> opened;
  std::vector<std::string> regs = AllGather(fd, std::string(own.reserved, sizeof own.reserved), ranks);
  for (int p = 0; p < ranks; p++) {
    if (p == rank) continue;
    if (regs[p].size() != sizeof(cudaIpcMemHandle_t)) throw Failure{"rank " + std::to_string(p) + " sent no registered-buffer handle"};
    cudaIpcMemHandle_t h;
    std::memcpy(h.reserved, regs[p].data(), sizeof h.reserved);
    void* ptr = nullptr;
    CHECK(fn.cudaIpcOpenMemHandle(&ptr, h, cuabi::kIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle(registered buffer)");
    opened.push_back(ptr);
  }
  lap(kRegister);

  // capture
  void* tables = nullptr;
  CHECK(fn.cudaMalloc(&tables, static_cast<size_t>(inputs) * ranks * 8), "cudaMalloc(pointer tables)");
  std::vector<void*> segments;
  std::vector<CUdeviceptr> in;
  for (int first = 0; first < inputs; first += kInputsPerAllocation) {
    int n = std::min(kInputsPerAllocation, inputs - first);
    void* seg = nullptr;
    CHECK(fn.cudaMalloc(&seg, n * bytes), "cudaMalloc(graph inputs)");
    segments.push_back(seg);
    for (int j = 0; j < n; j++) in.push_back(reinterpret_cast<CUdeviceptr>(seg) + j * bytes);
  }
  void* outputs = nullptr;
  CHECK(fn.cudaMalloc(&outputs, inputs * bytes), "cudaMalloc(all-reduce outputs)");
  CUfunction fill = nullptr, allreduce = nullptr;
  if (kernels) {
    CUmodule module = nullptr;
    CHECK(fn.cuModuleLoadData(&module, cuipc_kernels_fatbin), "cuModuleLoadData");
    CHECK(fn.cuModuleGetFunction(&fill, module, "cuipc_fill"), "cuModuleGetFunction(cuipc_fill)");
    CHECK(fn.cuModuleGetFunction(&allreduce, module, "cuipc_allreduce"), "cuModuleGetFunction(cuipc_allreduce)");
  }
  cudaStream_t stream = nullptr;
  CHECK(fn.cudaStreamCreateWithFlags(&stream, cuabi::kStreamNonBlocking), "cudaStreamCreateWithFlags");
  CHECK(fn.cudaStreamBeginCapture(stream, cuabi::kCaptureModeGlobal), "cudaStreamBeginCapture");
  for (int i = 0; kernels && i < inputs; i++) {
    void* table = static_cast<char*>(tables) + static_cast<size_t>(i) * ranks * 8;
    void* out = static_cast<char*>(outputs) + i * bytes;
    int r = ranks;
    unsigned long long c = count;
    void* params[] = {&table, &r, &out, &c};
    CHECK(fn.cuLaunchKernel(allreduce, Blocks(count), 1, 1, 256, 1, 1, 0, stream, params, nullptr), "cuLaunchKernel(all-reduce)");
  }
  cudaGraph_t graph = nullptr;
  CHECK(fn.cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  CHECK(fn.cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  lap(kCapture);

  // export: one handle per distinct allocation base.
  std::unordered_map<CUdeviceptr, uint32_t> baseIndex;
  std::vector<CUdeviceptr> bases;
  std::string blob;
  std::vector<std::pair<uint32_t, uint64_t>> where;  // per input: (base index, offset)
  for (int i = 0; i < inputs; i++) {
    CUdeviceptr base = 0;
    CHECK(fn.cuPointerGetAttribute(&base, cuabi::kPtrAttrRangeStartAddr, in[i]), "cuPointerGetAttribute(RANGE_START_ADDR)");
    auto it = baseIndex.emplace(base, static_cast<uint32_t>(bases.size())).first;
    if (it->second == bases.size()) bases.push_back(base);
    where.emplace_back(it->second, in[i] - base);
  }
  uint32_t nb = static_cast<uint32_t>(bases.size());
  blob.append(reinterpret_cast<const char*>(&nb), 4);
  for (CUdeviceptr base : bases) {
    cudaIpcMemHandle_t h{};
    CHECK(fn.cudaIpcGetMemHandle(&h, reinterpret_cast<void*>(base)), "cudaIpcGetMemHandle(graph input base)");
    blob.append(h.reserved, sizeof h.reserved);
  }
  for (const auto& w : where) {
    blob.append(reinterpret_cast<const char*>(&w.first), 4);
    blob.append(reinterpret_cast<const char*>(&w.second), 8);
  }
  res.handles = bases.size();
  lap(kExport);

  // exchange: every peer's data, checked as the probe checks it.
  std::vector<std::string> peers = AllGather(fd, blob, ranks);
  std::vector<uint32_t> peerBases(ranks, 0);
  for (int p = 0; p < ranks; p++) {
    const std::string& d = peers[p];
    uint32_t n = 0;
    if (d.size() >= 4) std::memcpy(&n, d.data(), 4);
    if (d.size() != 4 + n * 64ull + inputs * 12ull) throw Failure{"rank " + std::to_string(p) + " sent malformed export data"};
    for (int i = 0; i < inputs; i++) {
      uint32_t b = 0;
      std::memcpy(&b, d.data() + 4 + n * 64 + i * 12, 4);
      if (b >= n) throw Failure{"rank " + std::to_string(p) + ": an input refers to no base"};
    }
    peerBases[p] = n;
  }
  lap(kExchange);

  // import: open every peer base; the tables say where input i of rank r is seen from here.
  std::vector<std::vector<CUdeviceptr>> mapped(ranks);
  for (int p = 0; p < ranks; p++) {
    if (p == rank) continue;
    for (uint32_t b = 0; b < peerBases[p]; b++) {
      cudaIpcMemHandle_t h;
      std::memcpy(h.reserved, peers[p].data() + 4 + b * 64, 64);
      void* ptr = nullptr;
      CHECK(fn.cudaIpcOpenMemHandle(&ptr, h, cuabi::kIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle(graph input base)");
      opened.push_back(ptr);
      mapped[p].push_back(reinterpret_cast<CUdeviceptr>(ptr));
    }
  }
  res.opened = opened.size();
  std::vector<CUdeviceptr> host(static_cast<size_t>(inputs) * ranks);
  for (int i = 0; i < inputs; i++) {
    for (int r = 0; r < ranks; r++) {
      if (r == rank) {
        host[static_cast<size_t>(i) * ranks + r] = in[i];
        continue;
      }
      uint32_t b = 0;
      uint64_t off = 0;
      const char* e = peers[r].data() + 4 + peerBases[r] * 64 + i * 12;
      std::memcpy(&b, e, 4);
      std::memcpy(&off, e + 4, 8);
      host[static_cast<size_t>(i) * ranks + r] = mapped[r][b] + off;
    }
  }
  CHECK(fn.cudaMemcpy(tables, host.data(), host.size() * 8, kCudaMemcpyHostToDevice), "cudaMemcpy(pointer tables)");
  lap(kImport);

  // replay: fill, every rank filled before any graph reads a peer's input, then the graph.
  std::vector<uint32_t> buf(count);
  for (int i = 0; i < inputs; i++) {
    uint32_t seed = SeedOf(rank, i);
    if (kernels) {
      void* p = reinterpret_cast<void*>(in[i]);
      unsigned long long c = count;
      void* params[] = {&p, &c, &seed};
      CHECK(fn.cuLaunchKernel(fill, Blocks(count), 1, 1, 256, 1, 1, 0, stream, params, nullptr), "cuLaunchKernel(fill)");
    } else {
      for (unsigned long long e = 0; e < count; e++) buf[e] = FillValue(seed, static_cast<uint32_t>(e));
      CHECK(fn.cudaMemcpy(reinterpret_cast<void*>(in[i]), buf.data(), bytes, kCudaMemcpyHostToDevice), "cudaMemcpy(fill)");
    }
  }
  CHECK(fn.cudaStreamSynchronize(stream), "cudaStreamSynchronize(fill)");
  uint64_t waited = NowNs();
  AllGather(fd, std::string(), ranks);
  waited = NowNs() - waited;
  CHECK(fn.cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  CHECK(fn.cudaStreamSynchronize(stream), "cudaStreamSynchronize(replay)");
  lap(kReplay);

  // verify: byte for byte against the host's own sums (or each peer's fill, without kernels).
  std::vector<uint32_t> got(count), want(count);
  for (int i = 0; i < inputs; i++) {
    if (kernels) {
      for (unsigned long long e = 0; e < count; e++) {
        uint32_t s = 0;
        for (int r = 0; r < ranks; r++) s += FillValue(SeedOf(r, i), static_cast<uint32_t>(e));
        want[e] = s;
      }
      CHECK(fn.cudaMemcpy(got.data(), static_cast<char*>(outputs) + i * bytes, bytes, kCudaMemcpyDeviceToHost), "cudaMemcpy(verify)");
      res.bytesChecked += bytes;
      res.mismatches += std::memcmp(got.data(), want.data(), bytes) != 0;
    } else {
      for (int r = 0; r < ranks; r++) {
        for (unsigned long long e = 0; e < count; e++) want[e] = FillValue(SeedOf(r, i), static_cast<uint32_t>(e));
        CHECK(fn.cudaMemcpy(got.data(), reinterpret_cast<void*>(host[static_cast<size_t>(i) * ranks + r]), bytes, kCudaMemcpyDeviceToHost), "cudaMemcpy(verify)");
        res.bytesChecked += bytes;
        res.mismatches += std::memcmp(got.data(), want.data(), bytes) != 0;
      }
    }
  }
  lap(kVerify);

  // teardown: every importer lets go before any exporter frees.
  for (void* p : opened) CHECK(fn.cudaIpcCloseMemHandle(p), "cudaIpcCloseMemHandle");
  AllGather(fd, std::string(), ranks);
  CHECK(fn.cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
  CHECK(fn.cudaGraphDestroy(graph), "cudaGraphDestroy");
  CHECK(fn.cudaStreamDestroy(stream), "cudaStreamDestroy");
  for (void* p : segments) CHECK(fn.cudaFree(p), "cudaFree(graph inputs)");
  CHECK(fn.cudaFree(outputs), "cudaFree(outputs)");
  CHECK(fn.cudaFree(tables), "cudaFree(tables)");
  CHECK(fn.cudaFree(registered), "cudaFree(registered buffer)");
  lap(kTeardown);
  (void)waited;
}

std::string RankJson(int rank, const RankResult& r, uint64_t origin) {
  std::string s = "{\"rank\":" + std::to_string(rank) + ",\"pid\":" + std::to_string(getpid()) +
                  ",\"startMs\":" + std::to_string((r.startNs - origin) / 1e6) + ",\"endMs\":" + std::to_string((r.endNs - origin) / 1e6) +
                  ",\"contextRssKiB\":" + std::to_string(r.contextRssKiB) + ",\"peakRssKiB\":" + std::to_string(MaxRssKiB()) +
                  ",\"handles\":" + std::to_string(r.handles) + ",\"opened\":" + std::to_string(r.opened) +
                  ",\"bytesChecked\":" + std::to_string(r.bytesChecked) + ",\"mismatches\":" + std::to_string(r.mismatches) + ",\"stepMs\":{";
  for (int i = 0; i < kSteps; i++) s += std::string(i ? "," : "") + "\"" + kStepNames[i] + "\":" + std::to_string(r.stepNs[i] / 1e6);
  return s + "}}";
}

std::vector<int> ParseDevices(const std::string& v) {
  std::vector<int> out;
  size_t at = 0;
  while (at <= v.size()) {
    size_t comma = v.find(',', at);
    std::string item = v.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) throw Failure{"--devices must be a comma-separated list of ordinals"};
    out.push_back(std::atoi(item.c_str()));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  std::string devices;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--context-only") {
      o.contextOnly = true;
      continue;
    }
    if (i + 1 >= argc) throw Failure{"option " + a + " needs a value"};
    std::string v = argv[++i];
    if (a == "--backend") o.backend = v;
    else if (a == "--driver") o.driver = v;
    else if (a == "--runtime") o.runtime = v;
    else if (a == "--ranks") o.ranks = std::atoi(v.c_str());
    else if (a == "--inputs") o.inputs = std::atoi(v.c_str());
    else if (a == "--bytes") o.bytes = std::atol(v.c_str());
    else if (a == "--devices") devices = v;
    else if (a == "--verify") o.verify = v;
    else throw Failure{"unknown option " + a};
  }
  if (o.backend != "cuda" && o.backend != "sim") throw Failure{"--backend must be cuda or sim"};
  if (o.verify != "kernel" && o.verify != "copy") throw Failure{"--verify must be kernel or copy"};
  if (o.ranks < 1 || o.ranks > 64 || o.inputs < 1 || o.inputs > 16384) throw Failure{"--ranks must be 1..64 and --inputs 1..16384"};
  if (o.bytes < 4 || o.bytes % 4 != 0 || o.bytes > (64l << 20)) throw Failure{"--bytes must be a multiple of 4, at most 64 MiB"};
  if (o.verify == "kernel" && !CUIPC_HAVE_KERNELS) o.verify = "copy";  // built without nvcc, as the probe falls back
  const char* envDriver = std::getenv("CUIPC_LIBCUDA");
  const char* envRuntime = std::getenv("CUIPC_LIBCUDART");
  if (o.driver.empty()) o.driver = envDriver ? envDriver : (o.backend == "sim" ? "" : "libcuda.so.1");
  if (o.runtime.empty() && envRuntime) o.runtime = envRuntime;
  if (o.driver.empty()) throw Failure{"--backend sim needs --driver or CUIPC_LIBCUDA: the simulated device library (libcuipc_sim.so)"};
  o.devices = devices.empty() ? std::vector<int>(o.ranks, 0) : ParseDevices(devices);
  if (static_cast<int>(o.devices.size()) != o.ranks) throw Failure{"--devices must name one ordinal per rank"};
  return o;
}

int ContextOnly(const Options& o) {
  uint64_t t0 = NowNs();
  Load(o);
  uint64_t t1 = NowNs();
  CreateContext(o.devices[0]);
  uint64_t t2 = NowNs();
  std::printf("{\"contextOnly\":true,\"backend\":\"%s\",\"loadMs\":%.3f,\"contextMs\":%.3f,\"contextRssKiB\":%ld}\n", o.backend.c_str(),
              (t1 - t0) / 1e6, (t2 - t1) / 1e6, MaxRssKiB());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t origin = NowNs();
  Options o;
  try {
    o = ParseOptions(argc, argv);
    if (o.contextOnly) return ContextOnly(o);
  } catch (const Failure& f) {
    std::printf("{\"error\":\"%s\"}\n", Escape(f.what).c_str());
    return f.what.rfind("--", 0) == 0 || f.what.rfind("option", 0) == 0 || f.what.rfind("unknown", 0) == 0 ? 2 : 3;
  }
  std::fflush(stdout);
  // Ranks first, before this process touches CUDA (a forked CUDA context is unusable).
  std::vector<int> fds(o.ranks);
  std::vector<pid_t> pids(o.ranks);
  for (int r = 0; r < o.ranks; r++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
      std::printf("{\"error\":\"socketpair failed\"}\n");
      return 3;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(sv[0]);
      for (int q = 0; q < r; q++) close(fds[q]);
      RankResult res;
      res.startNs = NowNs();
      try {
        RunRank(o, r, sv[1], res);
        res.endNs = NowNs();
        Send(sv[1], kResult, RankJson(r, res, origin));
      } catch (const Failure& f) {
        try {
          Send(sv[1], kError, "rank " + std::to_string(r) + ": " + f.what);
        } catch (const Failure&) {
        }
        // Stay until the parent ends the run: a rank that left at once would take its exported
        // memory with it, and a slower peer still opening that memory would fail with 205, a
        // consequence the parent could read before this cause (as the probe's ranks do, the
        // parent decides when ranks go; it kills them all on an error).
        char byte;
        while (read(sv[1], &byte, 1) > 0) {
        }
        _exit(1);
      }
      // exit(), not _exit(): the runtime's and driver's exit-time teardown is part of a rank's
      // cost, as it is for the probe's ranks (stdout was flushed before the fork).
      std::exit(0);
    }
    close(sv[1]);
    fds[r] = sv[0];
    pids[r] = pid;
  }
  signal(SIGPIPE, SIG_IGN);
  // Relay: each round, one frame from every rank, then all of them to every rank.
  std::string error;
  std::vector<std::string> results(o.ranks);
  try {
  for (bool done = false; !done && error.empty();) {
    std::string all;
    int finished = 0;
    for (int r = 0; r < o.ranks && error.empty(); r++) {
      uint32_t type = 0;
      std::string body;
      if (!Receive(fds[r], &type, &body)) error = "rank " + std::to_string(r) + " went away";
      else if (type == kError) error = body;
      else if (type == kResult) results[r] = body, finished++;
      else {
        uint32_t n = static_cast<uint32_t>(body.size());
        all.append(reinterpret_cast<const char*>(&n), 4);
        all += body;
      }
    }
    if (!error.empty()) break;
    if (finished == o.ranks) done = true;
    else if (finished > 0) error = "the ranks are out of step";
    else for (int r = 0; r < o.ranks; r++) Send(fds[r], kData, all);
  }
  } catch (const Failure& f) {
    error = f.what;
  }
  if (!error.empty()) for (pid_t p : pids) kill(p, SIGKILL);
  bool exitedClean = true;
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    exitedClean = exitedClean && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  const double wallMs = (NowNs() - origin) / 1e6;
  if (!error.empty()) {
    std::printf("{\"error\":\"%s\",\"wallMs\":%.3f}\n", Escape(error).c_str(), wallMs);
    return 1;
  }
  std::string json = "{\"backend\":\"" + o.backend + "\",\"ranks\":" + std::to_string(o.ranks) + ",\"inputs\":" + std::to_string(o.inputs) +
                     ",\"bytes\":" + std::to_string(o.bytes) + ",\"verify\":\"" + o.verify + "\",\"wallMs\":" + std::to_string(wallMs) +
                     ",\"parentPeakRssKiB\":" + std::to_string(MaxRssKiB()) + ",\"exitedClean\":" + (exitedClean ? "true" : "false") + ",\"perRank\":[";
  long mismatches = 0;
  for (int r = 0; r < o.ranks; r++) json += (r ? "," : "") + results[r];
  for (const std::string& s : results) mismatches += std::atol(s.substr(s.find("\"mismatches\":") + 13).c_str());
  json += "],\"passed\":" + std::string(mismatches == 0 && exitedClean ? "true" : "false") + "}";
  std::printf("%s\n", json.c_str());
  return mismatches == 0 && exitedClean ? 0 : 1;
}
