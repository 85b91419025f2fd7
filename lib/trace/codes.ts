// Names and messages of the CUDA codes a trace shows. The tracer writes each code's name and
// message (codeName, codeMessage) from the native error table; traces written before it carry
// numbers only, and a trace is read where no addon may load, so the codes that IPC, allocation
// and capture calls return are named here too. test/trace/codes.test.ts holds this copy to the
// native table (the addon's describeError), code by code.
import type { TraceCallLine } from './format.js';

interface CodeText {
  name: string;
  message: string;
}

const RUNTIME: Record<number, CodeText> = {
  0: { name: 'cudaSuccess', message: 'no error' },
  1: { name: 'cudaErrorInvalidValue', message: 'invalid argument' },
  2: { name: 'cudaErrorMemoryAllocation', message: 'out of memory' },
  3: { name: 'cudaErrorInitializationError', message: 'initialization error' },
  35: { name: 'cudaErrorInsufficientDriver', message: 'CUDA driver version is insufficient for CUDA runtime version' },
  46: { name: 'cudaErrorDevicesUnavailable', message: 'CUDA-capable device(s) is/are busy or unavailable' },
  100: { name: 'cudaErrorNoDevice', message: 'no CUDA-capable device is detected' },
  101: { name: 'cudaErrorInvalidDevice', message: 'invalid device ordinal' },
  201: { name: 'cudaErrorDeviceUninitialized', message: 'invalid device context' },
  217: { name: 'cudaErrorPeerAccessUnsupported', message: 'peer access is not supported between these two devices' },
  400: { name: 'cudaErrorInvalidResourceHandle', message: 'invalid resource handle' },
  700: { name: 'cudaErrorIllegalAddress', message: 'an illegal memory access was encountered' },
  704: { name: 'cudaErrorPeerAccessAlreadyEnabled', message: 'peer access is already enabled' },
  705: { name: 'cudaErrorPeerAccessNotEnabled', message: 'peer access has not been enabled' },
  800: { name: 'cudaErrorNotPermitted', message: 'operation not permitted' },
  801: { name: 'cudaErrorNotSupported', message: 'operation not supported' },
  900: { name: 'cudaErrorStreamCaptureUnsupported', message: 'operation not permitted when stream is capturing' },
  901: { name: 'cudaErrorStreamCaptureInvalidated', message: 'operation failed due to a previous error during capture' },
  906: { name: 'cudaErrorStreamCaptureImplicit', message: 'operation would make the legacy stream depend on a capturing blocking stream' },
  999: { name: 'cudaErrorUnknown', message: 'unknown error' },
};

const DRIVER: Record<number, CodeText> = {
  0: { name: 'CUDA_SUCCESS', message: 'no error' },
  1: { name: 'CUDA_ERROR_INVALID_VALUE', message: 'invalid argument' },
  2: { name: 'CUDA_ERROR_OUT_OF_MEMORY', message: 'out of memory' },
  3: { name: 'CUDA_ERROR_NOT_INITIALIZED', message: 'initialization error' },
  100: { name: 'CUDA_ERROR_NO_DEVICE', message: 'no CUDA-capable device is detected' },
  101: { name: 'CUDA_ERROR_INVALID_DEVICE', message: 'invalid device ordinal' },
  201: { name: 'CUDA_ERROR_INVALID_CONTEXT', message: 'invalid device context' },
  217: { name: 'CUDA_ERROR_PEER_ACCESS_UNSUPPORTED', message: 'peer access is not supported between these two devices' },
  400: { name: 'CUDA_ERROR_INVALID_HANDLE', message: 'invalid resource handle' },
  500: { name: 'CUDA_ERROR_NOT_FOUND', message: 'named symbol not found' },
  700: { name: 'CUDA_ERROR_ILLEGAL_ADDRESS', message: 'an illegal memory access was encountered' },
  704: { name: 'CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED', message: 'peer access is already enabled' },
  705: { name: 'CUDA_ERROR_PEER_ACCESS_NOT_ENABLED', message: 'peer access has not been enabled' },
  800: { name: 'CUDA_ERROR_NOT_PERMITTED', message: 'operation not permitted' },
  801: { name: 'CUDA_ERROR_NOT_SUPPORTED', message: 'operation not supported' },
  900: { name: 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED', message: 'operation not permitted when stream is capturing' },
  901: { name: 'CUDA_ERROR_STREAM_CAPTURE_INVALIDATED', message: 'operation failed due to a previous error during capture' },
  906: { name: 'CUDA_ERROR_STREAM_CAPTURE_IMPLICIT', message: 'operation would make the legacy stream depend on a capturing blocking stream' },
  999: { name: 'CUDA_ERROR_UNKNOWN', message: 'unknown error' },
};

/** The name and message of a traced call's code: the trace's own, else this table's. */
export function callCodeText(call: Pick<TraceCallLine, 'api' | 'code' | 'codeName' | 'codeMessage'>): CodeText {
  return call.codeName !== undefined ? { name: call.codeName, message: call.codeMessage ?? '' } : codeText(call.api, call.code);
}

export function codeText(api: 'runtime' | 'driver', code: number): CodeText {
  const known = (api === 'runtime' ? RUNTIME : DRIVER)[code];
  return known ?? { name: api === 'runtime' ? `cudaError ${code}` : `CUresult ${code}`, message: `error ${code}` };
}
