/*
 * kernels/npu_kernel_abi.h — push-constant layouts of the kernels, shared by
 * the lowering (which fills them), the CPU kernels (which read them the way
 * the GLSL does) and the tests. Word indices; every word is a uint32 unless
 * noted. docs/kernels.md has the full description.
 */
#ifndef NPU_KERNEL_ABI_H
#define NPU_KERNEL_ABI_H

/* Flags shared by the kernels that take a FLAGS word. */
#define NPU_KFLAG_BIAS 1u
#define NPU_KFLAG_RELU 2u
#define NPU_KFLAG_RESIDUAL 4u

/* Local sizes (x) the kernels are compiled with. */
#define NPU_KLOCAL_CONV 64u
#define NPU_KLOCAL_ELEMENTWISE 256u
#define NPU_KLOCAL_REDUCE 64u
/* Output channels per conv2d invocation. */
#define NPU_KCONV_CO_TILE 4u

/* conv2d_f32: bindings X, W, B, R, Y. */
enum {
  NPU_CONV_N, NPU_CONV_C, NPU_CONV_H, NPU_CONV_W, NPU_CONV_K, NPU_CONV_OH, NPU_CONV_OW,
  NPU_CONV_KH, NPU_CONV_KW, NPU_CONV_SH, NPU_CONV_SW, NPU_CONV_PH, NPU_CONV_PW,
  NPU_CONV_DH, NPU_CONV_DW, NPU_CONV_GROUPS, NPU_CONV_FLAGS, NPU_CONV_PUSH_WORDS
};
/* maxpool2d_f32: bindings X, Y. */
enum {
  NPU_POOL_N, NPU_POOL_C, NPU_POOL_H, NPU_POOL_W, NPU_POOL_OH, NPU_POOL_OW,
  NPU_POOL_KH, NPU_POOL_KW, NPU_POOL_SH, NPU_POOL_SW, NPU_POOL_PH, NPU_POOL_PW,
  NPU_POOL_DH, NPU_POOL_DW, NPU_POOL_PUSH_WORDS
};
/* avgpool2d_f32 (adaptive): bindings X, Y; the first six words of the pool layout. */
#define NPU_AVGPOOL_PUSH_WORDS 6
/* global_avgpool_f32: bindings X, Y. */
enum { NPU_GAP_NC, NPU_GAP_HW, NPU_GAP_PUSH_WORDS };
/* linear_f32: bindings X, W, B, Y. */
enum { NPU_LINEAR_M, NPU_LINEAR_N, NPU_LINEAR_K, NPU_LINEAR_FLAGS, NPU_LINEAR_PUSH_WORDS };
/* relu_f32 and copy_u32: bindings X, Y. */
enum { NPU_UNARY_COUNT, NPU_UNARY_PUSH_WORDS };
/* add_f32: bindings A, B, Y; ALPHA is a float's bits. */
enum { NPU_ADD_COUNT, NPU_ADD_FLAGS, NPU_ADD_ALPHA, NPU_ADD_PUSH_WORDS };

/* conv2d_gemm_f32 / conv2d_gemm_f16: bindings X, W, B, R, Y and the conv2d push
 * layout above (NPU_CONV_*) extended by NPU_CONVG_* below. Tiling by
 * specialization constants: tile BM output channels x BN pixels, KS K-slices per
 * workgroup, local size (BM/4)*(BN/4)*KS.
 * BM and BN are 16, 32, 64 or 128; at most 32 KiB of shared memory:
 * 4*KS*max(8*(BM+4+BN), BM*BN) bytes. Groups: (ceil(OH*OW/BN), G*ceil((K/G)/BM), N). */
#define NPU_CONVG_SPEC_BM 0u
#define NPU_CONVG_SPEC_BN 1u
#define NPU_CONVG_SPEC_KS 2u
#define NPU_CONVG_SPEC_LOCAL 3u
/* Optional (0 = read the push constants): KH and KW again, as constants. */
#define NPU_CONVG_SPEC_KH 4u
#define NPU_CONVG_SPEC_KW 5u
#define NPU_CONVG_LOCAL(bm, bn, ks) (((bm) / 4u) * ((bn) / 4u) * (ks))
/* conv2d_gemm push words: the 17 conv2d words (NPU_CONV_*), then split-K across
 * workgroups. MODE 0: the conv. MODE 1: partial sums of k in [s*KPER, (s+1)*KPER)
 * (k = (c*KH + ky)*KW + kx) for split s = z % SPLITS of image z / SPLITS, raw,
 * into binding 4 as float [SPLITS,N,K,OH,OW]. MODE 2: Y = epilogue(sum of the
 * SPLITS partials in binding 0), linear grid over N*K*OH*OW (local size each). */
enum {
  NPU_CONVG_SPLITS = NPU_CONV_PUSH_WORDS, NPU_CONVG_KPER, NPU_CONVG_MODE, NPU_CONVG_PUSH_WORDS
};
#define NPU_CONVG_MODE_CONV 0u
#define NPU_CONVG_MODE_PARTIAL 1u
#define NPU_CONVG_MODE_REDUCE 2u

#endif /* NPU_KERNEL_ABI_H */
