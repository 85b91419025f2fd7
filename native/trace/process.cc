// libcuipc_trace.so, the process line: who this is (pid, argv, host, pid namespace, /dev/shm),
// the environment the hazard rules read, and which library each allocation entry point
// resolves to. See tracer.h for the library's other parts.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "cuipc_trace_env_filter.h"
#include "trace/tracer.h"

extern char** environ;

namespace cuipc_trace {
namespace {

std::string IsoNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

// Relevant variables only, and never a value whose name looks like a secret: the filter of
// lib/env/capture.ts (isCudaRelevant, looksSecret), from the same list, its one home
// lib/env/relevant-variables.json, turned into cuipc_trace_env_filter.h at build time.
bool IsRelevantName(const std::string& name) {
  for (const char* p : kEnvFilter_prefixes) if (name.compare(0, std::strlen(p), p) == 0) return true;
  for (const char* n : kEnvFilter_names) if (name == n) return true;
  return false;
}

// Upper-cased, the name contains a secret substring, or one of its segments (split at _ - .)
// is a secret segment.
bool LooksSecret(const std::string& name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  for (const char* s : kEnvFilter_secretSubstrings) if (upper.find(s) != std::string::npos) return true;
  size_t start = 0;
  while (start <= upper.size()) {
    size_t end = upper.find_first_of("_-.", start);
    std::string seg = upper.substr(start, end == std::string::npos ? std::string::npos : end - start);
    for (const char* s : kEnvFilter_secretSegments) if (seg == s) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string ReadLink(const char* path) {
  char buf[4096];
  ssize_t n = readlink(path, buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;
}

void WriteArgv(JsonLine& j) {
  j.Key("argv").BeginArray();
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && all.size() < 65536) all.append(buf, static_cast<size_t>(n));
    close(fd);
    size_t start = 0;
    int count = 0;
    while (start < all.size() && count < 64) {
      size_t end = all.find('\0', start);
      if (end == std::string::npos) end = all.size();
      j.Str(all.substr(start, std::min<size_t>(end - start, 1024)));
      start = end + 1;
      ++count;
    }
  }
  j.EndArray();
}

// Which object the dynamic linker resolves each allocation entry point to: an LD_PRELOAD
// interposer shows here the way `cuipc doctor` shows it.
void WriteSymbols(JsonLine& j) {
  j.Key("symbols").BeginArray();
  for (const char* name : {"cudaMalloc", "cudaFree", "cuMemAlloc_v2", "cuMemCreate"}) {
    void* sym = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    j.Begin().Key("symbol").Str(name);
    if (sym && dladdr(sym, &info) && info.dli_fname) {
      const char* slash = std::strrchr(info.dli_fname, '/');
      const char* file = slash ? slash + 1 : info.dli_fname;
      bool cuda = std::strncmp(file, "libcudart.so", 12) == 0 || std::strncmp(file, "libcuda.so", 10) == 0;
      j.Key("path").Str(info.dli_fname).Key("interposed").Bool(!cuda);
    } else {
      j.Key("path").Null().Key("interposed").Bool(false);
    }
    j.End();
  }
  j.EndArray();
}

}  // namespace

std::string ProcessLine(pid_t forked_from) {
  JsonLine j;
  j.Begin().Key("type").Str("process").Key("format").Int(kFormatVersion);
  j.Key("pid").Int(getpid()).Key("ppid").Int(getppid());
  if (forked_from) j.Key("forkedFrom").Int(forked_from);
  std::string run = RunId();
  if (run.empty()) j.Key("run").Null(); else j.Key("run").Str(run);
  j.Key("startedAt").Str(IsoNow());
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  j.Key("host").Str(host);
  j.Key("exe").Str(ReadLink("/proc/self/exe"));
  WriteArgv(j);
  j.Key("env").Begin();
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    std::string name(*e, eq - *e);
    if (!IsRelevantName(name) || LooksSecret(name)) continue;
    const char* value = eq + 1;
    // Credentials inside a URL are secrets whatever the variable is called.
    bool url_credentials = std::strstr(value, "://") && std::strchr(value, '@');
    j.Key(name.c_str()).Str(url_credentials ? "<redacted>" : value);
  }
  j.End();
  std::string ns = ReadLink("/proc/self/ns/pid");
  if (ns.empty()) j.Key("pidNamespace").Null(); else j.Key("pidNamespace").Str(ns);
  struct statvfs shm;
  if (statvfs("/dev/shm", &shm) == 0) {
    j.Key("shm").Begin().Key("path").Str("/dev/shm")
        .Key("sizeBytes").Uint(static_cast<unsigned long long>(shm.f_blocks) * shm.f_frsize)
        .Key("freeBytes").Uint(static_cast<unsigned long long>(shm.f_bavail) * shm.f_frsize).End();
  } else {
    j.Key("shm").Null();
  }
  WriteSymbols(j);
  j.Key("tracer").Begin().Key("library").Str(g_self_path).Key("format").Int(kFormatVersion).End();
  j.End();
  return j.Line();
}

}  // namespace cuipc_trace
