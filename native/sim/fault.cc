// Fault injection for the simulated device: CUIPC_SIM_FAULT
//
//   CUIPC_SIM_FAULT="<rule>;<rule>;..."
//   rule   = <function>[@<rank>]#<n>=<action>
//
//   function  any entry point the library exports (cudaMalloc, cudaIpcOpenMemHandle,
//             cuMemCreate, cuGetProcAddress_v2, ...). Driver functions count the same
//             whether they are called by name or through cuGetProcAddress_v2.
//   @rank     optional: the rule applies only in a process whose CUIPC_RANK environment
//             variable equals <rank>; without it, the rule applies in every process.
//   #n        the 1-based count of calls to <function> in this process: the rule fires on
//             exactly the n-th call.
//   action    a decimal error code: the call returns it without doing anything (a
//             runtime call also leaves it as the thread's last error, as a real failure
//             would); `hang`: the call blocks forever; `kill`: the process sends itself
//             SIGKILL.
//
//   Example: CUIPC_SIM_FAULT="cudaIpcOpenMemHandle@2#1=kill;cudaIpcGetMemHandle#3=1"
//   kills rank 2 in its first cudaIpcOpenMemHandle, and makes every process's third
//   cudaIpcGetMemHandle fail with cudaErrorInvalidValue.
//
//   cudaGetErrorName, cudaGetErrorString and cuipcSimDescribe return strings, so only
//   `hang` and `kill` apply to them. A malformed rule (unknown function, bad count or
//   action) is reported in one line on stderr and ignored; the others still apply.
//   The variable is read once, at the first call into the library.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "entries.h"
#include "sim.h"

namespace cuipcsim {
namespace {

constexpr const char* kEntryNames[] = {
#define CUIPC_SIM_ENTRY_NAME(name, params, args) #name,
    CUIPC_RUNTIME_TABLE(CUIPC_SIM_ENTRY_NAME)
    CUIPC_ALLOCATION_TABLE(CUIPC_SIM_ENTRY_NAME)
    CUIPC_DRIVER_TABLE(CUIPC_SIM_ENTRY_NAME)
#undef CUIPC_SIM_ENTRY_NAME
    "cudaGetErrorName",
    "cudaGetErrorString",
    "cuGetProcAddress_v2",
    "cuipcSimDescribe",
};
static_assert(sizeof(kEntryNames) / sizeof(kEntryNames[0]) == kEntryCount, "one name per entry point");

enum class Action { Code, Hang, Kill };

struct Rule {
  int entry;
  unsigned long long n;
  Action action;
  int code;
};

struct Rules {
  std::vector<Rule> rules;
  bool any[kEntryCount] = {};
};

std::atomic<unsigned long long> g_calls[kEntryCount];

bool parseDecimal(const std::string& s, unsigned long long* out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = std::strtoull(s.c_str(), nullptr, 10);
  return true;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

void reject(const std::string& rule, const char* why) {
  std::fprintf(stderr, "cuipc sim: CUIPC_SIM_FAULT: ignoring rule \"%s\": %s\n", rule.c_str(), why);
}

Rules parse() {
  Rules r;
  const char* env = std::getenv("CUIPC_SIM_FAULT");
  if (!env || !*env) return r;
  const char* rankEnv = std::getenv("CUIPC_RANK");
  std::string myRank = rankEnv ? trim(rankEnv) : "";
  std::string all(env);
  size_t start = 0;
  while (start <= all.size()) {
    size_t semi = all.find(';', start);
    std::string rule = trim(all.substr(start, semi == std::string::npos ? std::string::npos : semi - start));
    start = semi == std::string::npos ? all.size() + 1 : semi + 1;
    if (rule.empty()) continue;
    size_t hash = rule.find('#'), eq = rule.find('=');
    if (hash == std::string::npos || eq == std::string::npos || eq < hash) {
      reject(rule, "want <function>[@<rank>]#<n>=<action>");
      continue;
    }
    std::string fn = rule.substr(0, hash), rank;
    size_t at = fn.find('@');
    if (at != std::string::npos) {
      rank = fn.substr(at + 1);
      fn = fn.substr(0, at);
    }
    int entry = -1;
    for (int i = 0; i < kEntryCount; ++i)
      if (fn == kEntryNames[i]) entry = i;
    if (entry < 0) {
      reject(rule, "unknown function");
      continue;
    }
    unsigned long long rankNum = 0, n = 0, code = 0;
    if (at != std::string::npos && !parseDecimal(rank, &rankNum)) {
      reject(rule, "rank is not a decimal number");
      continue;
    }
    if (!parseDecimal(rule.substr(hash + 1, eq - hash - 1), &n) || n == 0) {
      reject(rule, "call count must be a decimal number from 1");
      continue;
    }
    std::string act = rule.substr(eq + 1);
    Rule out{entry, n, Action::Code, 0};
    if (act == "hang") {
      out.action = Action::Hang;
    } else if (act == "kill") {
      out.action = Action::Kill;
    } else if (parseDecimal(act, &code) && code <= 0x7fffffff) {
      if (!entryReturnsCode(entry)) {
        reject(rule, "this function returns a string: only hang or kill apply");
        continue;
      }
      out.code = static_cast<int>(code);
    } else {
      reject(rule, "action must be a decimal error code, hang or kill");
      continue;
    }
    if (at != std::string::npos) {
      unsigned long long mine = 0;
      if (!parseDecimal(myRank, &mine) || mine != rankNum) continue;  // another rank's rule
    }
    r.rules.push_back(out);
    r.any[entry] = true;
  }
  return r;
}

const Rules& rules() {
  static const Rules r = parse();
  return r;
}

}  // namespace

const char* entryName(int id) { return id >= 0 && id < kEntryCount ? kEntryNames[id] : nullptr; }

int faultCheck(int id) {
  unsigned long long n = g_calls[id].fetch_add(1) + 1;
  const Rules& r = rules();
  if (!r.any[id]) return -1;
  for (const Rule& rule : r.rules) {
    if (rule.entry != id || rule.n != n) continue;
    switch (rule.action) {
      case Action::Code: return rule.code;
      case Action::Hang:
        for (;;) pause();
      case Action::Kill:
        raise(SIGKILL);
        for (;;) pause();
    }
  }
  return -1;
}

}  // namespace cuipcsim
