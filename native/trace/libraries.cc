// libcuipc_trace.so, the libraries opened at run time: libcupti (dlopen, never linked, so the
// library loads and says why it cannot trace where CUPTI is missing), and the driver calls of
// our own (pointer attributes, capture mode), fetched from the libcuda.so.1 the process
// already has. See tracer.h for the library's other parts.
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "trace/tracer.h"

namespace cuipc_trace {

Cupti g_cupti;
Driver g_driver;
uintptr_t g_self_base = 0;
uintptr_t g_cupti_base = 0;
std::string g_self_path;

uintptr_t BaseOf(const void* symbol, std::string* path) {
  Dl_info info;
  if (symbol == nullptr || dladdr(symbol, &info) == 0) return 0;
  if (path && info.dli_fname) *path = info.dli_fname;
  return reinterpret_cast<uintptr_t>(info.dli_fbase);
}

void LoadDriver() {
  // The driver is loading us, so libcuda.so.1 is already in the process: never load another.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return;
  g_driver.pointer_get_attribute = reinterpret_cast<cuPointerGetAttribute_t>(dlsym(lib, "cuPointerGetAttribute"));
  g_driver.retain_allocation_handle = reinterpret_cast<cuMemRetainAllocationHandle_t>(dlsym(lib, "cuMemRetainAllocationHandle"));
  g_driver.release = reinterpret_cast<cuMemRelease_t>(dlsym(lib, "cuMemRelease"));
  g_driver.exchange_capture_mode = reinterpret_cast<cuThreadExchangeStreamCaptureMode_t>(dlsym(lib, "cuThreadExchangeStreamCaptureMode"));
  g_driver.driver_get_version = reinterpret_cast<cuDriverGetVersion_t>(dlsym(lib, "cuDriverGetVersion"));
  g_driver.base = BaseOf(reinterpret_cast<void*>(g_driver.pointer_get_attribute));
}

namespace {

// The CUDA runtime the program loaded (shared), found among the loaded objects: its major
// version picks the matching CUPTI first, and its folder is where pip wheels keep CUPTI.
struct LoadedRuntime {
  int major = 0;
  std::string dir;
};

int OnLoadedObject(struct dl_phdr_info* info, size_t, void* data) {
  auto* rt = static_cast<LoadedRuntime*>(data);
  const char* name = info->dlpi_name;
  if (name == nullptr || *name == '\0') return 0;
  const char* slash = std::strrchr(name, '/');
  const char* file = slash ? slash + 1 : name;
  if (std::strncmp(file, "libcudart.so.", 13) != 0) return 0;
  rt->major = std::atoi(file + 13);
  rt->dir = slash ? std::string(name, slash - name) : std::string();
  return 1;
}

bool TryCupti(const std::string& candidate, int flags, std::vector<Attempt>& attempts) {
  dlerror();
  void* lib = dlopen(candidate.c_str(), flags);
  if (lib == nullptr) {
    if (!(flags & RTLD_NOLOAD)) {
      const char* e = dlerror();
      attempts.push_back({candidate, e ? e : "not found"});
    }
    return false;
  }
  Cupti c;
  c.lib = lib;
  c.subscribe = reinterpret_cast<cuptiSubscribe_t>(dlsym(lib, "cuptiSubscribe"));
  c.enable = reinterpret_cast<cuptiEnableCallback_t>(dlsym(lib, "cuptiEnableCallback"));
  c.result_string = reinterpret_cast<cuptiGetResultString_t>(dlsym(lib, "cuptiGetResultString"));
  c.version = reinterpret_cast<cuptiGetVersion_t>(dlsym(lib, "cuptiGetVersion"));
  if (c.subscribe == nullptr || c.enable == nullptr) {
    attempts.push_back({candidate, "loaded, but cuptiSubscribe/cuptiEnableCallback are missing"});
    return false;
  }
  BaseOf(reinterpret_cast<void*>(c.subscribe), &c.path);
  if (c.path.empty()) c.path = candidate;
  g_cupti = c;
  g_cupti_base = BaseOf(reinterpret_cast<void*>(c.subscribe));
  return true;
}

}  // namespace

// Search order: CUIPC_LIBCUPTI; a CUPTI the process already has; per CUDA major version
// (the program's runtime first, never newer than the driver): next to the runtime (and pip's
// nvidia/cuda_cupti/lib), the build's CUPTI folder, the dynamic linker, the toolkit folders.
bool LoadCupti(std::vector<Attempt>& attempts) {
  const char* override_path = std::getenv("CUIPC_LIBCUPTI");
  if (override_path && *override_path) return TryCupti(override_path, RTLD_NOW | RTLD_LOCAL, attempts);

  int driver_major = 0;
  if (g_driver.driver_get_version) {
    int v = 0;
    if (g_driver.driver_get_version(&v) == CUDA_SUCCESS) driver_major = v / 1000;
  }
  LoadedRuntime rt;
  dl_iterate_phdr(OnLoadedObject, &rt);
  std::vector<int> majors;
  auto add_major = [&](int m) {
    if (m <= 0 || (driver_major > 0 && m > driver_major)) return;
    for (int x : majors) if (x == m) return;
    majors.push_back(m);
  };
  add_major(rt.major);
  add_major(13);
  add_major(12);

  for (int m : majors) {
    if (TryCupti("libcupti.so." + std::to_string(m), RTLD_NOW | RTLD_NOLOAD, attempts)) return true;
  }
  std::vector<std::string> dirs;
  if (!rt.dir.empty()) {
    dirs.push_back(rt.dir);
    dirs.push_back(rt.dir + "/../../cuda_cupti/lib");
  }
#ifdef CUIPC_CUPTI_LIBDIR
  dirs.push_back(CUIPC_CUPTI_LIBDIR);
#endif
  dirs.push_back("");  // the dynamic linker's own search
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    const char* home = std::getenv(var);
    if (home && *home) {
      dirs.push_back(std::string(home) + "/lib64");
      dirs.push_back(std::string(home) + "/extras/CUPTI/lib64");
    }
  }
  dirs.push_back("/usr/local/cuda/lib64");
  dirs.push_back("/usr/local/cuda/extras/CUPTI/lib64");
  for (int m : majors) {
    std::string soname = "libcupti.so." + std::to_string(m);
    for (const std::string& d : dirs) {
      std::string candidate = d.empty() ? soname : d + "/" + soname;
      if (!d.empty() && access(candidate.c_str(), F_OK) != 0) continue;  // keep the list short
      if (TryCupti(candidate, RTLD_NOW | RTLD_LOCAL, attempts)) return true;
    }
  }
  if (attempts.empty()) attempts.push_back({"libcupti.so.{" + std::to_string(majors.empty() ? 0 : majors[0]) + "..}", "no candidate file exists"});
  return false;
}

}  // namespace cuipc_trace
