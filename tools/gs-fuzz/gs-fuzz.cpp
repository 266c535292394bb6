//===- gs-fuzz.cpp - libFuzzer target for the gs compiler -----------------===//
//
// Feeds arbitrary bytes through what a user of gs-opt or the C API can reach:
// parse, verify, print, then every gs pass and pipeline on a clone of the
// module. Any of these may fail with a diagnostic; none may crash, assert,
// hang or trip a sanitizer. Built only with -DGS_ENABLE_FUZZER=ON; run it
// with scripts/fuzz.sh.
//
// As gs-opt and the C API do, it refuses input nested deeper than
// gs::kMaxNestingDepth and runs on a thread with gs::kLargeStackBytes of
// stack (gs/Support/InputLimits.h): a stack overflow below the limit is a
// finding.
//
// The custom mutator is structure-aware for a quarter of the mutations: it
// rewrites one tensor (or memref) type everywhere it occurs, so the operands
// of an op stay consistent (empty, huge, overflowing shapes, other element
// types), or nests the input in more regions. The rest are libFuzzer's.
//
//===----------------------------------------------------------------------===//

#include "gs/InitGS.h"
#include "gs/Support/InputLimits.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <unordered_set>

using namespace mlir;

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

/// The pipelines every input goes through, each on its own clone: the gs
/// canonicalizations, injection (recognizers and gradient level) and fusion,
/// the linalg lowering of the stabilizer with upstream fusion, bufferization,
/// the CPU and GPU lowerings alone and whole with non-default options.
/// (gs-to-nvvm differs from gs-to-gpu-emulator in its last stages only, NVVM to
/// PTX, which need no fuzzing of ours.)
static constexpr const char *kPipelines[] = {
    "canonicalize,cse",
    "gs-inject",
    "gs-inject{clip=keep explain=1}",
    "gs-stabilize-gradients{explain=1}",
    "gs-stabilize-gradients{clip=keep on-nonfinite=zero}",
    "gs-stabilize-gradients{grad-attr=gs.grad},gs-to-linalg,"
    "linalg-fuse-elementwise-ops",
    "gs-to-linalg",
    "func.func(gs-form-group-steps)",
    "func.func(gs-fuse-updates)",
    "convert-gs-to-loops",
    "convert-gs-to-loops{vector-width=3}",
    "convert-gs-to-gpu",
    "convert-gs-to-gpu{chunk-size=8 block-size=32 max-blocks=1}",
    "gs-to-llvm",
    "gs-inject,canonicalize,gs-to-llvm{vector-width=1 bare-ptr-abi=1}",
    // gs.group_step's bufferization into multi-tensor steps with the default
    // (strided) function-boundary layouts, then their lowering.
    "one-shot-bufferize{bufferize-function-boundaries},convert-gs-to-loops,"
    "convert-gs-to-llvm",
    "gs-to-gpu-emulator",
    "gs-to-gpu-emulator{bare-ptr-abi=1 chunk-size=16}",
};

static DialectRegistry &getRegistry() {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    gs::registerGSDialects(*r);
    return r;
  }();
  return *registry;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gs::registerGSPasses();
  getRegistry();
  return 0;
}

static void runOne(const std::string &source) {
  // A fresh context per input: no state carries from one input to the next.
  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  // Failures are expected and fine: keep their diagnostics off stderr.
  ScopedDiagnosticHandler swallow(&context,
                                  [](Diagnostic &) { return success(); });

  ParserConfig config(&context);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, config, "<fuzz input>");
  if (!module)
    return;
  // Printed IR, custom and generic, must parse back: a failure is a printer
  // or parser bug of some op or attribute.
  std::string genericText;
  for (bool generic : {false, true}) {
    std::string text;
    llvm::raw_string_ostream os(text);
    OpPrintingFlags flags;
    if (generic)
      flags.printGenericOpForm();
    module->print(os, flags);
    if (!parseSourceString<ModuleOp>(text, config, "<printed>"))
      __builtin_trap();
    if (generic)
      genericText = std::move(text);
  }

  // The pipelines are deterministic functions of the module, so a module
  // seen before (most parsing mutations only change names, spacing,
  // comments or locations) would run the same code again: skip them. This
  // makes executions cheaper without losing coverage; a crash on this
  // module would have happened the first time.
  static std::unordered_set<uint64_t> seen;
  if (seen.size() > (1u << 20))
    seen.clear(); // at most 1M hashes (about 40 MB)
  if (!seen.insert(llvm::xxh3_64bits(genericText)).second)
    return;

  for (const char *pipeline : kPipelines) {
    OwningOpRef<ModuleOp> clone = module->clone();
    auto pm = PassManager::on<ModuleOp>(&context);
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(parsePassPipeline(pipeline, pm, os)))
      __builtin_trap(); // A pipeline of this list must exist.
    if (succeeded(pm.run(*clone)))
      (void)verify(*clone);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // NUL-terminated, as gs-opt's files and the C API's copies are: MLIR's
  // lexer may read the byte after an input that ends inside a token.
  std::string source(reinterpret_cast<const char *>(data), size);
  if (gs::isBytecode(source) || gs::findRefusedInput(source))
    return 0; // Refused with an error by gs-opt and the C API.
  std::string error;
  if (failed(gs::runWithLargeStack([&] { runOne(source); }, error)))
    __builtin_trap();
  return 0;
}

//===----------------------------------------------------------------------===//
// Structure-aware mutations
//===----------------------------------------------------------------------===//

namespace {
/// Shapes that lowerings must handle or refuse: empty, one element, odd
/// sizes, the largest element counts, counts that overflow i64, unranked
/// and dynamic (which the verifiers refuse).
constexpr const char *kShapes[] = {"",
                                   "0x",
                                   "3x0x",
                                   "0x4x2x",
                                   "1x",
                                   "7x",
                                   "1x1x1x",
                                   "5x3x",
                                   "257x",
                                   "4099x",
                                   "4611686018427387904x",
                                   "9223372036854775807x",
                                   "4294967296x4294967296x",
                                   "3037000500x3037000500x",
                                   "2x4611686018427387904x",
                                   "?x",
                                   "0x9223372036854775807x"};
constexpr const char *kElementTypes[] = {"f32", "f16", "bf16",    "f64",
                                         "i64", "i32", "f8E4M3FN"};

/// The body of every `tensor<...>` and `memref<...>` of `text` without
/// nested brackets, e.g. "4x8xf32".
llvm::SmallVector<std::string> findTypeBodies(llvm::StringRef text) {
  llvm::SmallVector<std::string> bodies;
  for (llvm::StringRef prefix : {"tensor<", "memref<"}) {
    for (size_t at = text.find(prefix); at != llvm::StringRef::npos;
         at = text.find(prefix, at + 1)) {
      size_t begin = at + prefix.size();
      size_t end = text.find_first_of("<>", begin);
      if (end == llvm::StringRef::npos || text[end] != '>' || end - begin > 80)
        continue;
      bodies.push_back(text.slice(begin, end).str());
    }
  }
  return bodies;
}

/// Replaces `tensor<from>` and `memref<from>` by `tensor<to>` and
/// `memref<to>` everywhere.
void replaceType(std::string &text, const std::string &from,
                 const std::string &to) {
  for (const char *prefix : {"tensor<", "memref<"}) {
    std::string old = prefix + from + ">", replacement = prefix + to + ">";
    for (size_t at = text.find(old); at != std::string::npos;
         at = text.find(old, at + replacement.size()))
      text.replace(at, old.size(), replacement);
  }
}

/// One structure-aware mutation of `text`; false if it has nothing to work
/// on.
bool mutateStructure(std::string &text, std::minstd_rand &rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  switch (pick(4)) {
  case 0:
  case 1: { // A new shape (and maybe element type) for one type, everywhere.
    llvm::SmallVector<std::string> bodies = findTypeBodies(text);
    if (bodies.empty())
      return false;
    std::string from = bodies[pick(bodies.size())];
    llvm::StringRef element = llvm::StringRef(from).rsplit('x').second;
    if (element.empty() ||
        llvm::StringRef(from).find('x') == llvm::StringRef::npos)
      element = from;
    std::string to = kShapes[pick(std::size(kShapes))];
    to += pick(3) == 0
              ? std::string(kElementTypes[pick(std::size(kElementTypes))])
              : element.str();
    replaceType(text, from, to);
    return true;
  }
  case 2: { // One element type for another, in every type.
    std::string from = kElementTypes[pick(3)];
    std::string to = kElementTypes[pick(std::size(kElementTypes))];
    for (const std::string &body : findTypeBodies(text))
      if (llvm::StringRef(body).ends_with("x" + from) || body == from)
        replaceType(text, body, body.substr(0, body.size() - from.size()) + to);
    return true;
  }
  default: { // More nesting: regions around the input or a part of it.
    size_t depth = 1 + (pick(8) == 0 ? pick(5000) : pick(64));
    std::string open, close;
    for (size_t i = 0; i < depth; ++i) {
      open += "module {";
      close += "}";
    }
    text = open + text + close;
    return true;
  }
  }
}
} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  std::minstd_rand rng(seed);
  if (rng() % 4 != 0)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string text(reinterpret_cast<const char *>(data), size);
  if (!mutateStructure(text, rng) || text.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, text.data(), text.size());
  return text.size();
}
