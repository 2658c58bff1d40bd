// Winograd F(2x2x2, 3x3x3) convolution for float32 channels-last 3-D volumes (CPU, AVX2+FMA).
//
// y[n, d, h, w, o] = b[o] + sum_{c, i, j, k} x[n, d+i-1, h+j-1, w+k-1, c] * g[o, c, i, j, k]
// (a stride-1, zero-padded 'same' 3x3x3 cross-correlation, as torch's conv3d), computed per
// 2x2x2 output tile as  A^T [ sum_c (G g G^T)[xi, c, o] * (B^T d B)[xi, c] ] A  over the 64
// points xi of the 4x4x4 Winograd domain (Lavin & Gray 2016). 64 multiplications per tile and
// channel pair instead of 8 * 27 = 216: 3.4x fewer than a direct convolution.
//
// The work is split into chunks of tiles that fit in the cache: input transform of a chunk
// into V (64, T, C), 64 matrix products V[xi] (T, C) x U[xi] (C, O) with an AVX2 register-
// blocked kernel into M (64, T, O), output transform of M into y. Chunks run in parallel
// (at::parallel_for). The weight transform U = G g G^T is done once, in Python.
// This file is compiled with -mavx2 -mfma; Python loads it only on CPUs that have both.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

// Cm[MR x 16] (row stride ldc) = A[MR x K] (row stride lda) * B[K x 16] (row stride ldb)
template <int MR>
inline void micro_kernel(const float* A, int64_t lda, const float* B, int64_t ldb, float* Cm,
                         int64_t ldc, int64_t K) {
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm256_setzero_ps();
    c1[i] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * ldb);
    const __m256 b1 = _mm256_loadu_ps(B + k * ldb + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i * lda + k);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_ps(Cm + i * ldc, c0[i]);
    _mm256_storeu_ps(Cm + i * ldc + 8, c1[i]);
  }
}

// Cm[T x O] = A[T x K] * B[K x O], all row-major and dense; O % 16 == 0.
void gemm(const float* A, const float* B, float* Cm, int64_t T, int64_t K, int64_t O) {
  for (int64_t j = 0; j < O; j += 16) {
    int64_t r = 0;
    for (; r + 6 <= T; r += 6) micro_kernel<6>(A + r * K, K, B + j, O, Cm + r * O + j, O, K);
    switch (T - r) {
      case 5: micro_kernel<5>(A + r * K, K, B + j, O, Cm + r * O + j, O, K); break;
      case 4: micro_kernel<4>(A + r * K, K, B + j, O, Cm + r * O + j, O, K); break;
      case 3: micro_kernel<3>(A + r * K, K, B + j, O, Cm + r * O + j, O, K); break;
      case 2: micro_kernel<2>(A + r * K, K, B + j, O, Cm + r * O + j, O, K); break;
      case 1: micro_kernel<1>(A + r * K, K, B + j, O, Cm + r * O + j, O, K); break;
      default: break;
    }
  }
}

inline __m256 load_if(const float* p, bool ok) {
  return ok ? _mm256_loadu_ps(p) : _mm256_setzero_ps();
}

// B^T d B of the 4x4x4 input tile at (n, 2td-1, 2th-1, 2tw-1) (zero outside the volume),
// channels [cb, cb+8) of every tile point -> V[xi * Vs + t * C + cb]
inline void input_transform(const float* xp, int64_t n, int64_t td, int64_t th, int64_t tw,
                            int64_t D, int64_t H, int64_t W, int64_t C, float* V, int64_t Vs,
                            int64_t t) {
  alignas(32) float tmp[64 * 8];
  for (int64_t cb = 0; cb < C; cb += 8) {
    for (int64_t p = 0; p < 4; ++p) {
      const int64_t d = 2 * td - 1 + p;
      for (int64_t q = 0; q < 4; ++q) {
        const int64_t h = 2 * th - 1 + q;
        const bool ok = d >= 0 && d < D && h >= 0 && h < H;
        const float* row = xp + (((n * D + (ok ? d : 0)) * H + (ok ? h : 0)) * W) * C + cb;
        const int64_t w0 = 2 * tw - 1;
        const __m256 v0 = load_if(row + w0 * C, ok && w0 >= 0);
        const __m256 v1 = load_if(row + (w0 + 1) * C, ok && w0 + 1 < W);
        const __m256 v2 = load_if(row + (w0 + 2) * C, ok && w0 + 2 < W);
        const __m256 v3 = load_if(row + (w0 + 3) * C, ok && w0 + 3 < W);
        float* o = tmp + (p * 4 + q) * 32;
        _mm256_store_ps(o, _mm256_sub_ps(v0, v2));
        _mm256_store_ps(o + 8, _mm256_add_ps(v1, v2));
        _mm256_store_ps(o + 16, _mm256_sub_ps(v2, v1));
        _mm256_store_ps(o + 24, _mm256_sub_ps(v1, v3));
      }
    }
    for (int64_t r = 0; r < 4; ++r) {          // along h, then d, in registers
      __m256 v[4][4];
      for (int64_t p = 0; p < 4; ++p) {
        const __m256 a0 = _mm256_load_ps(tmp + ((p * 4 + 0) * 4 + r) * 8);
        const __m256 a1 = _mm256_load_ps(tmp + ((p * 4 + 1) * 4 + r) * 8);
        const __m256 a2 = _mm256_load_ps(tmp + ((p * 4 + 2) * 4 + r) * 8);
        const __m256 a3 = _mm256_load_ps(tmp + ((p * 4 + 3) * 4 + r) * 8);
        v[p][0] = _mm256_sub_ps(a0, a2);
        v[p][1] = _mm256_add_ps(a1, a2);
        v[p][2] = _mm256_sub_ps(a2, a1);
        v[p][3] = _mm256_sub_ps(a1, a3);
      }
      for (int64_t q = 0; q < 4; ++q) {
        float* o = V + (q * 4 + r) * Vs + t * C + cb;
        const int64_t step = 16 * Vs;          // xi += 16
        _mm256_storeu_ps(o, _mm256_sub_ps(v[0][q], v[2][q]));
        _mm256_storeu_ps(o + step, _mm256_add_ps(v[1][q], v[2][q]));
        _mm256_storeu_ps(o + 2 * step, _mm256_sub_ps(v[2][q], v[1][q]));
        _mm256_storeu_ps(o + 3 * step, _mm256_sub_ps(v[1][q], v[3][q]));
      }
    }
  }
}

// A^T m A of tile t of M (64 rows of stride Ms, each (Tc, O)) plus bias (plus the residual
// at the same position, then max(., 0) with relu) -> the 2x2x2 outputs at (n, 2td, 2th, 2tw)
// that lie inside the volume
inline void output_transform(const float* M, int64_t Ms, int64_t t, int64_t O,
                             const float* bias, const float* res, bool relu, float* yp,
                             int64_t n, int64_t td, int64_t th, int64_t tw, int64_t D,
                             int64_t H, int64_t W) {
  alignas(32) float tmp[64 * 8];
  for (int64_t ob = 0; ob < O; ob += 8) {
    for (int64_t pq = 0; pq < 16; ++pq) {      // along w
      const float* m = M + pq * 4 * Ms + t * O + ob;
      const int64_t step = Ms;
      const __m256 m0 = _mm256_loadu_ps(m), m1 = _mm256_loadu_ps(m + step);
      const __m256 m2 = _mm256_loadu_ps(m + 2 * step), m3 = _mm256_loadu_ps(m + 3 * step);
      float* o = tmp + pq * 16;
      _mm256_store_ps(o, _mm256_add_ps(_mm256_add_ps(m0, m1), m2));
      _mm256_store_ps(o + 8, _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3));
    }
    const __m256 bv = bias ? _mm256_loadu_ps(bias + ob) : _mm256_setzero_ps();
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t r = 0; r < 2; ++r) {          // along h, then d, in registers, out
      const int64_t w = 2 * tw + r;
      if (w >= W) continue;
      __m256 v[4][2];
      for (int64_t p = 0; p < 4; ++p) {
        const __m256 a0 = _mm256_load_ps(tmp + ((p * 4 + 0) * 2 + r) * 8);
        const __m256 a1 = _mm256_load_ps(tmp + ((p * 4 + 1) * 2 + r) * 8);
        const __m256 a2 = _mm256_load_ps(tmp + ((p * 4 + 2) * 2 + r) * 8);
        const __m256 a3 = _mm256_load_ps(tmp + ((p * 4 + 3) * 2 + r) * 8);
        v[p][0] = _mm256_add_ps(_mm256_add_ps(a0, a1), a2);
        v[p][1] = _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3);
      }
      for (int64_t q = 0; q < 2; ++q) {
        const int64_t h = 2 * th + q;
        if (h >= H) continue;
        const int64_t d0 = 2 * td;
        const int64_t off = (((n * D + d0) * H + h) * W + w) * O + ob;
        __m256 y0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(v[0][q], v[1][q]), v[2][q]), bv);
        __m256 y1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(v[1][q], v[2][q]), v[3][q]), bv);
        const bool second = d0 + 1 < D;
        if (res) {
          y0 = _mm256_add_ps(y0, _mm256_loadu_ps(res + off));
          if (second) y1 = _mm256_add_ps(y1, _mm256_loadu_ps(res + off + H * W * O));
        }
        if (relu) {
          y0 = _mm256_max_ps(y0, zero);
          y1 = _mm256_max_ps(y1, zero);
        }
        _mm256_storeu_ps(yp + off, y0);
        if (second) _mm256_storeu_ps(yp + off + H * W * O, y1);
      }
    }
  }
}

}  // namespace

// x: (N, D, H, W, C) float32 contiguous; U: (64, C, O) float32 contiguous, O % 16 == 0;
// bias: (O) or empty; residual: (N, D, H, W, O) or empty, added after the bias; relu: then
// max(., 0). Returns y: (N, D, H, W, O).
torch::Tensor winograd3d_f2(torch::Tensor x, torch::Tensor U, torch::Tensor bias,
                            torch::Tensor residual, bool relu, int64_t tiles_per_chunk) {
  TORCH_CHECK(x.dim() == 5 && x.scalar_type() == torch::kFloat && x.is_contiguous() &&
                  x.device().is_cpu(),
              "winograd3d_f2: x must be a contiguous float32 CPU (N, D, H, W, C) tensor");
  TORCH_CHECK(U.dim() == 3 && U.size(0) == 64 && U.scalar_type() == torch::kFloat &&
                  U.is_contiguous() && U.size(1) == x.size(4) && U.size(2) % 16 == 0 && U.size(1) % 8 == 0,
              "winograd3d_f2: U must be a contiguous float32 (64, C, O) tensor, C % 8 == 0, "
              "O % 16 == 0");
  const bool has_bias = bias.numel() > 0;
  TORCH_CHECK(!has_bias || (bias.numel() == U.size(2) && bias.scalar_type() == torch::kFloat &&
                            bias.is_contiguous()),
              "winograd3d_f2: bias must be a contiguous float32 (O) tensor");
  const int64_t N = x.size(0), D = x.size(1), H = x.size(2), W = x.size(3), C = x.size(4);
  const int64_t O = U.size(2);
  const int64_t nD = (D + 1) / 2, nH = (H + 1) / 2, nW = (W + 1) / 2;
  const int64_t T = N * nD * nH * nW;
  const bool has_res = residual.numel() > 0;
  TORCH_CHECK(!has_res || (residual.dim() == 5 && residual.size(0) == N &&
                           residual.size(1) == D && residual.size(2) == H &&
                           residual.size(3) == W && residual.size(4) == O &&
                           residual.scalar_type() == torch::kFloat && residual.is_contiguous()),
              "winograd3d_f2: residual must be a contiguous float32 (N, D, H, W, O) tensor");
  auto y = torch::empty({N, D, H, W, O}, x.options());
  const float* rp = has_res ? residual.data_ptr<float>() : nullptr;
  if (T == 0) return y;
  const int64_t Tc = std::max<int64_t>(1, std::min<int64_t>(tiles_per_chunk, T));
  const int64_t nchunks = (T + Tc - 1) / Tc;
  const float* xp = x.data_ptr<float>();
  const float* Up = U.data_ptr<float>();
  const float* bp = has_bias ? bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();

  at::parallel_for(0, nchunks, 1, [&](int64_t begin, int64_t end) {
    // a cache line of padding between the 64 matrices: a power-of-two stride would map the
    // 64 rows a tile touches onto the same few cache sets
    const int64_t Vs = Tc * C + 16, Ms = Tc * O + 16;
    std::vector<float> V(64 * Vs), M(64 * Ms);
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t t0 = chunk * Tc;
      const int64_t tn = std::min(Tc, T - t0);
      // input transform: tile t -> V[xi, t, :]
      for (int64_t t = 0; t < tn; ++t) {
        int64_t idx = t0 + t;
        const int64_t tw = idx % nW; idx /= nW;
        const int64_t th = idx % nH; idx /= nH;
        input_transform(xp, idx / nD, idx % nD, th, tw, D, H, W, C, V.data(), Vs, t);
      }
      // 64 products V[xi] (tn, C) x U[xi] (C, O)
      for (int64_t xi = 0; xi < 64; ++xi)
        gemm(V.data() + xi * Vs, Up + xi * C * O, M.data() + xi * Ms, tn, C, O);
      // output transform: M[xi, t, :] -> 2x2x2 outputs
      for (int64_t t = 0; t < tn; ++t) {
        int64_t idx = t0 + t;
        const int64_t tw = idx % nW; idx /= nW;
        const int64_t th = idx % nH; idx /= nH;
        output_transform(M.data(), Ms, t, O, bp, rp, relu, yp, idx / nD, idx % nD, th, tw, D, H, W);
      }
    }
  });
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("winograd3d_f2", &winograd3d_f2,
        "Winograd F(2,3) 3x3x3 'same' convolution, channels-last float32 (CPU)");
}
