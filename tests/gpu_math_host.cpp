// The CuPy kernels' device functions (novograd_ref/fused/_gpu.py: _PREAMBLE, included
// by the test as gpu_preamble.h) compiled for the host and run on one layer, so that
// their math is checked against the reference without a GPU. Reads from stdin:
// "kind n steps", the 13 flags, p0[n], then per step 18 coefficients and g[n]; prints
// p, m and v after each step. kind: 64 (float64), 32 (float32), 6432 (float64 with a
// float32 state), 3264 (float32 with a float64 state).
#include <cmath>
#include <cstdio>
#include <vector>
#define __device__
using std::isnan;
using std::sqrt;
using std::fabs;

struct float16 {  // a stand-in: only the float32 and float64 paths are run here
    float x;
    float16() : x(0) {}
    explicit float16(float y) : x(y) {}
    operator float() const { return x; }
};

#include "gpu_preamble.h"

template <typename G, typename V, typename M, typename C>
int run(int n, int steps) {
    long long f[13];
    for (auto& x : f) if (scanf("%lld", &x) != 1) return 1;
    std::vector<G> p(n), g(n);
    std::vector<M> m(n, M(0));
    V v = V(0), vmax = V(0);
    for (auto& x : p) { double d; if (scanf("%lf", &d) != 1) return 1; x = G(d); }
    for (int t = 0; t < steps; ++t) {
        double c[18];
        for (auto& x : c) if (scanf("%lf", &x) != 1) return 1;
        for (auto& x : g) { double d; if (scanf("%lf", &d) != 1) return 1; x = G(d); }
        double s = 0, mx = 0, p2 = 0, m2 = 0;
        for (int i = 0; i < n; ++i) {
            s += to_d(g[i]) * to_d(g[i]);
            mx = fmax(mx, fabs(to_d(g[i])));
            p2 += to_d(p[i]) * to_d(p[i]);
        }
        C k[12];
        layer_scalars<G, V, C>(s, mx, c, f, &v, &vmax, k);
        if (f[F_LUC]) {
            for (int i = 0; i < n; ++i) {
                C m_new, d;
                element<C>(cvt<C>(g[i]), cvt<C>(p[i]), cvt<C>(m[i]), k, f, m_new, d);
                m2 += to_d(d) * to_d(d);
            }
            clip<G, C>(p2, m2, c, k);
        }
        for (int i = 0; i < n; ++i) {
            C m_new, d;
            element<C>(cvt<C>(g[i]), cvt<C>(p[i]), cvt<C>(m[i]), k, f, m_new, d);
            C update = update_of<C>(d, cvt<C>(p[i]), k, f);
            m[i] = cvt<M>(m_new);
            p[i] = cvt<G>(cvt<C>(p[i]) + cvt<C>(cvt<G>(update)));
        }
        for (int i = 0; i < n; ++i) printf("%.17g ", to_d(p[i]));
        for (int i = 0; i < n; ++i) printf("%.17g ", to_d(m[i]));
        printf("%.17g\n", to_d(v));
    }
    return 0;
}

int main() {
    int kind, n, steps;
    if (scanf("%d %d %d", &kind, &n, &steps) != 3) return 1;
    if (kind == 64) return run<double, double, double, double>(n, steps);
    if (kind == 32) return run<float, float, float, float>(n, steps);
    if (kind == 6432) return run<double, float, double, double>(n, steps);
    if (kind == 3264) return run<float, double, float, double>(n, steps);
    return 2;
}
