/*===- gs-c/GS.h - C API of the GradientStabilizer compiler -------*- C -*-===*\
|*                                                                            *|
|* Register the gs dialect and passes, parse and verify IR, run a named       *|
|* pipeline, and JIT-compile a module to call its functions in process.       *|
|*                                                                            *|
|* Every call that can fail returns NULL or GS_FAILURE and leaves a readable  *|
|* message (MLIR's diagnostics) in gsContextGetLastError; nothing aborts the  *|
|* host process.                                                              *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef GS_C_GS_H
#define GS_C_GS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GS_SUCCESS = 0, GS_FAILURE = 1 } GSStatus;

/* An MLIR context with the gs dialect, the upstream dialects, passes and
 * pipelines of gs-opt registered. Not thread-safe: one thread at a time. */
typedef struct GSContext GSContext;
/* A parsed, verified module owned by the caller. */
typedef struct GSModule GSModule;
/* A JIT-compiled module: its functions can be called while it lives. */
typedef struct GSExecutable GSExecutable;

GSContext *gsContextCreate(void);
void gsContextDestroy(GSContext *context);

/* The message of the last failure on `context` ("" if none). Valid until the
 * next call on the context. */
const char *gsContextGetLastError(GSContext *context);

/* Parses and verifies `text` (`length` bytes). NULL on error. */
GSModule *gsModuleParse(GSContext *context, const char *text, size_t length);
void gsModuleDestroy(GSModule *module);

/* The module as text; free it with gsFree. */
char *gsModulePrint(GSModule *module);
void gsFree(void *memory);

/* Runs a textual pass pipeline on the module, e.g. "gs-to-llvm" or
 * "canonicalize,gs-to-llvm{bare-ptr-abi=1}", with or without an enclosing
 * "builtin.module(...)". On failure the module may be partially transformed. */
GSStatus gsModuleRunPipeline(GSModule *module, const char *pipeline);

/* JIT-compiles a module in the LLVM dialect with LLVM at `optLevel` (0-3) for
 * the host CPU and runs its static constructors (gs-to-nvvm host code loads
 * its kernels there). The module can be destroyed afterwards. NULL on error. */
GSExecutable *gsExecutableCreate(GSModule *module, int optLevel);
void gsExecutableDestroy(GSExecutable *executable);

/* The address of function `name` of the compiled module, to be called with
 * its C signature (see the bare-ptr-abi option of gs-to-llvm). NULL if the
 * module has no such function. */
void *gsExecutableLookup(GSExecutable *executable, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_GS_H */
