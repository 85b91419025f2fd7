// The few parts of the C++ runtime the library uses, defined here so that the static
// libstdc++ (CMakeLists.txt: the traced program may carry an older one) adds only them.
// Linked as it comes, libstdc++.a brings its exception machinery: std::string's members are
// compiled with try/catch, operator new and the std::__throw_* helpers throw, and with them
// come the unwinder, the personality routine, the RTTI of the exception types and the
// verbose terminate handler with the whole C++ demangler. That was two thirds of the library
// (204 kB stripped, 80 kB gzip in the tarball); without it, 36 kB gzip.
// The library is built with -fno-exceptions -fno-rtti (nothing in it throws or catches: a
// failed allocation or a string past max_size() ended in std::terminate before, and ends in
// abort() now, after a line on stderr), and here:
//   - std::string is instantiated in this file, without exceptions, so libstdc++.a's
//     string-inst.o (compiled with them) is not pulled in;
//   - operator new/delete call malloc/free (new aborts when malloc fails);
//   - the std::__throw_* helpers the string and the mutex call print the reason and abort.
// Every definition is weak: where a libstdc++ still pulls in its own member (a newer one
// whose string needs another helper), the link keeps that one and stays correct, only
// larger. Nothing here is exported (the version script keeps InitializeInjection alone), so
// the traced program's own operator new and libstdc++ are untouched. The test harness
// (test/contract/trace-build.ts) links these definitions too, with exceptions on; they
// change nothing there unless something fails.
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#if defined(__GLIBCXX__)
#define CUIPC_WEAK __attribute__((weak))

namespace {
[[noreturn]] void Abort(const char* what) {
  std::fprintf(stderr, "cuipc trace: %s; aborting\n", what != nullptr ? what : "C++ runtime error");
  std::abort();
}
}  // namespace

template class std::basic_string<char>;

CUIPC_WEAK void* operator new(std::size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  Abort("out of memory");
}
CUIPC_WEAK void* operator new[](std::size_t n) { return operator new(n); }
CUIPC_WEAK void operator delete(void* p) noexcept { std::free(p); }
CUIPC_WEAK void operator delete[](void* p) noexcept { std::free(p); }
CUIPC_WEAK void operator delete(void* p, std::size_t) noexcept { std::free(p); }
CUIPC_WEAK void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace std {
CUIPC_WEAK void __throw_bad_alloc() { Abort("out of memory"); }
CUIPC_WEAK void __throw_bad_array_new_length() { Abort("bad array new length"); }
CUIPC_WEAK void __throw_length_error(const char* what) { Abort(what); }
CUIPC_WEAK void __throw_logic_error(const char* what) { Abort(what); }
CUIPC_WEAK void __throw_out_of_range(const char* what) { Abort(what); }
CUIPC_WEAK void __throw_out_of_range_fmt(const char* what, ...) { Abort(what); }
CUIPC_WEAK void __throw_invalid_argument(const char* what) { Abort(what); }
CUIPC_WEAK void __throw_system_error(int) { Abort("system error (a mutex)"); }
}  // namespace std
#endif
