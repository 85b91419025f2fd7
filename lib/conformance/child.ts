// The other process of the conformance run: opens what the parent exported and says what
// happened. Run as `node dist/conformance/child.js <backend> <json request>`; prints one JSON line.
import { openCuda } from '../cuda/index.js';
import { IPC_MEM_LAZY_ENABLE_PEER_ACCESS } from '../cuda/index.js';
import type { ChildRequest, ChildAnswer } from './cells.js';

async function run(request: ChildRequest): Promise<ChildAnswer> {
  const cuda = openCuda({ backend: request.backend });
  const init = await cuda.initDeviceAsync(request.device);
  const answer: ChildAnswer = { init: init.code, opens: [] };
  if (!init.ok) return answer;
  if (request.kind === 'ipc') {
    const handle = Buffer.from(request.handle, 'hex');
    const pointers: bigint[] = [];
    for (let i = 0; i < request.times; i++) {
      const opened = await cuda.ipcOpenMemHandleAsync(handle, IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
      const entry: ChildAnswer['opens'][number] = { code: opened.code, name: opened.name };
      if (opened.ok && opened.value !== undefined) {
        pointers.push(opened.value);
        entry.samePointerAsFirst = pointers.length > 1 ? opened.value === pointers[0] : undefined;
        const attrs = cuda.pointerAttributes(opened.value);
        entry.legacyIpcCapable = attrs.value?.isLegacyIpcCapable.value;
        if (request.readBytes > 0) {
          const bytes = cuda.copyToHost(opened.value, request.readBytes);
          entry.readCode = bytes.code;
          entry.readHex = bytes.value ? bytes.value.subarray(0, 16).toString('hex') : undefined;
        }
      }
      answer.opens.push(entry);
    }
    for (const p of pointers) answer.closeCodes = [...(answer.closeCodes ?? []), cuda.ipcCloseMemHandle(p).code];
  } else {
    const dup = cuda.fdFromProcess(request.pid, request.fd);
    answer.fdVia = dup.via;
    if (!dup.ok) {
      answer.fdError = dup.message;
      return answer;
    }
    const mapped = cuda.vmmImportFd(dup.fd, request.bytes);
    const entry: ChildAnswer['opens'][number] = { code: mapped.code, name: mapped.name };
    if (mapped.ok && mapped.value !== undefined) {
      const bytes = cuda.copyToHost(mapped.value, request.readBytes);
      entry.readCode = bytes.code;
      entry.readHex = bytes.value ? bytes.value.subarray(0, 16).toString('hex') : undefined;
      answer.closeCodes = [cuda.vmmUnmapImported(mapped.value).code];
    }
    cuda.closeFd(dup.fd);
    answer.opens.push(entry);
  }
  return answer;
}

const [, , json] = process.argv;
run(JSON.parse(json ?? '{}') as ChildRequest).then(
  (answer) => process.stdout.write(JSON.stringify(answer) + '\n'),
  (error: unknown) => {
    process.stdout.write(JSON.stringify({ error: String(error) }) + '\n');
    process.exitCode = 1;
  },
);
