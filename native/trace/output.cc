// libcuipc_trace.so, the output: one file per process (<CUIPC_TRACE_DIR>/cuipc-trace[-<run>]-<pid>.jsonl),
// written a whole line at a time under a lock; a forked child starts its own file. See
// tracer.h for the library's other parts.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "trace/tracer.h"

namespace cuipc_trace {

std::string g_file;
std::atomic<unsigned long long> g_seq{0};
std::atomic<unsigned long long> g_calls{0};
std::atomic<unsigned long long> g_write_errors{0};
std::chrono::steady_clock::time_point g_t0;

namespace {
std::mutex g_write_mutex;
int g_fd = -1;
pid_t g_fd_pid = 0;
thread_local long t_tid = 0;
thread_local pid_t t_tid_pid = 0;
}  // namespace

double Millis() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_t0).count();
}

long Tid() {
  // Cached per thread, and again after a fork (the child's thread has a new id).
  pid_t pid = getpid();
  if (t_tid == 0 || t_tid_pid != pid) {
    t_tid = static_cast<long>(syscall(SYS_gettid));
    t_tid_pid = pid;
  }
  return t_tid;
}

namespace {

void MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') mkdir(path.substr(0, i).c_str(), 0755);
  }
}

std::string TraceDir() {
  const char* dir = std::getenv("CUIPC_TRACE_DIR");
  if (dir && *dir) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/cuipc-trace";
}

}  // namespace

// CUIPC_TRACE_RUN (set by `cuipc trace`) keeps runs apart in one folder; only safe characters.
std::string RunId() {
  const char* run = std::getenv("CUIPC_TRACE_RUN");
  if (run == nullptr) return "";
  std::string r;
  for (const char* p = run; *p && r.size() < 32; ++p) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') r += *p;
  }
  return r;
}

bool OpenOutput(std::string* error) {
  std::string dir = TraceDir();
  MakeDirs(dir);
  std::string run = RunId();
  pid_t pid = getpid();
  g_file = dir + "/cuipc-trace-" + (run.empty() ? "" : run + "-") + std::to_string(pid) + ".jsonl";
  g_fd = open(g_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  g_fd_pid = pid;
  if (g_fd < 0) {
    if (error) *error = g_file + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

namespace {
void WriteRaw(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(g_fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++g_write_errors;
      return;
    }
    done += static_cast<size_t>(n);
  }
}
}  // namespace

void WriteLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_write_mutex);
  pid_t pid = getpid();
  if (pid != g_fd_pid) {
    // A fork: the child writes its own file, starting with its own process line.
    pid_t parent = g_fd_pid;
    if (g_fd >= 0) close(g_fd);
    g_fd = -1;
    if (!OpenOutput(nullptr)) return;
    WriteRaw(ProcessLine(parent));
  }
  if (g_fd >= 0) WriteRaw(line);
}

}  // namespace cuipc_trace
