// The CuPy kernels' device functions (novograd_ref/fused/_gpu.py: _PREAMBLE, included
// by the test as gpu_preamble.h) compiled for the host and run on one layer, so that
// their math is checked against the reference without a GPU. Reads from stdin:
// "G V M n steps" (the gradient and parameter, state and moment dtypes, each 16, 32 or
// 64 bits), the N_FLAGS flags, p0[n], then per step N_COEFFICIENTS coefficients and
// g[n] (the slots' names and counts are _plan's, defined by the preamble); prints p, m
// and v after each step.
#include <cmath>
#include <cstdio>
#include <vector>
#define __device__
using std::isnan;
using std::sqrt;
using std::fabs;

// CuPy's float16 as the kernels use it: a binary16 value, built from a float rounded to
// nearest even (implicitly, as CuPy's), read as a float (implicitly); its arithmetic is
// float arithmetic, rounded to binary16 only when a float16 is built from the result.
// The rounding is the compiler's _Float16 conversion (IEEE, nearest even), as the
// device's __float2half_rn. A compiler without _Float16 runs no float16 kind (exit 3).
#ifdef __FLT16_MAX__
#define HOST_FLOAT16 1
typedef _Float16 half_bits;
#else
#define HOST_FLOAT16 0
typedef float half_bits;
#endif
struct float16 {
    half_bits h;
    float16() : h(0) {}
    float16(float y) : h(static_cast<half_bits>(y)) {}
    operator float() const { return static_cast<float>(h); }
};

#include "gpu_preamble.h"

// the kernels' compute dtype: NumPy's result type of G and V, float32 for float16
template <typename X> struct computed { typedef X type; };
template <> struct computed<float16> { typedef float type; };

template <typename G, typename V, typename M>
int run(int n, int steps) {
    typedef typename computed<typename wider<G, V>::type>::type C;
    long long f[N_FLAGS];
    for (auto& x : f) if (scanf("%lld", &x) != 1) return 1;
    std::vector<G> p(n), g(n);
    std::vector<M> m(n, from_d<M>(0.0));
    V v = from_d<V>(0.0), vmax = from_d<V>(0.0);
    for (auto& x : p) { double d; if (scanf("%lf", &d) != 1) return 1; x = from_d<G>(d); }
    for (int t = 0; t < steps; ++t) {
        double c[N_COEFFICIENTS];
        for (auto& x : c) if (scanf("%lf", &x) != 1) return 1;
        for (auto& x : g) { double d; if (scanf("%lf", &d) != 1) return 1; x = from_d<G>(d); }
        double s = 0, mx = 0, p2 = 0, m2 = 0;
        for (int i = 0; i < n; ++i) {
            s += to_d(g[i]) * to_d(g[i]);
            mx = fmax(mx, fabs(to_d(g[i])));
            p2 += to_d(p[i]) * to_d(p[i]);
        }
        C k[N_LAYER_SCALARS];
        layer_scalars<G, V, C>(s, mx, c, f, &v, &vmax, k);
        if (f[F_LUC]) {
            for (int i = 0; i < n; ++i) {
                C m_new, d;
                element<G, V, C>(cvt<C>(g[i]), cvt<C>(p[i]), cvt<C>(m[i]), k, f, m_new, d);
                m2 += to_d(d) * to_d(d);
            }
            clip<G, M, V, C>(p2, m2, c, k);
        }
        for (int i = 0; i < n; ++i) {
            C m_new, d;
            element<G, V, C>(cvt<C>(g[i]), cvt<C>(p[i]), cvt<C>(m[i]), k, f, m_new, d);
            C update = update_of<G, V, C>(d, cvt<C>(p[i]), k, f);
            m[i] = cvt<M>(m_new);
            p[i] = cvt<G>(cvt<C>(p[i]) + cvt<C>(cvt<G>(update)));
        }
        for (int i = 0; i < n; ++i) printf("%.17g ", to_d(p[i]));
        for (int i = 0; i < n; ++i) printf("%.17g ", to_d(m[i]));
        printf("%.17g\n", to_d(v));
    }
    return 0;
}

template <typename G, typename V>
int with_moment(int bits, int n, int steps) {
    if (bits == 16) return run<G, V, float16>(n, steps);
    if (bits == 32) return run<G, V, float>(n, steps);
    if (bits == 64) return run<G, V, double>(n, steps);
    return 2;
}

template <typename G>
int with_state(int bits, int m_bits, int n, int steps) {
    if (bits == 16) return with_moment<G, float16>(m_bits, n, steps);
    if (bits == 32) return with_moment<G, float>(m_bits, n, steps);
    if (bits == 64) return with_moment<G, double>(m_bits, n, steps);
    return 2;
}

int main() {
    int g_bits, v_bits, m_bits, n, steps;
    if (scanf("%d %d %d %d %d", &g_bits, &v_bits, &m_bits, &n, &steps) != 5) return 1;
    if (!HOST_FLOAT16 && (g_bits == 16 || v_bits == 16 || m_bits == 16)) return 3;
    if (g_bits == 16) return with_state<float16>(v_bits, m_bits, n, steps);
    if (g_bits == 32) return with_state<float>(v_bits, m_bits, n, steps);
    if (g_bits == 64) return with_state<double>(v_bits, m_bits, n, steps);
    return 2;
}
