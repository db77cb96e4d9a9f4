#version 450
// npu-kernel: bindings=2 push=14 precisions=f32,f16
//
// maxpool2d_f32 / maxpool2d_f16: Y[n,c,oy,ox] = max over the KHxKW window (stride, padding,
// dilation); padded positions act as -inf (they are skipped).
// Bindings: 0 X [N,C,H,W], 1 Y [N,C,OH,OW]. One invocation per output element,
// linear index = gid.x + gid.y * (num_groups.x * 256).
#include "precision.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P {
  uint N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW;
} p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  uint total = p.N * p.C * p.OH * p.OW;
  if (i >= total) return;
  uint ox = i % p.OW;
  uint oy = (i / p.OW) % p.OH;
  uint nc = i / (p.OW * p.OH);
  int iy0 = int(oy * p.SH) - int(p.PH);
  int ix0 = int(ox * p.SW) - int(p.PW);
  uint base = nc * p.H * p.W;
  float m = uintBitsToFloat(0xff800000u);  // -inf
  for (uint ky = 0u; ky < p.KH; ++ky) {
    int iy = iy0 + int(ky * p.DH);
    if (iy < 0 || iy >= int(p.H)) continue;
    for (uint kx = 0u; kx < p.KW; ++kx) {
      int ix = ix0 + int(kx * p.DW);
      if (ix < 0 || ix >= int(p.W)) continue;
      m = max(m, float(x[base + uint(iy) * p.W + uint(ix)]));
    }
  }
  y[i] = ACT_T(m);
}
