// cuipc_bench_raw: the floor the addon's per-call cost is held against. It loads CUDA exactly
// as the addon does (dlopen of the runtime and the driver given on the command line, runtime
// rows with dlsym, driver rows through cuGetProcAddress_v2, cudaMalloc/cudaFree from the global
// scope first), allocates `count` buffers and times each call kind over all of them, several
// repetitions. It prints one JSON document; `npm run bench` runs it beside the addon.
//
//   cuipc_bench_raw --backend cuda|sim --runtime PATH --driver PATH [--count N] [--bytes B]
//                   [--reps R] [--device D]
#include <dlfcn.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/entry_points.h"

namespace {

using Clock = std::chrono::steady_clock;

// The same declarative table the addon resolves; only the rows the bench calls are required.
using cuipc_bench::EntryPoints;
EntryPoints fn;

[[noreturn]] void Fail(const std::string& why) {
  std::string escaped;
  for (char c : why) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += (c == '\n' ? ' ' : c);
  }
  std::printf("{\"error\":\"%s\"}\n", escaped.c_str());
  std::exit(1);
}

void* Open(const std::string& path, const char* role) {
  dlerror();
  // RTLD_GLOBAL as the addon does, so an interposer's dlsym(RTLD_NEXT, ...) resolves the same way.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* err = dlerror();
    Fail(std::string("could not dlopen the ") + role + " " + path + ": " + (err ? err : "unknown error"));
  }
  return h;
}

void Resolve(void* runtime, void* driver) {
  if (!cuipc_bench::ResolveEntryPoints(runtime, driver, fn)) Fail("the driver has no cuGetProcAddress_v2 (older than CUDA 12)");
  const std::pair<const char*, bool> required[] = {
      {"cuInit", fn.cuInit != nullptr},
      {"cuPointerGetAttribute", fn.cuPointerGetAttribute != nullptr},
      {"cuMemRetainAllocationHandle", fn.cuMemRetainAllocationHandle != nullptr},
      {"cuMemRelease", fn.cuMemRelease != nullptr},
      {"cudaSetDevice", fn.cudaSetDevice != nullptr},
      {"cudaMalloc", fn.cudaMalloc != nullptr},
      {"cudaFree", fn.cudaFree != nullptr},
      {"cudaIpcGetMemHandle", fn.cudaIpcGetMemHandle != nullptr},
  };
  for (const auto& r : required) {
    if (!r.second) Fail(std::string("entry point not found: ") + r.first);
  }
}

double Nanoseconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

// Defeats dead-code elimination of results the timed loops do not otherwise use.
volatile unsigned long long g_sink = 0;

// The same queries, in the same order, as the addon's pointerAttributes().
int PointerAttributesRaw(CUdeviceptr ptr) {
  unsigned memType = 0, managed = 0, mapped = 0, legacy = 0;
  int ordinal = -1;
  CUdeviceptr start = 0;
  size_t size = 0;
  unsigned long long types = 0;
  void* pool = nullptr;
  int failed = 0;
  failed += fn.cuPointerGetAttribute(&memType, cuabi::kPtrAttrMemoryType, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&ordinal, cuabi::kPtrAttrDeviceOrdinal, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&managed, cuabi::kPtrAttrIsManaged, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&start, cuabi::kPtrAttrRangeStartAddr, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&size, cuabi::kPtrAttrRangeSize, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&mapped, cuabi::kPtrAttrMapped, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&legacy, cuabi::kPtrAttrIsLegacyIpcCapable, ptr) != 0;
  failed += fn.cuPointerGetAttribute(&types, cuabi::kPtrAttrAllowedHandleTypes, ptr) != 0;
  fn.cuPointerGetAttribute(&pool, cuabi::kPtrAttrMempoolHandle, ptr);  // not a pool allocation: an error is the answer
  CUmemGenericAllocationHandle h = 0;
  if (fn.cuMemRetainAllocationHandle(&h, reinterpret_cast<void*>(ptr)) == 0) fn.cuMemRelease(h);
  g_sink += start + size + legacy;
  return failed;
}

struct Kind {
  const char* name;
  std::vector<double> perCallNs;
  long failures = 0;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "cuda", runtimePath, driverPath;
  long count = 4096, bytes = 64 * 1024, reps = 9, device = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) Fail("option " + a + " needs a value");
    std::string v = argv[++i];
    if (a == "--backend") backend = v;
    else if (a == "--runtime") runtimePath = v;
    else if (a == "--driver") driverPath = v;
    else if (a == "--count") count = std::atol(v.c_str());
    else if (a == "--bytes") bytes = std::atol(v.c_str());
    else if (a == "--reps") reps = std::atol(v.c_str());
    else if (a == "--device") device = std::atol(v.c_str());
    else Fail("unknown option " + a);
  }
  if (backend != "cuda" && backend != "sim") Fail("--backend must be cuda or sim");
  if (driverPath.empty() || runtimePath.empty()) Fail("--driver and --runtime are required (the paths the addon loaded)");
  if (count < 1 || bytes < 1 || reps < 1 || device < 0) Fail("--count, --bytes and --reps must be positive, --device non-negative");

  // The driver first, as the addon does; the simulated device answers as both from one library.
  void* driver = Open(driverPath, "driver");
  void* runtime = backend == "sim" ? driver : Open(runtimePath, "runtime");
  Resolve(runtime, driver);
  if (int rc = fn.cuInit(0)) Fail("cuInit returned " + std::to_string(rc));

  auto c0 = Clock::now();
  int rc = fn.cudaSetDevice(static_cast<int>(device));
  if (rc == 0) rc = fn.cudaFree(nullptr);  // creates the primary context
  auto c1 = Clock::now();
  if (rc != 0) Fail("cudaSetDevice + cudaFree(0) returned " + std::to_string(rc));
  double contextNs = Nanoseconds(c0, c1);
  // What any process pays in resident memory for a CUDA context, before it allocates anything.
  struct rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  long contextRssKiB = usage.ru_maxrss;

  std::vector<void*> ptrs(count, nullptr);
  for (long i = 0; i < count; i++) {
    if (int e = fn.cudaMalloc(&ptrs[i], static_cast<size_t>(bytes))) Fail("cudaMalloc returned " + std::to_string(e) + " at buffer " + std::to_string(i));
  }
  std::vector<cudaIpcMemHandle_t> handles(count);

  Kind single{"ipcGetMemHandle", {}, 0}, rangeOne{"rangeStart", {}, 0}, attrs{"pointerAttributes", {}, 0},
      batch{"ipcGetMemHandleBatch", {}, 0}, rangeBatch{"rangeStartBatch", {}, 0};
  std::vector<CUdeviceptr> bases(count);
  std::vector<size_t> offsets(count);

  // One pass of every kind; the first (untimed) warms caches and lazy driver state, as the
  // harness warms the addon and the JIT.
  auto pass = [&](bool timed) {
    auto a = Clock::now();
    for (long i = 0; i < count; i++) {
      cudaIpcMemHandle_t h;
      if (fn.cudaIpcGetMemHandle(&h, ptrs[i]) != 0) single.failures += timed;
      g_sink += static_cast<unsigned char>(h.reserved[0]);
    }
    auto b = Clock::now();
    for (long i = 0; i < count; i++) {
      CUdeviceptr base = 0;
      CUdeviceptr p = reinterpret_cast<CUdeviceptr>(ptrs[i]);
      if (fn.cuPointerGetAttribute(&base, cuabi::kPtrAttrRangeStartAddr, p) != 0) rangeOne.failures += timed;
      g_sink += p - base;
    }
    auto c = Clock::now();
    for (long i = 0; i < count; i++) {
      if (PointerAttributesRaw(reinterpret_cast<CUdeviceptr>(ptrs[i])) != 0) attrs.failures += timed;
    }
    auto d = Clock::now();
    for (long i = 0; i < count; i++) {
      if (fn.cudaIpcGetMemHandle(&handles[i], ptrs[i]) != 0) batch.failures += timed;
    }
    auto e = Clock::now();
    for (long i = 0; i < count; i++) {
      CUdeviceptr p = reinterpret_cast<CUdeviceptr>(ptrs[i]);
      if (fn.cuPointerGetAttribute(&bases[i], cuabi::kPtrAttrRangeStartAddr, p) != 0) rangeBatch.failures += timed;
      offsets[i] = p - bases[i];
    }
    auto f = Clock::now();
    g_sink += static_cast<unsigned char>(handles[count - 1].reserved[0]) + offsets[count - 1];
    if (!timed) return;
    single.perCallNs.push_back(Nanoseconds(a, b) / count);
    rangeOne.perCallNs.push_back(Nanoseconds(b, c) / count);
    attrs.perCallNs.push_back(Nanoseconds(c, d) / count);
    batch.perCallNs.push_back(Nanoseconds(d, e) / count);
    rangeBatch.perCallNs.push_back(Nanoseconds(e, f) / count);
  };
  pass(false);
  for (long r = 0; r < reps; r++) pass(true);

  long freeFailures = 0;
  for (void* p : ptrs) freeFailures += fn.cudaFree(p) != 0;

  std::printf("{\"backend\":\"%s\",\"count\":%ld,\"bytes\":%ld,\"repetitions\":%ld,\"device\":%ld,\"contextNs\":%.0f,\"contextRssKiB\":%ld,\"freeFailures\":%ld,\"kinds\":{",
              backend.c_str(), count, bytes, reps, device, contextNs, contextRssKiB, freeFailures);
  const Kind* kinds[] = {&single, &rangeOne, &attrs, &batch, &rangeBatch};
  for (size_t k = 0; k < 5; k++) {
    const Kind& kind = *kinds[k];
    std::printf("%s\"%s\":{\"medianNs\":%.2f,\"failures\":%ld,\"perCallNs\":[", k ? "," : "", kind.name, Median(kind.perCallNs), kind.failures);
    for (size_t i = 0; i < kind.perCallNs.size(); i++) std::printf("%s%.2f", i ? "," : "", kind.perCallNs[i]);
    std::printf("]}");
  }
  std::printf("}}\n");
  return 0;
}
