/* Private: the pipeline struct shared by pipeline.c and pass_manager.c. */
#ifndef NPU_PIPELINE_INTERNAL_H
#define NPU_PIPELINE_INTERNAL_H

#include "npu/pipeline.h"

typedef struct pipeline_settings {
  npu_option_setting_t *items; /* all strings owned */
  int32_t count;
} pipeline_settings_t;

typedef struct pipeline_pass {
  char *name;
  char *location; /* of the name */
  pipeline_settings_t settings;
  const npu_pass_info_t *info; /* after resolve */
  npu_options_t *options;      /* after resolve */
} pipeline_pass_t;

struct npu_pipeline {
  char *origin;
  char *base_dir;
  char *stem;
  char *input;
  char *input_location; /* NULL when set from the command line */
  char *output;         /* explicit output (CWD-relative) */
  char *resolved_output;
  char **plugin_paths;
  int32_t num_plugin_paths;
  pipeline_pass_t *passes;
  int32_t num_passes;
  char *backend_name; /* NULL: the default */
  char *backend_location;
  pipeline_settings_t backend_settings;
  const npu_backend_info_t *backend;
  npu_options_t *backend_options;
  bool resolved;
};

#define NPU_DEFAULT_BACKEND "ir-json"

#endif
