// Runs in a separate process: opens what the test process exported, reads it through
// memcpy and through a kernel, and prints one JSON line. Usage: node other-process.mjs <json>
import { openCuda } from '../../../dist/cuda/index.js';

const request = JSON.parse(process.argv[2]);
const cuda = openCuda({ backend: request.backend });
const out = { init: (await cuda.initDeviceAsync(request.device)).code };
let ptr;
if (request.kind === 'ipc') {
  const opened = await cuda.ipcOpenMemHandleAsync(Buffer.from(request.handle, 'hex'), 1);
  out.open = opened.code;
  ptr = opened.value;
} else {
  const dup = cuda.fdFromProcess(request.pid, request.fd);
  out.fdOk = dup.ok;
  out.fdMessage = dup.message;
  if (dup.ok) {
    const mapped = cuda.vmmImportFd(dup.fd, request.bytes);
    out.open = mapped.code;
    ptr = mapped.value;
    cuda.closeFd(dup.fd);
  }
}
if (ptr !== undefined) {
  const bytes = cuda.copyToHost(ptr, request.bytes);
  out.memcpy = bytes.code;
  out.sum = bytes.value ? [...new Uint32Array(bytes.value.buffer, bytes.value.byteOffset, request.bytes / 4)].reduce((a, b) => (a + b) >>> 0, 0) : null;
  if (cuda.kernelsAvailable().available) {
    const result = cuda.malloc('device', 8);
    const stream = cuda.streamCreate(true);
    out.kernel = cuda.launchChecksum(ptr, request.bytes / 4, result.value.ptr, stream.value).code;
    cuda.streamSynchronize(stream.value);
    const sums = cuda.copyToHost(result.value.ptr, 8);
    out.kernelSum = sums.value.readUInt32LE(0);
    cuda.free(result.value.ptr);
    cuda.streamDestroy(stream.value);
  }
  out.close = request.kind === 'ipc' ? cuda.ipcCloseMemHandle(ptr).code : cuda.vmmUnmapImported(ptr).code;
}
process.stdout.write(JSON.stringify(out) + '\n');
