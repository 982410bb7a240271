// The CuPy kernels' device functions (novograd_ref/fused/_gpu.py: _PREAMBLE, included
// by the test as gpu_preamble.h) instantiated for the dtype combinations the kernels
// take, so that nvcc compiles them for the device where there is no GPU (and no CuPy).
#include <cuda_fp16.h>
// a stand-in for CuPy's float16: built from a float (rounded to nearest even), read as
// a float; its arithmetic is float arithmetic
struct float16 {
    __half h;
    __device__ float16() : h(__float2half_rn(0.f)) {}
    __device__ float16(float y) : h(__float2half_rn(y)) {}
    __device__ operator float() const { return __half2float(h); }
};
#include "gpu_preamble.h"
template <typename G, typename M, typename V, typename C>
__global__ void all(const G* g, G* p, M* m, V* v, V* vmax, const double* c,
                    const long long* f, C* k, double* sums) {
    layer_scalars<G, V, C>(sums[S_GRAD_SQUARES], sums[S_MAX_ABS], c, f, v, vmax, k);
    clip<G, M, V, C>(sums[S_PARAM_SQUARES], sums[S_DIRECTION_SQUARES], c, k);
    int i = threadIdx.x;
    C m_new, d;
    element<G, V, C>(cvt<C>(g[i]), cvt<C>(p[i]), cvt<C>(m[i]), k, f, m_new, d);
    C update = update_of<G, V, C>(d, cvt<C>(p[i]), k, f);
    m[i] = cvt<M>(m_new);
    p[i] = cvt<G>(cvt<C>(p[i]) + cvt<C>(cvt<G>(update)));
}
template __global__ void all<double, double, double, double>(const double*, double*, double*, double*, double*, const double*, const long long*, double*, double*);
template __global__ void all<float, float, float, float>(const float*, float*, float*, float*, float*, const double*, const long long*, float*, double*);
template __global__ void all<float16, float16, float, float>(const float16*, float16*, float16*, float*, float*, const double*, const long long*, float*, double*);
template __global__ void all<float16, float16, float16, float>(const float16*, float16*, float16*, float16*, float16*, const double*, const long long*, float*, double*);
template __global__ void all<float, float, double, double>(const float*, float*, float*, double*, double*, const double*, const long long*, double*, double*);
