// Simulated devices: how many there are (CUIPC_SIM_DEVICES), which this process sees
// (CUDA_VISIBLE_DEVICES, parsed the way the driver does), their identity and attributes,
// contexts, the peer matrix (CUIPC_SIM_PEER), versions and initialisation.
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sim.h"

namespace cuipcsim {
namespace {

constexpr int kVersion = 13000;  // recorded: CUDA 13.0 driver and runtime
constexpr const char* kDeviceName = "cuipc simulated H200";
// H200: 141 GB of HBM3e. Allocations count against it so that "out of memory" exists.
constexpr uint64_t kDeviceMemory = 143771336704ull;

struct Topology {
  int physical = 1;
  std::vector<int> visible;  // visible ordinal -> physical index
  bool peer[kMaxDevices][kMaxDevices] = {};
};

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

bool allDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// The 16 UUID bytes of a physical device: ASCII "cuipcsim", six zero bytes, then the
// physical index as a big-endian 16-bit number. Stable and plainly not a real GPU's.
void uuidBytes(int physical, unsigned char out[16]) {
  std::memcpy(out, "cuipcsim", 8);
  std::memset(out + 8, 0, 8);
  out[14] = static_cast<unsigned char>((physical >> 8) & 0xff);
  out[15] = static_cast<unsigned char>(physical & 0xff);
}

std::string uuidHex(int physical) {
  unsigned char b[16];
  uuidBytes(physical, b);
  std::string s;
  char buf[3];
  for (unsigned char c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

// A UUID entry of CUDA_VISIBLE_DEVICES: "GPU-" (or the simulator's own "SIM-") followed by
// the UUID or a unique prefix of it, dashes optional; -1 when it names no single device.
int matchUuid(const std::string& entry, int physical) {
  if (entry.size() <= 4) return -1;
  std::string prefix = entry.substr(0, 4);
  if (prefix != "GPU-" && prefix != "SIM-") return -1;
  std::string want;
  for (char c : entry.substr(4)) {
    if (c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return -1;
    want += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (want.empty() || want.size() > 32) return -1;
  int found = -1;
  for (int d = 0; d < physical; ++d) {
    if (uuidHex(d).compare(0, want.size(), want) == 0) {
      if (found >= 0) return -1;  // ambiguous prefix
      found = d;
    }
  }
  return found;
}

void parsePeers(Topology& t) {
  const char* env = std::getenv("CUIPC_SIM_PEER");
  std::string v = env ? trim(env) : std::string("all");
  auto setAll = [&](bool value) {
    for (int a = 0; a < kMaxDevices; ++a)
      for (int b = 0; b < kMaxDevices; ++b) t.peer[a][b] = value && a != b;
  };
  if (v.empty() || v == "all") {
    setAll(true);
    return;
  }
  setAll(false);
  if (v == "none") return;
  for (const std::string& raw : split(v, ',')) {
    std::string pair = trim(raw);
    size_t dash = pair.find('-');
    std::string a = dash == std::string::npos ? "" : trim(pair.substr(0, dash));
    std::string b = dash == std::string::npos ? "" : trim(pair.substr(dash + 1));
    if (!allDigits(a) || !allDigits(b) || std::atoi(a.c_str()) >= t.physical ||
        std::atoi(b.c_str()) >= t.physical) {
      std::fprintf(stderr, "cuipc sim: CUIPC_SIM_PEER: ignoring \"%s\" (want pairs like 0-1 of physical devices below %d)\n",
                   pair.c_str(), t.physical);
      continue;
    }
    int x = std::atoi(a.c_str()), y = std::atoi(b.c_str());
    if (x != y) t.peer[x][y] = t.peer[y][x] = true;
  }
}

Topology makeTopology() {
  Topology t;
  if (const char* n = std::getenv("CUIPC_SIM_DEVICES")) {
    std::string s = trim(n);
    if (allDigits(s) && s.size() <= 3) {
      t.physical = std::atoi(s.c_str());
      if (t.physical > kMaxDevices) {
        std::fprintf(stderr, "cuipc sim: CUIPC_SIM_DEVICES=%s is above %d; using %d\n", n, kMaxDevices, kMaxDevices);
        t.physical = kMaxDevices;
      }
    } else {
      std::fprintf(stderr, "cuipc sim: CUIPC_SIM_DEVICES=\"%s\" is not a device count; using 1\n", n);
    }
  }
  // CUDA_VISIBLE_DEVICES as the driver reads it: unset means every device; otherwise a
  // comma list of indices or UUIDs, and enumeration stops at the first entry that is
  // invalid or repeats an earlier one (so "" and "-1" hide every device).
  const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!cvd) {
    for (int d = 0; d < t.physical; ++d) t.visible.push_back(d);
  } else {
    for (const std::string& raw : split(cvd, ',')) {
      std::string e = trim(raw);
      int d = -1;
      if (allDigits(e)) {
        d = e.size() <= 3 ? std::atoi(e.c_str()) : -1;
        if (d >= t.physical) d = -1;
      } else {
        d = matchUuid(e, t.physical);
      }
      bool dup = false;
      for (int v : t.visible) dup = dup || v == d;
      if (d < 0 || dup) break;
      t.visible.push_back(d);
    }
  }
  parsePeers(t);
  return t;
}

const Topology& topo() {
  static const Topology t = makeTopology();
  return t;
}

std::atomic<bool> g_driverInitialised{false};
thread_local int t_device = 0;      // visible ordinal
thread_local bool t_bound = false;  // primary context current on this thread
char g_contextTokens[kMaxDevices];  // addresses used as the primary contexts' handles
std::mutex g_peerMutex;
bool g_peerEnabled[kMaxDevices][kMaxDevices];  // [current physical][peer physical]

int pciBus(int physical) { return 0x18 + 8 * physical; }

// Device attributes the simulator answers. Recorded identity: compute capability 9.0,
// unified addressing, default compute mode, VMM and POSIX-fd handles supported. The other
// rows are H200 datasheet values. not recorded: other attributes; the real driver answers
// every valid enumerator, the simulator says CUDA_ERROR_INVALID_VALUE for those it lacks.
bool deviceAttribute(int attr, int physical, int* value) {
  switch (attr) {
    case 1: *value = 1024; return true;  // MAX_THREADS_PER_BLOCK
    case 10: *value = 32; return true;   // WARP_SIZE
    case 16: *value = 132; return true;  // MULTIPROCESSOR_COUNT
    case 19: *value = 1; return true;    // CAN_MAP_HOST_MEMORY
    case cuabi::kDevAttrComputeMode: *value = 0; return true;
    case cuabi::kDevAttrPciBusId: *value = pciBus(physical); return true;
    case cuabi::kDevAttrPciDeviceId: *value = 0; return true;
    case cuabi::kDevAttrUnifiedAddressing: *value = 1; return true;
    case cuabi::kDevAttrPciDomainId: *value = 0; return true;
    case cuabi::kDevAttrComputeCapabilityMajor: *value = 9; return true;
    case cuabi::kDevAttrComputeCapabilityMinor: *value = 0; return true;
    case 83: *value = 1; return true;    // MANAGED_MEMORY
    case cuabi::kDevAttrVmmSupported: *value = 1; return true;
    case cuabi::kDevAttrPosixFdSupported: *value = 1; return true;
    case 115: *value = 1; return true;   // MEMORY_POOLS_SUPPORTED
    case 125: *value = 1; return true;   // IPC_EVENT_SUPPORTED
    default: return false;
  }
}

}  // namespace

int physicalDeviceCount() { return topo().physical; }
int visibleDeviceCount() { return static_cast<int>(topo().visible.size()); }

int visibleToPhysical(int ordinal) {
  const auto& v = topo().visible;
  return ordinal >= 0 && ordinal < static_cast<int>(v.size()) ? v[ordinal] : -1;
}

int physicalToVisible(int physical) {
  const auto& v = topo().visible;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == physical) return static_cast<int>(i);
  return -1;
}

bool peerReachable(int a, int b) {
  if (a < 0 || b < 0 || a >= kMaxDevices || b >= kMaxDevices) return false;
  return a == b || topo().peer[a][b];
}

int currentVisibleDevice() { return t_device; }
int currentPhysicalDevice() { return visibleToPhysical(t_device); }

CUcontext contextOfPhysical(int physical) {
  if (physical < 0 || physical >= kMaxDevices) return nullptr;
  return reinterpret_cast<CUcontext>(&g_contextTokens[physical]);
}

int runtimeInit() {
  if (visibleDeviceCount() == 0) return cuabi::kErrorNoDevice;
  g_driverInitialised.store(true);
  t_bound = true;
  return cuabi::kSuccess;
}

int driverInitCheck() {
  return g_driverInitialised.load() ? cuabi::kSuccess : cuabi::kCuErrorNotInitialized;
}

uint64_t deviceMemoryBytes() { return kDeviceMemory; }

namespace impl {

// ---------------- runtime ----------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return cuabi::kErrorInvalidValue;
  *count = visibleDeviceCount();
  return *count == 0 ? cuabi::kErrorNoDevice : cuabi::kSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (visibleDeviceCount() == 0) return cuabi::kErrorNoDevice;
  if (visibleToPhysical(device) < 0) return cuabi::kErrorInvalidDevice;
  t_device = device;
  return runtimeInit();  // CUDA 12+: cudaSetDevice creates the primary context
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return cuabi::kErrorInvalidValue;
  if (int e = runtimeInit()) return e;
  *device = t_device;
  return cuabi::kSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, int attr, int device) {
  if (!value) return cuabi::kErrorInvalidValue;
  if (int e = runtimeInit()) return e;
  int phys = visibleToPhysical(device);
  if (phys < 0) return cuabi::kErrorInvalidDevice;
  return deviceAttribute(attr, phys, value) ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

cudaError_t cudaDeviceGetPCIBusId(char* pciBusId, int len, int device) {
  if (!pciBusId || len <= 0) return cuabi::kErrorInvalidValue;
  if (int e = runtimeInit()) return e;
  int phys = visibleToPhysical(device);
  if (phys < 0) return cuabi::kErrorInvalidDevice;
  std::snprintf(pciBusId, static_cast<size_t>(len), "%04x:%02x:%02x.0", 0, pciBus(phys), 0);
  return cuabi::kSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return cuabi::kErrorInvalidValue;
  *version = kVersion;
  return cuabi::kSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return cuabi::kErrorInvalidValue;
  *version = kVersion;
  return cuabi::kSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  if (int e = runtimeInit()) return e;
  // Everything the simulator runs is complete when its call returns; synchronising only
  // matters for capture: not recorded, the docs list cudaDeviceSynchronize among the calls
  // that are illegal while a (non-relaxed) capture is under way.
  return checkUnsafeDuringCapture();
}

cudaError_t cudaDeviceCanAccessPeer(int* can, int device, int peer) {
  if (!can) return cuabi::kErrorInvalidValue;
  if (int e = runtimeInit()) return e;
  int a = visibleToPhysical(device), b = visibleToPhysical(peer);
  if (a < 0 || b < 0) return cuabi::kErrorInvalidDevice;
  // not recorded: the docs; a device is not its own peer, so device == peer answers 0.
  *can = (a != b && peerReachable(a, b)) ? 1 : 0;
  return cuabi::kSuccess;
}

// not recorded (peer access as a whole): the documented codes are used. Enabling access to
// the current device itself is cudaErrorInvalidDevice, to a device without a link is
// cudaErrorPeerAccessUnsupported, a second time is 704; disabling what is not enabled, 705.
cudaError_t cudaDeviceEnablePeerAccess(int peer, unsigned flags) {
  if (int e = runtimeInit()) return e;
  if (flags != 0) return cuabi::kErrorInvalidValue;
  int self = currentPhysicalDevice(), other = visibleToPhysical(peer);
  if (other < 0 || other == self) return cuabi::kErrorInvalidDevice;
  if (!peerReachable(self, other)) return cuabi::kErrorPeerAccessUnsupported;
  std::lock_guard<std::mutex> lock(g_peerMutex);
  if (g_peerEnabled[self][other]) return cuabi::kErrorPeerAccessAlreadyEnabled;
  g_peerEnabled[self][other] = true;
  return cuabi::kSuccess;
}

cudaError_t cudaDeviceDisablePeerAccess(int peer) {
  if (int e = runtimeInit()) return e;
  int self = currentPhysicalDevice(), other = visibleToPhysical(peer);
  if (other < 0) return cuabi::kErrorInvalidDevice;
  std::lock_guard<std::mutex> lock(g_peerMutex);
  if (other == self || !g_peerEnabled[self][other]) return cuabi::kErrorPeerAccessNotEnabled;
  g_peerEnabled[self][other] = false;
  return cuabi::kSuccess;
}

cudaError_t cudaDeviceGetP2PAttribute(int* value, int attr, int src, int dst) {
  if (!value) return cuabi::kErrorInvalidValue;
  if (int e = runtimeInit()) return e;
  int a = visibleToPhysical(src), b = visibleToPhysical(dst);
  if (a < 0 || b < 0 || a == b) return cuabi::kErrorInvalidDevice;
  bool link = peerReachable(a, b);
  switch (attr) {
    // not recorded: one link class between every reachable pair, so rank 0 everywhere.
    case cuabi::kP2PAttrPerformanceRank: *value = 0; return cuabi::kSuccess;
    case cuabi::kP2PAttrAccessSupported:
    case cuabi::kP2PAttrNativeAtomicSupported:
    case 4:  // cudaDevP2PAttrCudaArrayAccessSupported
      *value = link ? 1 : 0;
      return cuabi::kSuccess;
    default: return cuabi::kErrorInvalidValue;
  }
}

// ---------------- driver ----------------

CUresult cuInit(unsigned flags) {
  if (flags != 0) return cuabi::kErrorInvalidValue;
  if (visibleDeviceCount() == 0) return cuabi::kErrorNoDevice;
  g_driverInitialised.store(true);
  return cuabi::kSuccess;
}

CUresult cuDriverGetVersion(int* version) {
  if (!version) return cuabi::kErrorInvalidValue;
  *version = kVersion;
  return cuabi::kSuccess;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  if (int e = driverInitCheck()) return e;
  if (!device) return cuabi::kErrorInvalidValue;
  if (visibleToPhysical(ordinal) < 0) return cuabi::kErrorInvalidDevice;
  *device = ordinal;
  return cuabi::kSuccess;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice device) {
  if (int e = driverInitCheck()) return e;
  if (!name || len <= 0) return cuabi::kErrorInvalidValue;
  if (visibleToPhysical(device) < 0) return cuabi::kErrorInvalidDevice;
  std::snprintf(name, static_cast<size_t>(len), "%s", kDeviceName);
  return cuabi::kSuccess;
}

CUresult cuDeviceGetUuid(CUuuid* uuid, CUdevice device) {
  if (int e = driverInitCheck()) return e;
  if (!uuid) return cuabi::kErrorInvalidValue;
  int phys = visibleToPhysical(device);
  if (phys < 0) return cuabi::kErrorInvalidDevice;
  uuidBytes(phys, reinterpret_cast<unsigned char*>(uuid->bytes));
  return cuabi::kSuccess;
}

CUresult cuDeviceGetAttribute(int* value, int attr, CUdevice device) {
  if (int e = driverInitCheck()) return e;
  if (!value) return cuabi::kErrorInvalidValue;
  int phys = visibleToPhysical(device);
  if (phys < 0) return cuabi::kErrorInvalidDevice;
  return deviceAttribute(attr, phys, value) ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

// not recorded: the docs; the current context is the primary context of the thread's
// device once the runtime has made it current (cudaSetDevice, cudaFree(0), any runtime
// call that needs a context); before that, none.
CUresult cuCtxGetCurrent(CUcontext* ctx) {
  if (int e = driverInitCheck()) return e;
  if (!ctx) return cuabi::kErrorInvalidValue;
  *ctx = t_bound ? contextOfPhysical(currentPhysicalDevice()) : nullptr;
  return cuabi::kSuccess;
}

}  // namespace impl
}  // namespace cuipcsim
