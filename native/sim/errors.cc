// The simulated runtime's and driver's error calls: names and messages from the project's one
// table (loader/cuda_errors.h, the texts of the real CUDA 13.0 libraries), and the runtime's
// per-thread last error.

#include "loader/cuda_errors.h"
#include "sim.h"

namespace cuipcsim {
namespace {

// The text both runtime functions return for a code they do not know.
constexpr const char* kUnrecognized = "unrecognized error code";

thread_local int t_lastError = 0;

const char* rowField(const cuerrors::ErrorRow* row, const char* cuerrors::ErrorRow::*field, const char* unknown) {
  return row ? row->*field : unknown;
}

}  // namespace

// Runtime: the runtime's text for codes it does not know; driver: nullptr (cuGetErrorName fails).
const char* runtimeErrorName(int code) { return rowField(cuerrors::FindRuntime(code), &cuerrors::ErrorRow::name, kUnrecognized); }
const char* runtimeErrorString(int code) { return rowField(cuerrors::FindRuntime(code), &cuerrors::ErrorRow::text, kUnrecognized); }
const char* driverErrorName(int code) { return rowField(cuerrors::FindDriver(code), &cuerrors::ErrorRow::name, nullptr); }
const char* driverErrorString(int code) { return rowField(cuerrors::FindDriver(code), &cuerrors::ErrorRow::text, nullptr); }

// The runtime keeps the last error per host thread: every failing call sets it,
// cudaGetLastError returns and clears it, cudaPeekAtLastError only returns it. The
// recording shows it outlives the failing call (docs/hardware-facts.md#last-error): after an
// invalidated capture the next cudaGetLastError still says 901, and PyTorch's next
// allocation check read the stale 1.
void setLastError(int code) {
  if (code != 0) t_lastError = code;
}

namespace impl {

cudaError_t cudaGetLastError(void) {
  int e = t_lastError;
  t_lastError = 0;
  return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_lastError; }

// Unknown codes: CUDA_ERROR_INVALID_VALUE and a null string, as the driver documents.
CUresult cuGetErrorName(CUresult error, const char** name) {
  if (!name) return cuabi::kErrorInvalidValue;
  *name = driverErrorName(error);
  return *name ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
  if (!text) return cuabi::kErrorInvalidValue;
  *text = driverErrorString(error);
  return *text ? cuabi::kSuccess : cuabi::kErrorInvalidValue;
}

}  // namespace impl
}  // namespace cuipcsim
