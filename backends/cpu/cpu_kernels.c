/* backends/cpu/cpu_kernels.c — see cpu_kernels.h. Each function computes the
 * whole dispatch (the workgroup grid only matters on the GPU). Accumulation is
 * in float, in the same order as the GLSL where that is cheap to keep. */
#include "cpu_kernels.h"

#include <math.h>
#include <string.h>

#include "npu_kernel_abi.h"

static void conv2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0], *w = bind[1], *b = bind[2], *r = bind[3];
  float *y = bind[4];
  uint32_t N = p[NPU_CONV_N], C = p[NPU_CONV_C], H = p[NPU_CONV_H], W = p[NPU_CONV_W];
  uint32_t K = p[NPU_CONV_K], OH = p[NPU_CONV_OH], OW = p[NPU_CONV_OW];
  uint32_t KH = p[NPU_CONV_KH], KW = p[NPU_CONV_KW], SH = p[NPU_CONV_SH], SW = p[NPU_CONV_SW];
  uint32_t PH = p[NPU_CONV_PH], PW = p[NPU_CONV_PW], DH = p[NPU_CONV_DH], DW = p[NPU_CONV_DW];
  uint32_t G = p[NPU_CONV_GROUPS], flags = p[NPU_CONV_FLAGS];
  uint32_t Kg = K / G, Cg = C / G, npix = OH * OW;
  for (uint32_t n = 0; n < N; n++)
    for (uint32_t k = 0; k < K; k++) {
      uint32_t g = k / Kg;
      const float *wk = w + (size_t)k * Cg * KH * KW;
      const float *xg = x + ((size_t)n * C + (size_t)g * Cg) * H * W;
      for (uint32_t oy = 0; oy < OH; oy++)
        for (uint32_t ox = 0; ox < OW; ox++) {
          int64_t iy0 = (int64_t)oy * SH - PH, ix0 = (int64_t)ox * SW - PW;
          float acc = 0.0f;
          for (uint32_t c = 0; c < Cg; c++) {
            const float *xc = xg + (size_t)c * H * W;
            const float *wc = wk + (size_t)c * KH * KW;
            for (uint32_t ky = 0; ky < KH; ky++) {
              int64_t iy = iy0 + (int64_t)ky * DH;
              if (iy < 0 || iy >= H) continue;
              for (uint32_t kx = 0; kx < KW; kx++) {
                int64_t ix = ix0 + (int64_t)kx * DW;
                if (ix < 0 || ix >= W) continue;
                acc += xc[iy * W + ix] * wc[ky * KW + kx];
              }
            }
          }
          float v = acc;
          size_t oi = ((size_t)n * K + k) * npix + (size_t)oy * OW + ox;
          if (flags & NPU_KFLAG_BIAS) v += b[k];
          if (flags & NPU_KFLAG_RESIDUAL) v += r[oi];
          if (flags & NPU_KFLAG_RELU) v = v > 0.0f ? v : 0.0f;
          y[oi] = v;
        }
    }
}

static void maxpool2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t N = p[NPU_POOL_N], C = p[NPU_POOL_C], H = p[NPU_POOL_H], W = p[NPU_POOL_W];
  uint32_t OH = p[NPU_POOL_OH], OW = p[NPU_POOL_OW], KH = p[NPU_POOL_KH], KW = p[NPU_POOL_KW];
  uint32_t SH = p[NPU_POOL_SH], SW = p[NPU_POOL_SW], PH = p[NPU_POOL_PH], PW = p[NPU_POOL_PW];
  uint32_t DH = p[NPU_POOL_DH], DW = p[NPU_POOL_DW];
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        int64_t iy0 = (int64_t)oy * SH - PH, ix0 = (int64_t)ox * SW - PW;
        float m = -INFINITY;
        for (uint32_t ky = 0; ky < KH; ky++) {
          int64_t iy = iy0 + (int64_t)ky * DH;
          if (iy < 0 || iy >= H) continue;
          for (uint32_t kx = 0; kx < KW; kx++) {
            int64_t ix = ix0 + (int64_t)kx * DW;
            if (ix < 0 || ix >= W) continue;
            float v = x[nc * H * W + (size_t)iy * W + (size_t)ix];
            m = v > m ? v : m;
          }
        }
        y[(nc * OH + oy) * OW + ox] = m;
      }
}

static void avgpool2d_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t N = p[0], C = p[1], H = p[2], W = p[3], OH = p[4], OW = p[5];
  for (size_t nc = 0; nc < (size_t)N * C; nc++)
    for (uint32_t oy = 0; oy < OH; oy++)
      for (uint32_t ox = 0; ox < OW; ox++) {
        uint32_t y0 = oy * H / OH, y1 = ((oy + 1) * H + OH - 1) / OH;
        uint32_t x0 = ox * W / OW, x1 = ((ox + 1) * W + OW - 1) / OW;
        float s = 0.0f;
        for (uint32_t iy = y0; iy < y1; iy++)
          for (uint32_t ix = x0; ix < x1; ix++) s += x[nc * H * W + (size_t)iy * W + ix];
        y[(nc * OH + oy) * OW + ox] = s / (float)((y1 - y0) * (x1 - x0));
      }
}

static void global_avgpool_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  uint32_t NC = p[NPU_GAP_NC], HW = p[NPU_GAP_HW];
  for (size_t pl = 0; pl < NC; pl++) {
    float s = 0.0f;
    for (size_t i = 0; i < HW; i++) s += x[pl * HW + i];
    y[pl] = s / (float)HW;
  }
}

static void linear_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0], *w = bind[1], *b = bind[2];
  float *y = bind[3];
  uint32_t M = p[NPU_LINEAR_M], N = p[NPU_LINEAR_N], K = p[NPU_LINEAR_K];
  uint32_t flags = p[NPU_LINEAR_FLAGS];
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      float s = 0.0f;
      for (size_t k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      if (flags & NPU_KFLAG_BIAS) s += b[n];
      if (flags & NPU_KFLAG_RELU) s = s > 0.0f ? s : 0.0f;
      y[m * N + n] = s;
    }
}

static void relu_f32(void *const *bind, const uint32_t *p) {
  const float *x = bind[0];
  float *y = bind[1];
  for (size_t i = 0; i < p[NPU_UNARY_COUNT]; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void add_f32(void *const *bind, const uint32_t *p) {
  const float *a = bind[0], *b = bind[1];
  float *y = bind[2];
  float alpha;
  memcpy(&alpha, &p[NPU_ADD_ALPHA], 4);
  uint32_t flags = p[NPU_ADD_FLAGS];
  for (size_t i = 0; i < p[NPU_ADD_COUNT]; i++) {
    float v = alpha == 1.0f ? a[i] + b[i] : a[i] + alpha * b[i];
    if (flags & NPU_KFLAG_RELU) v = v > 0.0f ? v : 0.0f;
    y[i] = v;
  }
}

static void copy_u32(void *const *bind, const uint32_t *p) {
  memmove(bind[1], bind[0], (size_t)p[NPU_UNARY_COUNT] * 4);
}

static const struct {
  const char *name;
  npu_cpu_kernel_fn fn;
} table[] = {
    {"conv2d_f32", conv2d_f32},       {"maxpool2d_f32", maxpool2d_f32},
    {"avgpool2d_f32", avgpool2d_f32}, {"global_avgpool_f32", global_avgpool_f32},
    {"linear_f32", linear_f32},       {"relu_f32", relu_f32},
    {"add_f32", add_f32},             {"copy_u32", copy_u32},
};

npu_cpu_kernel_fn npu_cpu_kernel_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0) return table[i].fn;
  return NULL;
}
