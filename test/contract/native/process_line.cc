// Prints the trace library's process line for this process's environment, so that
// test/contract/env-filter.test.ts can hold the tracer's environment filter to its one home
// (lib/env/relevant-variables.json). Linked with native/trace/*.cc; needs no GPU or driver.
#include <cstdio>
#include <string>

#include "trace/tracer.h"

int main() {
  std::printf("%s", cuipc_trace::ProcessLine(0).c_str());
  return 0;
}
