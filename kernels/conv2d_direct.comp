#version 450
// npu-kernel: bindings=5 push=17 precisions=f16
//
// conv2d_direct_f16: a precision-generic copy of conv2d_f32 (same ABI, same
// algorithm), built for f16 storage only; the fp16 lowering uses it until a
// precision-generic conv replaces it. Storage ACT_T, accumulation in float.
// 2-D cross-correlation, NCHW, zero padding, any stride,
// dilation and groups, with optional bias, residual add and ReLU fused:
//   Y[n,k,oy,ox] = relu?( sum_{c,ky,kx} X[n,g*Cg+c,iy,ix] * W[k,c,ky,kx]
//                         + B[k]? + R[n,k,oy,ox]? )
// Bindings: 0 X [N,C,H,W], 1 W [K,C/groups,KH,KW], 2 B [K] (ignored without
// FLAG_BIAS), 3 R [N,K,OH,OW] (ignored without FLAG_RESIDUAL), 4 Y [N,K,OH,OW].
// One invocation computes 4 output channels (of one group) of one pixel; a
// workgroup covers 64 pixels, so the weights read are uniform across it.
// Groups: x = ceil(OH*OW/64), y = groups * ceil((K/groups)/4), z = N.
#include "precision.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Wb { ACT_T w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bb { ACT_T b[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rb { ACT_T r[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P {
  uint N, C, H, W, K, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G, FLAGS;
} p;

const uint FLAG_BIAS = 1u, FLAG_RELU = 2u, FLAG_RESIDUAL = 4u;

void main() {
  uint pix = gl_GlobalInvocationID.x;
  uint npix = p.OH * p.OW;
  if (pix >= npix) return;
  uint n = gl_WorkGroupID.z;
  uint Kg = p.K / p.G;
  uint Cg = p.C / p.G;
  uint blocks = (Kg + 3u) / 4u;
  uint g = gl_WorkGroupID.y / blocks;
  uint kb = (gl_WorkGroupID.y % blocks) * 4u;  // first channel within group
  uint k0 = g * Kg + kb;
  uint nk = min(4u, Kg - kb);
  uint oy = pix / p.OW, ox = pix % p.OW;
  int iy0 = int(oy * p.SH) - int(p.PH);
  int ix0 = int(ox * p.SW) - int(p.PW);
  uint wstride = Cg * p.KH * p.KW;  // per output channel
  // Clamp the channel rows we read so that the tail block stays in bounds.
  uint w0 = k0 * wstride;
  uint w1 = (k0 + min(1u, nk - 1u)) * wstride;
  uint w2 = (k0 + min(2u, nk - 1u)) * wstride;
  uint w3 = (k0 + min(3u, nk - 1u)) * wstride;
  vec4 acc = vec4(0.0);
  uint xplane = p.H * p.W;
  uint xbase = (n * p.C + g * Cg) * xplane;
  for (uint c = 0u; c < Cg; ++c) {
    uint xc = xbase + c * xplane;
    uint wc = c * p.KH * p.KW;
    for (uint ky = 0u; ky < p.KH; ++ky) {
      int iy = iy0 + int(ky * p.DH);
      if (iy < 0 || iy >= int(p.H)) continue;
      uint xrow = xc + uint(iy) * p.W;
      uint wrow = wc + ky * p.KW;
      for (uint kx = 0u; kx < p.KW; ++kx) {
        int ix = ix0 + int(kx * p.DW);
        if (ix < 0 || ix >= int(p.W)) continue;
        float v = float(x[xrow + uint(ix)]);
        uint wi = wrow + kx;
        acc += v * vec4(float(w[w0 + wi]), float(w[w1 + wi]), float(w[w2 + wi]), float(w[w3 + wi]));
      }
    }
  }
  for (uint j = 0u; j < nk; ++j) {
    uint k = k0 + j;
    float v = acc[j];
    if ((p.FLAGS & FLAG_BIAS) != 0u) v += float(b[k]);
    uint oi = (n * p.K + k) * npix + pix;
    if ((p.FLAGS & FLAG_RESIDUAL) != 0u) v += float(r[oi]);
    if ((p.FLAGS & FLAG_RELU) != 0u) v = max(v, 0.0);
    y[oi] = ACT_T(v);
  }
}
