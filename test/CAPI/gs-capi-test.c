/* RUN: gs-capi-test 2>&1 | FileCheck %s
 *
 * The C API end to end: errors come back as messages (malformed IR, a
 * verifier error, an unknown or misplaced pipeline, bad pipeline options,
 * missing arguments, JIT of an unlowered module, a missing function), and a
 * step lowered with gs-to-llvm runs in process. */

#include "gs-c/GS.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GSModule *parse(GSContext *ctx, const char *text) {
  GSModule *module = gsModuleParse(ctx, text, strlen(text));
  if (!module)
    printf("error: %s\n", gsContextGetLastError(ctx));
  return module;
}

/* One SGD step (lr 0.5) with GS on a 3-element parameter, in place. */
static const char *kStep =
    "func.func @step(%p: memref<3xf32>, %g: memref<3xf32>,\n"
    "                %s: memref<1x2xf64>, %c: memref<1x2xi64>,\n"
    "                %t: memref<1xi64>, %lr: f64, %wd: f64) {\n"
    "  %tp = bufferization.to_tensor %p restrict writable : memref<3xf32> to tensor<3xf32>\n"
    "  %tg = bufferization.to_tensor %g restrict : memref<3xf32> to tensor<3xf32>\n"
    "  %ts = bufferization.to_tensor %s restrict writable : memref<1x2xf64> to tensor<1x2xf64>\n"
    "  %tc = bufferization.to_tensor %c restrict writable : memref<1x2xi64> to tensor<1x2xi64>\n"
    "  %tt = bufferization.to_tensor %t restrict writable : memref<1xi64> to tensor<1xi64>\n"
    "  %r:4 = gs.group_step #gs.sgd<> params(%tp : tensor<3xf32>) grads(%tg : tensor<3xf32>)\n"
    "      stats(%ts : tensor<1x2xf64>) counts(%tc : tensor<1x2xi64>)\n"
    "      steps(%tt : tensor<1xi64>) lr(%lr) weight_decay(%wd)\n"
    "  bufferization.materialize_in_destination %r#0 in restrict writable %p : (tensor<3xf32>, memref<3xf32>) -> ()\n"
    "  bufferization.materialize_in_destination %r#1 in restrict writable %s : (tensor<1x2xf64>, memref<1x2xf64>) -> ()\n"
    "  bufferization.materialize_in_destination %r#2 in restrict writable %c : (tensor<1x2xi64>, memref<1x2xi64>) -> ()\n"
    "  bufferization.materialize_in_destination %r#3 in restrict writable %t : (tensor<1xi64>, memref<1xi64>) -> ()\n"
    "  return\n"
    "}\n";

/* `text` with its line breaks replaced by spaces, in a static buffer. */
static const char *oneLine(const char *text) {
  static char buffer[4096];
  size_t i = 0;
  for (; text[i] && i + 1 < sizeof(buffer); ++i)
    buffer[i] = text[i] == '\n' ? ' ' : text[i];
  buffer[i] = '\0';
  return buffer;
}

typedef void (*StepFn)(float *, float *, double *, int64_t *, int64_t *,
                       double, double);

int main(void) {
  GSContext *ctx = gsContextCreate();

  /* CHECK: error: cannot parse the module:
   * CHECK-NEXT: loc("<gs input>":1:14): expected non-function type
   */
  parse(ctx, "func.func @f( {");

  /* CHECK: error: cannot parse the module:
   * CHECK-NEXT: 'gs.group_step' op expects one gradient per parameter
   */
  parse(ctx, "func.func @f(%p: tensor<4xf32>, %s: tensor<1x2xf64>,\n"
             "  %c: tensor<1x2xi64>, %t: tensor<1xi64>, %lr: f64) {\n"
             "  %0:4 = gs.group_step #gs.sgd<> params(%p : tensor<4xf32>)\n"
             "    grads(%p, %p : tensor<4xf32>, tensor<4xf32>)\n"
             "    stats(%s : tensor<1x2xf64>) counts(%c : tensor<1x2xi64>)\n"
             "    steps(%t : tensor<1xi64>) lr(%lr) weight_decay(%lr)\n"
             "  return\n}\n");

  /* CHECK: error: cannot parse the module:
   * CHECK-NEXT: stabilizer 'gamma1' must be in [0, 1), got 2
   */
  parse(ctx, "func.func private @f() attributes {a = #gs.stabilizer<gamma1 = 2.0>}");

  /* `text` need not be NUL-terminated: the input below ends inside a token
   * and is followed by unallocated memory (AddressSanitizer builds report a
   * read past its end; found by gs-fuzz).
   * CHECK: error: cannot parse the module:
   */
  {
    static const char kTruncated[] = "func.func @f() {\n  u";
    size_t length = sizeof(kTruncated) - 1;
    char *unterminated = malloc(length);
    memcpy(unterminated, kTruncated, length);
    GSModule *truncated = gsModuleParse(ctx, unterminated, length);
    if (!truncated)
      printf("error: %s\n", gsContextGetLastError(ctx));
    free(unterminated);
  }

  GSModule *module = parse(ctx, kStep);
  /* CHECK: unknown pipeline: 1 invalid pipeline 'gs-to-nowhere': {{.*}}does not refer to a registered pass or pass pipeline
   */
  GSStatus status = gsModuleRunPipeline(module, "gs-to-nowhere");
  printf("unknown pipeline: %d %s\n", status, gsContextGetLastError(ctx));

  /* A pipeline nested where it cannot run, or with options it refuses, is
   * an error message, not a fatal error that aborts this process.
   * CHECK: nested: 1 invalid pipeline 'func.func(gs-to-llvm)': {{.*}}gs-to-llvm runs on a builtin.module, not nested on 'func.func'
   * CHECK: nested upstream: 1 invalid pipeline 'func.func(convert-func-to-llvm)': {{.*}}failed to add `convert-func-to-llvm`
   * CHECK: width: 1 invalid pipeline 'gs-to-llvm{vector-width=4294967295}': {{.*}}vector-width must be in [1, 256], got 4294967295
   * CHECK: unbalanced: 1 invalid pipeline 'builtin.module(canonicalize': unbalanced '('
   * CHECK: no pipeline: 1 gsModuleRunPipeline: no pipeline given
   * CHECK: no text: 1 gsModuleParse: no text given
   */
  status = gsModuleRunPipeline(module, "func.func(gs-to-llvm)");
  printf("nested: %d %s\n", status, oneLine(gsContextGetLastError(ctx)));
  status = gsModuleRunPipeline(module, "func.func(convert-func-to-llvm)");
  printf("nested upstream: %d %s\n", status,
         oneLine(gsContextGetLastError(ctx)));
  status = gsModuleRunPipeline(module, "gs-to-llvm{vector-width=4294967295}");
  printf("width: %d %s\n", status, oneLine(gsContextGetLastError(ctx)));
  status = gsModuleRunPipeline(module, "builtin.module(canonicalize");
  printf("unbalanced: %d %s\n", status, gsContextGetLastError(ctx));
  status = gsModuleRunPipeline(module, NULL);
  printf("no pipeline: %d %s\n", status, gsContextGetLastError(ctx));
  printf("no text: %d %s\n", gsModuleParse(ctx, NULL, 0) == NULL,
         gsContextGetLastError(ctx));

  /* CHECK: unlowered: 1 cannot compile the module (is it in the LLVM dialect?): could not convert to LLVM IR:
   */
  GSExecutable *bad = gsExecutableCreate(module, 2);
  printf("unlowered: %d %s\n", bad == NULL,
         strtok((char *)gsContextGetLastError(ctx), "\n"));

  /* CHECK: optlevel: 1 optLevel must be in [0, 3], got 7
   */
  bad = gsExecutableCreate(module, 7);
  printf("optlevel: %d %s\n", bad == NULL, gsContextGetLastError(ctx));

  /* CHECK: lowered: 0
   */
  status = gsModuleRunPipeline(module, "gs-to-llvm{bare-ptr-abi=1}");
  printf("lowered: %d\n", status);
  GSExecutable *exe = gsExecutableCreate(module, 3);
  gsModuleDestroy(module);
  /* CHECK: missing function: 1
   */
  printf("missing function: %d\n", gsExecutableLookup(exe, "nope") == NULL);

  StepFn step = (StepFn)gsExecutableLookup(exe, "step");
  float param[3] = {1.0f, 1.0f, 1.0f}, grad[3] = {3.0f, 0.0f, 4.0f};
  double stats[2] = {0, 0};
  int64_t counts[2] = {0, 0}, steps[1] = {0};
  step(param, grad, stats, counts, steps, 0.5, 0.0);
  /* First step: the stabilized gradient has norm 1, so p = 1 - 0.5*(0.6, 0, 0.8).
   * CHECK: param 0.700000 1.000000 0.600000 m 2.000000 v 0.025000 k 1 skipped 0 step 1
   */
  printf("param %f %f %f m %f v %f k %lld skipped %lld step %lld\n", param[0],
         param[1], param[2], stats[0], stats[1], (long long)counts[0],
         (long long)counts[1], (long long)steps[0]);

  gsExecutableDestroy(exe);
  gsContextDestroy(ctx);
  /* CHECK: done
   */
  printf("done\n");
  return 0;
}
