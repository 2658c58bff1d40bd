// Multi-view heatmap sampling fused with the in-image view average (CPU, float32).
//
// For every sample b, point n and joint k:
//   s_v      = bilinear(heatmap[b, v, k], grid[b, v, n])      (grid_sample, align_corners=True,
//                                                             zero padding)
//   out[b, k, n] = clamp(nan_to_num( sum_v s_v * in[b, v, n] / (sum_v in[b, v, n] + 1e-6) ), 0, 1)
// i.e. models/layers/projection.py's aggregate_views(sample_views(heatmaps, grid), inside),
// without materialising the (B, V, K, N) samples. The heatmaps come channels-last,
// (B, V, H, W, K), so the K values of one pixel are contiguous: one point costs 4 corner
// loads of K floats per view instead of 4 * K scattered loads (grid_sample's NCHW gather).
// Points are done in blocks of 64 (a K x 64 tile written row by row into the (B, K, N)
// output); blocks run in parallel (at::parallel_for). Compiled with -O3 -mavx2 -mfma (the K
// loops vectorise); Python loads it only where the CPU has both.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kBlock = 64;

void sample_block(const float* hm, const float* grid, const uint8_t* inside, float* out,
                  int64_t V, int64_t H, int64_t W, int64_t K, int64_t N, int64_t n0,
                  int64_t n1, float* acc /* kBlock * K */) {
  const float sx = (static_cast<float>(W) - 1.0f) / 2.0f;
  const float sy = (static_cast<float>(H) - 1.0f) / 2.0f;
  const int64_t nb = n1 - n0;
  std::fill(acc, acc + nb * K, 0.0f);
  float cnt[kBlock];
  std::fill(cnt, cnt + kBlock, 0.0f);
  for (int64_t v = 0; v < V; ++v) {
    const float* hv = hm + v * H * W * K;
    const float* gv = grid + (v * N + n0) * 2;
    const uint8_t* iv = inside + v * N + n0;
    for (int64_t j = 0; j < nb; ++j) {
      if (!iv[j]) continue;  // weight 0: the view does not see the point
      cnt[j] += 1.0f;
      const float ix = (gv[2 * j] + 1.0f) * sx;
      const float iy = (gv[2 * j + 1] + 1.0f) * sy;
      if (std::isnan(ix) || std::isnan(iy)) continue;  // no pixel: the view adds 0
      const float fx = std::floor(ix), fy = std::floor(iy);
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      const int64_t x1 = x0 + 1, y1 = y0 + 1;
      const float e = (fx + 1.0f) - ix, w = ix - fx;   // distances to the east / west sides
      const float s = (fy + 1.0f) - iy, n = iy - fy;   // to the south / north sides
      const bool vx0 = x0 >= 0 && x0 < W, vx1 = x1 >= 0 && x1 < W;
      const bool vy0 = y0 >= 0 && y0 < H, vy1 = y1 >= 0 && y1 < H;
      // zero padding: an outside corner gets weight 0 and reads a valid pixel
      const float wnw = (vx0 && vy0) ? s * e : 0.0f;
      const float wne = (vx1 && vy0) ? s * w : 0.0f;
      const float wsw = (vx0 && vy1) ? n * e : 0.0f;
      const float wse = (vx1 && vy1) ? n * w : 0.0f;
      const int64_t cx0 = std::min<int64_t>(std::max<int64_t>(x0, 0), W - 1);
      const int64_t cx1 = std::min<int64_t>(std::max<int64_t>(x1, 0), W - 1);
      const int64_t cy0 = std::min<int64_t>(std::max<int64_t>(y0, 0), H - 1);
      const int64_t cy1 = std::min<int64_t>(std::max<int64_t>(y1, 0), H - 1);
      const float* pnw = hv + (cy0 * W + cx0) * K;
      const float* pne = hv + (cy0 * W + cx1) * K;
      const float* psw = hv + (cy1 * W + cx0) * K;
      const float* pse = hv + (cy1 * W + cx1) * K;
      float* a = acc + j * K;
      for (int64_t k = 0; k < K; ++k)
        a[k] += pnw[k] * wnw + pne[k] * wne + psw[k] * wsw + pse[k] * wse;
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    float* o = out + k * N + n0;
    for (int64_t j = 0; j < nb; ++j) {
      float r = acc[j * K + k] / (cnt[j] + 1e-6f);
      if (std::isnan(r)) r = 0.0f;
      o[j] = std::min(std::max(r, 0.0f), 1.0f);
    }
  }
}

}  // namespace

// heatmaps_cl (B, V, H, W, K) float32 contiguous; grid (B, V, N, 2) float32 contiguous;
// inside (B, V, N) bool contiguous -> (B, K, N) float32.
torch::Tensor sample_views_average(const torch::Tensor& heatmaps_cl, const torch::Tensor& grid,
                                   const torch::Tensor& inside) {
  TORCH_CHECK(heatmaps_cl.dim() == 5 && heatmaps_cl.scalar_type() == torch::kFloat32 &&
                  heatmaps_cl.is_contiguous() && heatmaps_cl.device().is_cpu(),
              "heatmaps_cl must be a contiguous CPU float32 (B, V, H, W, K) tensor");
  const int64_t B = heatmaps_cl.size(0), V = heatmaps_cl.size(1), H = heatmaps_cl.size(2),
                W = heatmaps_cl.size(3), K = heatmaps_cl.size(4);
  TORCH_CHECK(grid.dim() == 4 && grid.size(0) == B && grid.size(1) == V && grid.size(3) == 2 &&
                  grid.scalar_type() == torch::kFloat32 && grid.is_contiguous(),
              "grid must be a contiguous float32 (B, V, N, 2) tensor");
  const int64_t N = grid.size(2);
  TORCH_CHECK(inside.dim() == 3 && inside.size(0) == B && inside.size(1) == V &&
                  inside.size(2) == N && inside.scalar_type() == torch::kBool &&
                  inside.is_contiguous(),
              "inside must be a contiguous bool (B, V, N) tensor");
  auto out = torch::empty({B, K, N}, heatmaps_cl.options());
  if (B == 0 || K == 0 || N == 0) return out;
  const float* hm = heatmaps_cl.data_ptr<float>();
  const float* g = grid.data_ptr<float>();
  const uint8_t* in = reinterpret_cast<const uint8_t*>(inside.data_ptr<bool>());
  float* o = out.data_ptr<float>();
  const int64_t nblk = (N + kBlock - 1) / kBlock;
  at::parallel_for(0, B * nblk, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(kBlock * K);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / nblk, blk = t % nblk;
      const int64_t n0 = blk * kBlock, n1 = std::min(N, n0 + kBlock);
      sample_block(hm + b * V * H * W * K, g + b * V * N * 2, in + b * V * N, o + b * K * N,
                   V, H, W, K, N, n0, n1, acc.data());
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("sample_views_average", &sample_views_average,
        "bilinear multi-view heatmap sampling + in-image view average (CPU, float32)");
}
