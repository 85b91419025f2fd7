// The slice of the CUDA driver and runtime ABI that cuipc uses, declared here so the addon
// and the simulated device build without a CUDA toolkit. Values are those of CUDA 12/13
// (cuda.h, driver_types.h); they are part of the stable ABI.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cuabi {
// CUDA_IPC_HANDLE_SIZE: the bytes of a cudaIpcMemHandle_t and a cudaIpcEventHandle_t. The
// one home of this number: the addon exports it to TypeScript (binding.constants).
constexpr size_t kIpcHandleBytes = 64;
}  // namespace cuabi

extern "C" {

typedef int CUresult;        // CUDA_SUCCESS == 0
typedef int cudaError_t;     // cudaSuccess == 0
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef unsigned long long CUmemGenericAllocationHandle;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef struct CUevent_st* CUevent;
typedef struct CUgraph_st* CUgraph;
typedef struct CUgraphExec_st* CUgraphExec;
typedef struct CUmemPoolHandle_st* CUmemoryPool;
typedef CUstream cudaStream_t;
typedef CUevent cudaEvent_t;
typedef CUgraph cudaGraph_t;
typedef CUgraphExec cudaGraphExec_t;

typedef struct { char reserved[cuabi::kIpcHandleBytes]; } cudaIpcMemHandle_t;
typedef struct { char reserved[cuabi::kIpcHandleBytes]; } cudaIpcEventHandle_t;
typedef struct { char bytes[16]; } CUuuid;

typedef struct {
  int type;   // CUmemLocationType
  int id;
} CUmemLocation;

typedef struct {
  int type;                  // CUmemAllocationType
  int requestedHandleTypes;  // CUmemAllocationHandleType
  CUmemLocation location;
  void* win32HandleMetaData;
  struct {
    unsigned char compressionType;
    unsigned char gpuDirectRDMACapable;
    unsigned short usage;
    unsigned char reserved[4];
  } allocFlags;
} CUmemAllocationProp;

typedef struct {
  CUmemLocation location;
  int flags;  // CUmemAccess_flags
} CUmemAccessDesc;

}  // extern "C"

namespace cuabi {
// CUresult / cudaError_t values used by name in cuipc.
constexpr int kSuccess = 0;
constexpr int kErrorInvalidValue = 1;
constexpr int kErrorMemoryAllocation = 2;
constexpr int kErrorInitializationError = 3;
constexpr int kErrorInsufficientDriver = 35;      // runtime: no usable driver
constexpr int kErrorNoDevice = 100;
constexpr int kErrorInvalidDevice = 101;
constexpr int kErrorDeviceUninitialized = 201;    // runtime: opening one's own IPC handle
constexpr int kErrorMapBufferObjectFailed = 205;
constexpr int kErrorAlreadyMapped = 208;
constexpr int kErrorNoKernelImageForDevice = 209;
constexpr int kErrorPeerAccessUnsupported = 217;
constexpr int kErrorInvalidResourceHandle = 400;
constexpr int kErrorNotFound = 500;
constexpr int kErrorNotReady = 600;
constexpr int kErrorPeerAccessAlreadyEnabled = 704;
constexpr int kErrorPeerAccessNotEnabled = 705;
constexpr int kErrorNotPermitted = 800;
constexpr int kErrorNotSupported = 801;
constexpr int kErrorStreamCaptureUnsupported = 900;
constexpr int kErrorStreamCaptureInvalidated = 901;
constexpr int kErrorStreamCaptureImplicit = 906;
constexpr int kErrorUnknown = 999;
// Driver-only codes (CUresult).
constexpr int kCuErrorNotInitialized = 3;
constexpr int kCuErrorInvalidContext = 201;
constexpr int kCuErrorNotFound = 500;

// CUpointer_attribute
constexpr int kPtrAttrContext = 1;
constexpr int kPtrAttrMemoryType = 2;
constexpr int kPtrAttrIsManaged = 8;
constexpr int kPtrAttrDeviceOrdinal = 9;
constexpr int kPtrAttrIsLegacyIpcCapable = 10;
constexpr int kPtrAttrRangeStartAddr = 11;
constexpr int kPtrAttrRangeSize = 12;
constexpr int kPtrAttrMapped = 13;
constexpr int kPtrAttrAllowedHandleTypes = 14;
constexpr int kPtrAttrMempoolHandle = 17;

// CUmemorytype
constexpr int kMemoryTypeHost = 1;
constexpr int kMemoryTypeDevice = 2;
constexpr int kMemoryTypeArray = 3;
constexpr int kMemoryTypeUnified = 4;

// CUdevice_attribute
constexpr int kDevAttrComputeMode = 20;
constexpr int kDevAttrPciBusId = 33;
constexpr int kDevAttrPciDeviceId = 34;
constexpr int kDevAttrUnifiedAddressing = 41;
constexpr int kDevAttrPciDomainId = 50;
constexpr int kDevAttrComputeCapabilityMajor = 75;
constexpr int kDevAttrComputeCapabilityMinor = 76;
constexpr int kDevAttrVmmSupported = 102;
constexpr int kDevAttrPosixFdSupported = 103;

// VMM
constexpr int kMemHandleTypeNone = 0;
constexpr int kMemHandleTypePosixFd = 1;
constexpr int kMemAllocationTypePinned = 1;
constexpr int kMemLocationTypeDevice = 1;
constexpr int kMemAccessReadWrite = 3;
constexpr int kMemAllocGranularityMinimum = 0;

// Runtime flags and enums
constexpr unsigned kIpcMemLazyEnablePeerAccess = 1;
constexpr unsigned kHostAllocMapped = 2;
constexpr unsigned kStreamNonBlocking = 1;
constexpr unsigned kEventDisableTiming = 2;
constexpr unsigned kEventInterprocess = 4;
constexpr int kMemcpyDefault = 4;
constexpr int kCaptureModeGlobal = 0;
constexpr int kCaptureModeThreadLocal = 1;
constexpr int kCaptureModeRelaxed = 2;
constexpr int kCaptureStatusNone = 0;
constexpr int kCaptureStatusActive = 1;
constexpr int kCaptureStatusInvalidated = 2;
constexpr int kP2PAttrPerformanceRank = 1;
constexpr int kP2PAttrAccessSupported = 2;
constexpr int kP2PAttrNativeAtomicSupported = 3;

constexpr int kGetProcAddressDefault = 0;
// The CUDA version we ask cuGetProcAddress for: 12.0 semantics (the _v2 entry points).
constexpr int kProcAddressVersion = 12000;
}  // namespace cuabi
