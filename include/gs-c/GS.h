/*===- gs-c/GS.h - C API of the GradientStabilizer compiler -------*- C -*-===*\
|*                                                                            *|
|* Register the gs dialect and passes, parse and verify IR, run a named       *|
|* pipeline, and JIT-compile a module to call its functions in process.       *|
|*                                                                            *|
|* Errors. Every call that can fail returns NULL or GS_FAILURE and leaves a   *|
|* readable message (MLIR's diagnostics, LLVM's reasons) in                   *|
|* gsContextGetLastError of the context involved and in gsGetLastError;       *|
|* nothing aborts the host process.                                           *|
|*                                                                            *|
|* Ownership. A context owns the modules parsed in it and the executables     *|
|* compiled from them: gsContextDestroy destroys them with it.                *|
|* gsModuleDestroy and gsExecutableDestroy destroy one earlier. An            *|
|* executable does not need its module (destroy the module once compiled);    *|
|* the addresses gsExecutableLookup returns are valid while the executable    *|
|* lives.                                                                     *|
|*                                                                            *|
|* Handles. GSContext, GSModule and GSExecutable pointers are handles, not    *|
|* addresses: a destroyed handle is never reused by a later object. A call    *|
|* given a destroyed handle (including a module or executable whose context   *|
|* was destroyed, and a second destroy), or anything but a handle of the      *|
|* expected kind, fails with a message in gsGetLastError: an error, not       *|
|* undefined behaviour. Destroying NULL does nothing and succeeds.            *|
|*                                                                            *|
|* Threads. A context and what it owns are used by one thread at a time;      *|
|* different contexts may be used by different threads at once. Parsing,      *|
|* printing, pipelines, compilation and destruction run on a thread the       *|
|* library starts, with a 256 MiB stack (MLIR recurses once per level of      *|
|* nesting), so they do not depend on the caller's stack; text nested deeper  *|
|* than 4096 levels is refused.                                               *|
|*                                                                            *|
|* stderr. LLVM writes some reasons to stderr only (why a pass option value   *|
|* is invalid, which symbols a JIT link misses). While it parses a pipeline   *|
|* and while it compiles, the library redirects the process's stderr (file    *|
|* descriptor 2) to a temporary file: on failure what was written becomes     *|
|* part of the message, on success it is written to stderr.                  *|
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
 * pipelines of gs-opt registered. */
typedef struct GSContext GSContext;
/* A parsed, verified module, owned by its context. */
typedef struct GSModule GSModule;
/* A JIT-compiled module, owned by the context of the module it was compiled
 * from: its functions can be called while it lives. */
typedef struct GSExecutable GSExecutable;

GSContext *gsContextCreate(void);
/* Destroys the context with its modules and executables. GS_FAILURE for a
 * handle that is not a live context. */
GSStatus gsContextDestroy(GSContext *context);

/* The message of the last failure of a call on `context` or on what it owns
 * ("" if that call succeeded). Valid until the next call on the context. For
 * a handle that is not a live context, a message saying so. */
const char *gsContextGetLastError(GSContext *context);

/* The message of the last failing call of this thread ("" if the last call
 * succeeded), whatever its handles: the only place that explains a call on
 * an invalid handle. Valid until the next call on this thread. */
const char *gsGetLastError(void);

/* Parses and verifies the MLIR text `text` (`length` bytes, need not be
 * NUL-terminated). NULL on error. */
GSModule *gsModuleParse(GSContext *context, const char *text, size_t length);
/* GS_FAILURE for a handle that is not a live module. */
GSStatus gsModuleDestroy(GSModule *module);

/* The module as text; free it with gsFree. NULL on error. */
char *gsModulePrint(GSModule *module);
void gsFree(void *memory);

/* Runs a textual pass pipeline on the module, e.g. "gs-to-llvm" or
 * "canonicalize,gs-to-llvm{bare-ptr-abi=1}", with or without an enclosing
 * "builtin.module(...)". On failure the module may be partially transformed. */
GSStatus gsModuleRunPipeline(GSModule *module, const char *pipeline);

/* JIT-compiles a module in the LLVM dialect with LLVM at `optLevel` (0-3) for
 * the host CPU, links it against the process (a symbol it declares must be
 * defined by the program or a library loaded with RTLD_GLOBAL: otherwise
 * this fails, naming the missing symbols) and runs its static constructors
 * (gs-to-nvvm host code loads its kernels there). The module can be
 * destroyed afterwards. NULL on error. */
GSExecutable *gsExecutableCreate(GSModule *module, int optLevel);
/* GS_FAILURE for a handle that is not a live executable. */
GSStatus gsExecutableDestroy(GSExecutable *executable);

/* The address of function `name` of the compiled module, to be called with
 * its C signature (see the bare-ptr-abi option of gs-to-llvm). NULL, with a
 * message, if the module has no such function. */
void *gsExecutableLookup(GSExecutable *executable, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_GS_H */
