/*
 * bn-fold — folds an inference BatchNorm into the conv2d that feeds it
 * (docs/passes.md, "bn-fold").
 *
 *   y = batch_norm(conv2d(x, W[, b]), gamma, beta, mean, var, training=false)
 *   ->
 *   y = conv2d(x, W', b')    W' = bn_fold_weight(W, gamma, beta, mean, var; eps)
 *                            b' = bn_fold_bias([b,] gamma, beta, mean, var; eps)
 *
 * W' and b' are new derived weights computed at load time from the recorded
 * transforms (npu/weight_transform.h has the reference math). The folded conv
 * ALWAYS takes the bias operand. Conditions: the conv output is read only by
 * the BN (as its input 0) and is not a graph output; the BN is in eval mode;
 * W, [b], gamma, beta, mean and var are all weights or constants with the
 * expected [Co] shapes. Anything else is left untouched.
 */
#include <stdio.h>
#include <string.h>

#include "npu/plugin.h"

#define CONV_OP "aten.conv2d.default"
#define BN_OP "aten.batch_norm.default"

static bool is_weight(const npu_graph_t *g, npu_tensor_id_t t) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  return tt && (tt->role == NPU_ROLE_WEIGHT || tt->role == NPU_ROLE_CONSTANT);
}

static bool is_channel_vector(const npu_graph_t *g, npu_tensor_id_t t, int64_t channels) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  return is_weight(g, t) && tt->shape.rank == 1 && tt->shape.dims[0] == channels;
}

static bool is_graph_output(const npu_graph_t *g, npu_tensor_id_t t) {
  int32_t count = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &count);
  for (int32_t i = 0; i < count; i++)
    if (outs[i] == t) return true;
  return false;
}

/* The single node reading `t`, or NPU_NO_NODE if none or several (or if it
 * reads `t` more than once). */
static npu_node_id_t sole_user(const npu_graph_t *g, npu_node_id_t after, npu_tensor_id_t t) {
  npu_node_id_t user = NPU_NO_NODE;
  for (npu_node_id_t id = npu_graph_next_node(g, after); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *n = npu_graph_node(g, id);
    for (int32_t i = 0; i < n->num_inputs; i++) {
      if (n->inputs[i] != t) continue;
      if (user != NPU_NO_NODE) return NPU_NO_NODE;
      user = id;
    }
  }
  return user;
}

/* Tries to fold the BN reading conv `cid`'s output. *folded tells whether it did. */
static npu_status_t try_fold(npu_graph_t *g, npu_node_id_t cid, bool *folded) {
  *folded = false;
  const npu_node_t *conv = npu_graph_node(g, cid);
  if (conv->num_outputs != 1 || conv->num_inputs < 2 || conv->num_inputs > 3) return NULL;
  npu_tensor_id_t conv_out = conv->outputs[0];
  if (is_graph_output(g, conv_out)) return NULL;
  npu_node_id_t bid = sole_user(g, cid, conv_out);
  if (bid == NPU_NO_NODE) return NULL;
  const npu_node_t *bn = npu_graph_node(g, bid);
  if (strcmp(bn->op, BN_OP) != 0 || bn->num_inputs != 5 || bn->num_outputs != 1 ||
      bn->inputs[0] != conv_out)
    return NULL;
  bool training = true;
  if (!npu_node_attr_bool(bn, "training", &training) || training) return NULL;
  double eps = 1e-5;
  if (npu_node_attr(bn, "eps") && !npu_node_attr_float(bn, "eps", &eps)) return NULL;

  npu_tensor_id_t w = conv->inputs[0 + 1];
  npu_tensor_id_t b = conv->num_inputs == 3 ? conv->inputs[2] : NPU_NO_TENSOR;
  const npu_tensor_t *wt = npu_graph_tensor(g, w);
  if (!is_weight(g, w) || wt->shape.rank != 4) return NULL;
  int64_t channels = wt->shape.dims[0];
  if (b != NPU_NO_TENSOR && !is_channel_vector(g, b, channels)) return NULL;
  for (int32_t i = 1; i < 5; i++)
    if (!is_channel_vector(g, bn->inputs[i], channels)) return NULL;
  const npu_tensor_t *ct = npu_graph_tensor(g, conv_out), *bt = npu_graph_tensor(g, bn->outputs[0]);
  if (ct->dtype != bt->dtype || !npu_shape_equal(&ct->shape, &bt->shape)) return NULL;

  /* Copy what we need before mutating (pointers die on mutation). */
  npu_tensor_id_t x = conv->inputs[0];
  npu_tensor_id_t stats[4] = {bn->inputs[1], bn->inputs[2], bn->inputs[3], bn->inputs[4]};
  npu_tensor_id_t bn_out = bn->outputs[0];
  npu_dtype_t wdtype = wt->dtype;
  npu_shape_t wshape = wt->shape;
  char base[512];

  snprintf(base, sizeof base, "%s.bnfold", wt->name);
  npu_tensor_id_t fw;
  NPU_RETURN_IF_ERROR(npu_graph_add_tensor(
      g,
      &(npu_tensor_desc_t){.name = npu_graph_unique_name(g, base), .dtype = wdtype,
                           .shape = wshape, .role = NPU_ROLE_WEIGHT},
      &fw));
  snprintf(base, sizeof base, "%s.bnfold_bias", npu_graph_tensor(g, w)->name);
  npu_tensor_id_t fb;
  NPU_RETURN_IF_ERROR(npu_graph_add_tensor(
      g,
      &(npu_tensor_desc_t){.name = npu_graph_unique_name(g, base), .dtype = wdtype,
                           .shape = {.rank = 1, .dims = {channels}}, .role = NPU_ROLE_WEIGHT},
      &fb));

  npu_tensor_id_t wsrc[5] = {w, stats[0], stats[1], stats[2], stats[3]};
  npu_attr_t wattrs[1] = {{.name = "eps", .value = npu_attr_float(eps)}};
  NPU_RETURN_IF_ERROR(npu_graph_add_weight_transform(g, "bn_fold_weight", fw, wsrc, 5, wattrs, 1));

  npu_tensor_id_t bsrc[5];
  int32_t nb = 0;
  if (b != NPU_NO_TENSOR) bsrc[nb++] = b;
  for (int32_t i = 0; i < 4; i++) bsrc[nb++] = stats[i];
  npu_attr_t battrs[2] = {{.name = "eps", .value = npu_attr_float(eps)},
                          {.name = "has_conv_bias", .value = npu_attr_bool(b != NPU_NO_TENSOR)}};
  NPU_RETURN_IF_ERROR(npu_graph_add_weight_transform(g, "bn_fold_bias", fb, bsrc, nb, battrs, 2));

  npu_tensor_id_t new_inputs[3] = {x, fw, fb};
  NPU_RETURN_IF_ERROR(npu_graph_set_node_inputs(g, cid, new_inputs, 3));
  npu_graph_replace_uses(g, bn_out, conv_out);
  npu_graph_erase_node(g, bid);
  *folded = true;
  return NULL;
}

static npu_status_t bn_fold_run(npu_pass_context_t *ctx, npu_graph_t *g,
                                const npu_options_t *opts) {
  (void)opts;
  int64_t folded = 0;
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    if (strcmp(npu_graph_node(g, id)->op, CONV_OP) != 0) continue;
    bool did;
    NPU_RETURN_IF_ERROR(try_fold(g, id, &did));
    folded += did;
  }
  npu_pass_stat_add(ctx, "folded", folded);
  return NULL;
}

static const npu_pass_info_t passes[] = {
    {.name = "bn-fold",
     .summary = "fold eval-mode batch_norm into the preceding conv2d (load-time weight transforms)",
     .run = bn_fold_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {.abi_version = NPU_PLUGIN_ABI_VERSION,
                                            .name = "bn-fold",
                                            .version = "1.0",
                                            .summary = "BatchNorm folding",
                                            .passes = passes,
                                            .num_passes = 1};
  return &d;
}
