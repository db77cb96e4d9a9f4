#version 450
// out[i] = a[i] + b[i] * k + BIAS, for i < n. Test kernel of the runtime tests:
// bindings 0..2, push constants {uint n; float k}, spec constants
// 0 = workgroup size, 1 = BIAS (float bits).
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const float BIAS = 0.0;

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
  uint n;
  float k;
} pc;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) o[i] = a[i] + b[i] * pc.k + BIAS;
}
