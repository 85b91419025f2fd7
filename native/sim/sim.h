// Internal interface of the simulated device (libcuipc_sim.so). Nothing here is exported:
// exports.cc wraps every implementation below in the C entry point of the same name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "loader/cuda_table.h"

namespace cuipcsim {

// The implementations, declared from the same X-macro tables as the loader uses, so a
// signature in the contract and a signature here cannot drift apart.
namespace impl {
#define CUIPC_SIM_DECLARE_RT(name, params, args) cudaError_t name params;
#define CUIPC_SIM_DECLARE_DRV(name, params, args) CUresult name params;
CUIPC_RUNTIME_TABLE(CUIPC_SIM_DECLARE_RT)
CUIPC_ALLOCATION_TABLE(CUIPC_SIM_DECLARE_RT)
CUIPC_DRIVER_TABLE(CUIPC_SIM_DECLARE_DRV)
#undef CUIPC_SIM_DECLARE_RT
#undef CUIPC_SIM_DECLARE_DRV
}  // namespace impl

// ---- one lock for all simulated state (registry, streams, captures, events, modules) ----
std::mutex& stateMutex();

// ---- errors.cc ----
const char* runtimeErrorName(int code);    // "unrecognized error code" when unknown
const char* runtimeErrorString(int code);
const char* driverErrorName(int code);     // nullptr when unknown
const char* driverErrorString(int code);
void setLastError(int code);               // called for every failing runtime call

// ---- devices.cc ----
constexpr int kMaxDevices = 16;
int physicalDeviceCount();                 // CUIPC_SIM_DEVICES
int visibleDeviceCount();                  // after CUDA_VISIBLE_DEVICES
int visibleToPhysical(int ordinal);        // -1 when not a visible ordinal
int physicalToVisible(int physical);       // -1 when not visible in this process
bool peerReachable(int physA, int physB);  // CUIPC_SIM_PEER; a device always reaches itself
int currentPhysicalDevice();               // of the calling thread (after runtimeInit)
int currentVisibleDevice();
CUcontext contextOfPhysical(int physical);
// Runtime calls: 100 when there is no device, else binds the current device's primary
// context to the calling thread (the runtime's implicit initialisation) and returns 0.
int runtimeInit();
// Driver calls other than cuInit and the version/error/proc-address queries: 3
// (CUDA_ERROR_NOT_INITIALIZED, as the docs say) until cuInit or any runtime call has
// initialised the driver.
int driverInitCheck();
uint64_t deviceMemoryBytes();

// ---- capture.cc ----
// Called by every call CUDA documents as "potentially unsafe" during stream capture
// (allocation, free, device synchronisation). Returns 900 and invalidates the captures
// that make the call illegal for this thread, or 0 when the call may proceed.
int checkUnsafeDuringCapture();
// Called by calls that run on the legacy default stream (synchronous memcpy/memset,
// null-stream launches/records/syncs). Returns 906 and invalidates when a blocking stream
// is capturing, else 0.
int checkLegacyStreamDuringCapture();
struct KernelLaunch;
// For cuLaunchKernel: -1 when the stream is not capturing (run now), 0 when the launch was
// appended to the capture, or an error code. Requires stateMutex held.
int captureLaunchLocked(CUstream stream, const KernelLaunch& launch);
// When `stream` is capturing: records memory at `base` as an allocation node of its graph (true).
bool recordGraphAllocationLocked(CUstream stream, uintptr_t base);
bool isValidStreamLocked(CUstream stream);  // null (legacy) counts as valid
// The capture status of a stream for work submitted to it: 400 for an unknown stream, 906
// for the legacy stream while a blocking stream captures, else 0 and *status.
int streamCaptureStatusLocked(CUstream stream, int* status);

// ---- kernels.cc ----
struct KernelLaunch {
  int kernel = -1;           // index into the kernel table
  uint64_t args[4] = {0, 0, 0, 0};
};
// Runs one launch on the CPU; returns 0 or 700 when a pointer does not name device-accessible
// memory. Requires stateMutex held.
int runKernelLocked(const KernelLaunch& launch);

// ---- memory.cc ----
// Whether [p, p+bytes) lies in memory a kernel could touch (registered and, for VMM,
// mapped with access), possibly across adjacent mappings. Requires stateMutex held.
bool deviceAccessibleLocked(uintptr_t p, size_t bytes);

// ---- fault.cc ----
// Counts the call of entry point `entry` (entries.h) and applies CUIPC_SIM_FAULT: returns
// -1 to proceed, or the error code to return instead. `hang` and `kill` never return.
int faultCheck(int entry);

}  // namespace cuipcsim
