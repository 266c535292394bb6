/* RUN: gs-capi-test 2>%t.stderr | FileCheck %s
 * RUN: count 0 < %t.stderr
 *
 * The C API end to end: errors come back as messages, none on stderr
 * (malformed IR, a verifier error, an unknown or misplaced pipeline, bad
 * pipeline options with LLVM's reason, missing arguments, JIT of an unlowered
 * module or of one with unresolved symbols, a missing function, input nested
 * too deeply), a step lowered with gs-to-llvm runs in process, deep input is
 * handled whatever the caller's stack, and handles that were destroyed (or
 * whose context was) are reported errors, not crashes. The sanitized build
 * runs it under ASan with leak checking. */

#include "gs-c/GS.h"

#include <pthread.h>
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

/* The first line of `text`, in a static buffer. */
static const char *firstLine(const char *text) {
  static char buffer[4096];
  size_t i = 0;
  for (; text[i] && text[i] != '\n' && i + 1 < sizeof(buffer); ++i)
    buffer[i] = text[i];
  buffer[i] = '\0';
  return buffer;
}

/* `open` repeated `depth` times, then `close` as often (malloc'ed). */
static char *nest(const char *open, const char *close, const char *middle,
                  int depth) {
  size_t o = strlen(open), c = strlen(close), m = strlen(middle);
  char *text = malloc(depth * (o + c) + m + 1), *out = text;
  for (int i = 0; i < depth; ++i, out += o)
    memcpy(out, open, o);
  memcpy(out, middle, m);
  out += m;
  for (int i = 0; i < depth; ++i, out += c)
    memcpy(out, close, c);
  *out = '\0';
  return text;
}

/* Parses, canonicalizes, prints and destroys 4000 nested modules: more
 * than an 8 MiB stack holds, so it shows the library's own stack. */
static void *parseDeep(void *ctx) {
  char *text = nest("module {", "}", "", 4000);
  GSModule *deep = gsModuleParse((GSContext *)ctx, text, strlen(text));
  int ok = deep != NULL && gsModuleRunPipeline(deep, "canonicalize") == 0;
  char *printed = gsModulePrint(deep);
  ok = ok && printed && strlen(printed) > 4000;
  gsFree(printed);
  ok = ok && gsModuleDestroy(deep) == GS_SUCCESS;
  free(text);
  return (void *)(intptr_t)ok;
}

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
         firstLine(gsContextGetLastError(ctx)));

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
  /* CHECK: missing function: 1 gsExecutableLookup: no function 'nope': Symbols not found: [ nope ]
   */
  printf("missing function: %d %s\n", gsExecutableLookup(exe, "nope") == NULL,
         gsContextGetLastError(ctx));

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

  /* LLVM's reason for a bad option value, which it prints to stderr only.
   * CHECK: option value: 1 invalid pipeline 'gs-to-llvm{vector-width=abc}': for the --vector-width option: 'abc' value invalid for uint argument!
   */
  module = parse(ctx, kStep);
  status = gsModuleRunPipeline(module, "gs-to-llvm{vector-width=abc}");
  printf("option value: %d %s\n", status, firstLine(gsContextGetLastError(ctx)));

  /* A declared function that nothing defines: the JIT would print the
   * missing symbol and hand out code that calls address 0.
   * CHECK: unresolved: 1 cannot compile the module: unresolved symbols (declared by the module, defined neither in it nor in this process): gs_undefined_function, gs_undefined_global
   */
  {
    GSModule *external = parse(
        ctx, "llvm.func @gs_undefined_function(f32) -> f32\n"
             "llvm.mlir.global external @gs_undefined_global() : i32\n"
             "llvm.func @f(%x: f32) -> f32 {\n"
             "  %a = llvm.mlir.addressof @gs_undefined_global : !llvm.ptr\n"
             "  %y = llvm.call @gs_undefined_function(%x) : (f32) -> f32\n"
             "  llvm.return %y : f32\n}\n");
    GSExecutable *unresolved = gsExecutableCreate(external, 2);
    printf("unresolved: %d %s\n", unresolved == NULL,
           gsContextGetLastError(ctx));
    /* Declarations the process defines are fine.
     * CHECK: libc: 1
     */
    GSModule *libc = parse(ctx, "llvm.func @strlen(!llvm.ptr) -> i64\n"
                                "llvm.func @f(%p: !llvm.ptr) -> i64 {\n"
                                "  %n = llvm.call @strlen(%p) : (!llvm.ptr) -> i64\n"
                                "  llvm.return %n : i64\n}\n");
    GSExecutable *linked = gsExecutableCreate(libc, 0);
    typedef int64_t (*LengthFn)(const char *);
    LengthFn length = (LengthFn)gsExecutableLookup(linked, "f");
    printf("libc: %d\n", length && length("x") == 1);
    /* Left to gsContextDestroy: */
    (void)external;
  }

  /* Deep nesting: refused past 4096 levels, with the place.
   * CHECK: too deep: 1 cannot parse the module:
   * CHECK-NEXT: loc("<gs input>":1:32776): input nested deeper than 4096 levels (brackets, expression operators and alias references counted): refused, as processing it could overflow the stack
   * CHECK: too deep pipeline: 1 invalid pipeline:
   * CHECK-NEXT: loc("<gs pipeline>":1:{{[0-9]+}}): input nested deeper than 4096 levels
   */
  {
    char *text = nest("module {", "}", "", 5000);
    GSModule *deep = gsModuleParse(ctx, text, strlen(text));
    printf("too deep: %d %s\n", deep == NULL, gsContextGetLastError(ctx));
    free(text);
    char *pipeline = nest("builtin.module(", ")", "canonicalize", 5000);
    status = gsModuleRunPipeline(module, pipeline);
    printf("too deep pipeline: %d %s\n", status, gsContextGetLastError(ctx));
    free(pipeline);
  }
  /* Under the limit, whatever the caller's stack: 4000 levels from this
   * thread (8 MiB) and from one of 256 KiB.
   * CHECK: deep: 1
   * CHECK: deep on a small stack: 1
   */
  printf("deep: %d\n", parseDeep(ctx) != NULL);
  {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, 256 << 10);
    pthread_t thread;
    void *ok = NULL;
    if (pthread_create(&thread, &attributes, parseDeep, ctx) == 0)
      pthread_join(thread, &ok);
    pthread_attr_destroy(&attributes);
    printf("deep on a small stack: %d\n", ok != NULL);
  }

  /* Lifetime: a destroyed handle is an error with a message.
   * CHECK: destroy: 0 0
   * CHECK: destroy again: 1 gsExecutableDestroy: invalid GSExecutable handle: destroyed (or its context was), or not one
   * CHECK: module destroyed: 1 gsModuleDestroy: invalid GSModule handle: destroyed (or its context was), or not one
   * CHECK: use destroyed: 1 1 1 gsModuleRunPipeline: invalid GSModule handle: destroyed (or its context was), or not one
   * CHECK: not a handle: 1 gsModulePrint: invalid GSModule handle: destroyed (or its context was), or not one
   * CHECK: wrong kind: 1 gsModuleDestroy: invalid GSModule handle: destroyed (or its context was), or not one
   * CHECK: null: 0 1 gsModuleParse: no GSContext given (NULL)
   */
  printf("destroy: %d %d\n", gsExecutableDestroy(exe), gsModuleDestroy(module));
  printf("destroy again: %d %s\n", gsExecutableDestroy(exe), gsGetLastError());
  printf("module destroyed: %d %s\n", gsModuleDestroy(module), gsGetLastError());
  int printedNull = gsModulePrint(module) == NULL;
  int noExecutable = gsExecutableCreate(module, 2) == NULL;
  printf("use destroyed: %d %d %d %s\n", printedNull, noExecutable,
         gsModuleRunPipeline(module, "canonicalize"), gsGetLastError());
  printf("not a handle: %d %s\n",
         gsModulePrint((GSModule *)(uintptr_t)0x1000) == NULL, gsGetLastError());
  printf("wrong kind: %d %s\n", gsModuleDestroy((GSModule *)ctx),
         gsGetLastError());
  printf("null: %d %d %s\n", gsModuleDestroy(NULL),
         gsModuleParse(NULL, "", 0) == NULL, gsGetLastError());

  /* A context destroys what it owns; its handles are invalid after it.
   * CHECK: owned: 0
   * CHECK: after context: 1 1 1 1 1 gsContextDestroy: invalid GSContext handle: destroyed, or not one{{$}}
   * CHECK: context error: invalid GSContext handle: destroyed, or not one
   */
  {
    GSContext *other = gsContextCreate();
    GSModule *owned = parse(other, kStep);
    gsModuleRunPipeline(owned, "gs-to-llvm{bare-ptr-abi=1}");
    GSExecutable *compiled = gsExecutableCreate(owned, 0);
    GSModule *kept = parse(other, kStep);
    printf("owned: %d\n", gsContextDestroy(other));
    int a = gsModuleRunPipeline(kept, "canonicalize");
    int b = gsExecutableLookup(compiled, "step") == NULL;
    int c = gsModuleDestroy(owned);
    int d = gsExecutableDestroy(compiled);
    int e = gsContextDestroy(other);
    printf("after context: %d %d %d %d %d %s\n", a, b, c, d, e,
           gsGetLastError());
    printf("context error: %s\n", gsContextGetLastError(other));
  }

  gsContextDestroy(ctx);
  /* CHECK: done
   */
  printf("done\n");
  return 0;
}
