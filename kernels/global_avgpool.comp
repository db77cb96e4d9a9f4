#version 450
// npu-kernel: bindings=2 push=2 precisions=f32,f16
//
// global_avgpool_f32 / global_avgpool_f16: Y[p] = mean(X[p*HW .. p*HW+HW)) for each of NC planes
// (adaptive_avg_pool2d with output 1x1). One workgroup of 64 per plane,
// plane = gid.x + gid.y * num_groups.x; a shared-memory tree reduction.
// Bindings: 0 X [NC*HW], 1 Y [NC].
#include "precision.glsl"

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Xb { ACT_T x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Yb { ACT_T y[]; };

layout(push_constant) uniform P { uint NC, HW; } p;

shared float part[64];

void main() {
  uint plane = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  uint t = gl_LocalInvocationID.x;
  float s = 0.0;
  if (plane < p.NC) {
    uint base = plane * p.HW;
    for (uint i = t; i < p.HW; i += 64u) s += float(x[base + i]);
  }
  part[t] = s;
  barrier();
  for (uint w = 32u; w > 0u; w >>= 1u) {
    if (t < w) part[t] += part[t + w];
    barrier();
  }
  if (t == 0u && plane < p.NC) y[plane] = ACT_T(part[0] / float(p.HW));
}
