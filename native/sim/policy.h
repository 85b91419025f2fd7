// Every answer of the simulated device that comes from a hardware recording, or that a
// conformance recording will settle later, is decided here and only here. The basis is
// docs/hardware-facts.md (H200, driver 580.159.04, CUDA 13.0; every recorded cell is listed
// at #cells, and test/fixtures/conformance/h200.json holds them). A cell the
// recording does not cover says `not recorded:` and what the CUDA documentation says;
// when the project's conformance run records it, change the value here.
#pragma once
#include "loader/cuda_abi.h"

namespace cuipcsim {

enum class Kind {
  Device,    // cudaMalloc
  Pool,      // cudaMallocAsync from the device's default pool
  Managed,   // cudaMallocManaged
  Host,      // cudaHostAlloc
  Vmm,       // a cuMemMap mapping of a cuMemCreate (or imported) allocation
  Imported,  // a cudaIpcOpenMemHandle mapping
};

struct KindPolicy {
  // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
  unsigned memoryType;
  // CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE
  int legacyIpcCapable;
  // cudaIpcGetMemHandle on any pointer inside the allocation
  int ipcGetMemHandleResult;
  // CU_POINTER_ATTRIBUTE_IS_MANAGED
  int isManaged;
};

inline KindPolicy policyFor(Kind k) {
  switch (k) {
    // recorded: type 2, legacy 1, handle 0 (also for an interior pointer).
    case Kind::Device: return {cuabi::kMemoryTypeDevice, 1, cuabi::kSuccess, 0};
    // recorded: legacy 0, handle 1.
    // not recorded: memory type. The docs say pool memory is device memory (type 2).
    case Kind::Pool: return {cuabi::kMemoryTypeDevice, 0, cuabi::kErrorInvalidValue, 0};
    // recorded: legacy 0, handle 1.
    // not recorded: memory type. cuPointerGetAttribute reports the physical location;
    // the docs describe managed memory as attributed to the device it was allocated
    // against (type 2) with IS_MANAGED 1.
    case Kind::Managed: return {cuabi::kMemoryTypeDevice, 0, cuabi::kErrorInvalidValue, 1};
    // recorded: legacy 0, handle 1.
    // not recorded: memory type. The docs say host memory reports CU_MEMORYTYPE_HOST (1).
    case Kind::Host: return {cuabi::kMemoryTypeHost, 0, cuabi::kErrorInvalidValue, 0};
    // recorded: type 2, legacy 0, handle 1, "a normal range exactly like cudaMalloc".
    case Kind::Vmm: return {cuabi::kMemoryTypeDevice, 0, cuabi::kErrorInvalidValue, 0};
    // recorded: legacy 0 on the imported pointer.
    // not recorded: type (the docs: device memory, 2) and re-exporting an imported
    // pointer (the docs: only memory allocated in this process can be exported; 1).
    case Kind::Imported: return {cuabi::kMemoryTypeDevice, 0, cuabi::kErrorInvalidValue, 0};
  }
  return {0, 0, cuabi::kErrorInvalidValue, 0};
}

// CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: recorded 0x1 only for VMM memory created with
// requestedHandleTypes = POSIX fd, 0x0 for everything else (the requested mask is reported).

// Widths the simulated driver writes for cuPointerGetAttribute. not recorded: the docs call
// the flags "a boolean" without a width; NCCL and PyTorch read them into an int, so 4 bytes.
// ALLOWED_HANDLE_TYPES is read as unsigned long long by UCX/NIXL: 8 bytes.
constexpr int kBoolAttrBytes = 4;
constexpr int kHandleTypesAttrBytes = 8;

// cudaIpcGetMemHandle with null, 0xdeadbeef000, a host stack address: recorded 1.
constexpr int kIpcGetUnknownPointer = cuabi::kErrorInvalidValue;

// cudaIpcOpenMemHandle
// recorded: the exporting process opens its own handle -> 201.
constexpr int kIpcOpenOwnHandle = cuabi::kErrorDeviceUninitialized;
// recorded: 64 zero bytes (no valid handle) -> 1.
constexpr int kIpcOpenGarbage = cuabi::kErrorInvalidValue;
// recorded: a handle taken before the exporter freed the allocation, opened after, still
// succeeds. memory.cc keeps an exported allocation's memfd open after cudaFree for this.
constexpr bool kIpcOpenAfterExporterFreeSucceeds = true;
// not recorded: the exporter has exited, or its memfd is gone or was replaced (inode
// mismatch). The docs list cudaErrorMapBufferObjectFailed for a failed mapping: 205.
constexpr int kIpcOpenExporterGone = cuabi::kErrorMapBufferObjectFailed;
// not recorded: memory on a device not peer-reachable from the current device. The docs
// say IPC requires peer access between the devices: cudaErrorPeerAccessUnsupported, 217.
constexpr int kIpcOpenNotPeerReachable = cuabi::kErrorPeerAccessUnsupported;
// not recorded: the same handle opened twice in one process. The docs: "If the memory
// handle has already been opened by the current context, the reference count on the
// handle is incremented by 1 and the existing device pointer is returned."
constexpr bool kIpcOpenTwiceRefcounts = true;

// not recorded: opening an IPC event handle in the process that exported it. The docs
// describe event handles as opened by another process; answered as for memory handles.
constexpr int kIpcOpenOwnEventHandle = cuabi::kErrorDeviceUninitialized;
// not recorded: cudaIpcGetEventHandle on an event created without cudaEventInterprocess.
// The docs list cudaErrorInvalidResourceHandle.
constexpr int kIpcGetEventNotInterprocess = cuabi::kErrorInvalidResourceHandle;

// cuMemExportToShareableHandle(POSIX fd) on an allocation created without that handle type.
// not recorded: the docs require the type to have been requested in the allocation's
// properties and list CUDA_ERROR_INVALID_VALUE.
constexpr int kVmmExportTypeNotRequested = cuabi::kErrorInvalidValue;

// cuMemRetainAllocationHandle on non-VMM memory: recorded to fail; the docs list
// CUDA_ERROR_INVALID_VALUE.
constexpr int kRetainOnNonVmm = cuabi::kErrorInvalidValue;

// Stream capture (recorded in all three modes):
//   cudaStreamIsCapturing -> active; cudaIpcGetMemHandle -> 0 (export is not a
//   capture-unsafe call); cudaMalloc -> 900 in global and thread-local and invalidates the
//   capture, 0 in relaxed; cudaStreamEndCapture afterwards -> 901; the last error -> 901.
constexpr bool kIpcGetMemHandleIsCaptureUnsafe = false;
constexpr bool kMallocIsCaptureUnsafe = true;
// not recorded: cudaIpcOpenMemHandle during capture. The docs do not list it among the
// capture-unsafe calls; allowed.
constexpr bool kIpcOpenMemHandleIsCaptureUnsafe = false;

}  // namespace cuipcsim
