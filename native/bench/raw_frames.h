// Framing between cuipc_bench_raw_probe's parent and its ranks over socketpairs:
// [type u32][length u32][bytes]. A failure is a Failure thrown with what went wrong.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace rawprobe {

// A failure anywhere: the message travels to the parent (a rank) or is printed (the parent).
struct Failure {
  std::string what;
};
#define CHECK(call, what)                                                                     \
  do {                                                                                        \
    int rc_ = (call);                                                                         \
    if (rc_ != 0) throw Failure{std::string(what) + " returned " + std::to_string(rc_)};      \
  } while (0)

enum Frame : uint32_t { kData = 0, kError = 1, kResult = 2 };

inline void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Failure{"socketpair write failed"};
    c += w;
    n -= static_cast<size_t>(w);
  }
}
inline bool ReadAll(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
inline void Send(int fd, uint32_t type, const std::string& body) {
  uint32_t head[2] = {type, static_cast<uint32_t>(body.size())};
  WriteAll(fd, head, sizeof head);
  WriteAll(fd, body.data(), body.size());
}
inline bool Receive(int fd, uint32_t* type, std::string* body) {
  uint32_t head[2];
  if (!ReadAll(fd, head, sizeof head)) return false;
  *type = head[0];
  body->resize(head[1]);
  return ReadAll(fd, &(*body)[0], head[1]);
}

}  // namespace rawprobe
