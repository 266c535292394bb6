//===- InputLimits.h - Bounds on what the compiler accepts ------*- C++ -*-===//
//
// MLIR's parser, printer, verifier and most passes recurse once per level of
// nesting (regions, brackets, expression operators, alias references), so
// deep enough input overflows any stack. The entry points (gs-opt, the C API,
// gs-fuzz) refuse text nested deeper than kMaxNestingDepth and run the
// compiler on a thread whose stack holds that depth with a wide margin.
//
//===----------------------------------------------------------------------===//

#ifndef GS_SUPPORT_INPUTLIMITS_H
#define GS_SUPPORT_INPUTLIMITS_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstddef>
#include <optional>
#include <string>

namespace mlir::gs {

/// The deepest nesting accepted. Far beyond hand-written or generated IR
/// (tens of levels), far below what kLargeStackBytes holds (measured: parsing
/// takes about 2 KiB of stack per level; 3,000 levels need 8 MiB).
inline constexpr unsigned kMaxNestingDepth = 4096;

/// The stack of the thread runWithLargeStack starts.
inline constexpr size_t kLargeStackBytes = size_t(256) << 20;

/// Where `text` first nests deeper than the limit.
struct NestingViolation {
  size_t offset;
  unsigned line, column;
  /// The message, without location.
  std::string message;
};

/// The violation at byte `offset` of `text`, with its line and column.
NestingViolation makeInputViolation(StringRef text, size_t offset,
                                    std::string message);

/// Scans MLIR text (or a textual pass pipeline) and returns where it first
/// nests deeper than `limit`, or nothing. The depth at a point counts the
/// enclosing brackets ( [ { <, the pending operators of an expression chain
/// (`a + b + ...`, `- - x`, which the affine parser handles recursively) and,
/// at a reference to an alias (#a, !t), the depth of the alias's
/// definition. It over-approximates the recursion depth of MLIR's parser and
/// of the passes, so it never accepts what the recursion could not hold.
std::optional<NestingViolation>
findExcessiveNesting(StringRef text, unsigned limit = kMaxNestingDepth);

/// Where `text` first holds input that makes MLIR 22's parser crash instead
/// of reporting an error, or nothing. Known: the custom syntax of
/// linalg.reduce / linalg.broadcast (`dimensions = [...]`) and
/// linalg.transpose (`permutation = [...]`), whose parsers store the result
/// of a failed attribute parse (null) and dereference it. Anything after
/// such a keyword and `=` other than a list of 64-bit integers is refused.
std::optional<NestingViolation> findKnownParserCrash(StringRef text);

/// findExcessiveNesting, then findKnownParserCrash: what the entry points
/// refuse before parsing.
std::optional<NestingViolation> findRefusedInput(StringRef text);

/// Runs `fn` on a new thread with a kLargeStackBytes stack and waits for it.
/// Fails, with the reason in `error`, only if no such thread can be started
/// (then `fn` does not run).
LogicalResult runWithLargeStack(function_ref<void()> fn, std::string &error);

/// True for MLIR bytecode, which findExcessiveNesting cannot scan.
bool isBytecode(StringRef buffer);

} // namespace mlir::gs

#endif // GS_SUPPORT_INPUTLIMITS_H
