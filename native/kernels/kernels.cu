// The probe's kernels, compiled ahead of time into a fatbin that the addon embeds and loads
// with cuModuleLoadData. uint32 arithmetic wraps, so sums are exact and checked byte for byte.
#include <cstdint>

extern "C" __global__ void cuipc_fill(uint32_t* p, unsigned long long count, uint32_t seed) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < count;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    p[i] = seed * 2654435761u + (uint32_t)i;
  }
}

// One block: the result must not depend on how many blocks ran.
extern "C" __global__ void cuipc_checksum(const uint32_t* p, unsigned long long count, uint32_t* out) {
  __shared__ uint32_t sums[256];
  __shared__ uint32_t xors[256];
  uint32_t s = 0, x = 0;
  for (unsigned long long i = threadIdx.x; i < count; i += blockDim.x) {
    s += p[i];
    x ^= p[i];
  }
  sums[threadIdx.x] = s;
  xors[threadIdx.x] = x;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      sums[threadIdx.x] += sums[threadIdx.x + stride];
      xors[threadIdx.x] ^= xors[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[0] = sums[0];
    out[1] = xors[0];
  }
}

// One-shot all-reduce: every rank reads every peer's input through the pointer table, the
// way a custom all-reduce reads registered graph inputs over NVLink.
extern "C" __global__ void cuipc_allreduce(const uint32_t* const* table, int ranks, uint32_t* out, unsigned long long count) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < count;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    uint32_t sum = 0;
    for (int r = 0; r < ranks; r++) sum += table[r][i];
    out[i] = sum;
  }
}
