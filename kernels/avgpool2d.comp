#version 450
// npu-kernel: bindings=2 push=6 precisions=f32,f16
//
// avgpool2d_f32 / avgpool2d_f16 (adaptive average pooling, general bins): output bin (oy, ox)
// averages rows [floor(oy*H/OH), ceil((oy+1)*H/OH)) and the same for columns.
// Bindings: 0 X [N,C,H,W], 1 Y [N,C,OH,OW]. One invocation per output
// element, linear index = gid.x + gid.y * (num_groups.x * 256).
#include "precision.glsl"

layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P { uint N, C, H, W, OH, OW; } p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
  uint total = p.N * p.C * p.OH * p.OW;
  if (i >= total) return;
  uint ox = i % p.OW;
  uint oy = (i / p.OW) % p.OH;
  uint nc = i / (p.OW * p.OH);
  uint y0 = (oy * p.H) / p.OH, y1 = ((oy + 1u) * p.H + p.OH - 1u) / p.OH;
  uint x0 = (ox * p.W) / p.OW, x1 = ((ox + 1u) * p.W + p.OW - 1u) / p.OW;
  uint base = nc * p.H * p.W;
  float s = 0.0;
  for (uint iy = y0; iy < y1; ++iy)
    for (uint ix = x0; ix < x1; ++ix) s += float(x[base + iy * p.W + ix]);
  y[i] = ACT_T(s / float((y1 - y0) * (x1 - x0)));
}
