//===- KnownParserCrashes.cpp - Input MLIR 22's parser crashes on ---------===//
//
// A few upstream op parsers dereference the result of an attribute parse
// that failed. libMLIR.so cannot be patched from here, so the entry points
// refuse such input with an error before parsing it. The scan is lexical:
// it skips strings and comments, tracks bracket depth, and looks at the
// keyword that follows one of the affected ops at that op's own depth.
//
//===----------------------------------------------------------------------===//

#include "gs/Support/InputLimits.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace {
/// A lexical walk over MLIR text: whitespace, comments and strings skipped.
struct Cursor {
  StringRef text;
  size_t i = 0;

  bool done() const { return i >= text.size(); }
  char peek() const { return done() ? '\0' : text[i]; }

  /// Skips whitespace and `//` comments.
  void skipTrivia() {
    while (!done()) {
      if (llvm::isSpace(text[i])) {
        ++i;
      } else if (text.substr(i).starts_with("//")) {
        size_t end = text.find('\n', i);
        i = end == StringRef::npos ? text.size() : end + 1;
      } else {
        return;
      }
    }
  }

  /// Skips a string literal starting at `i` (a `"`), escapes included.
  void skipString() {
    for (++i; !done() && text[i] != '"'; ++i)
      if (text[i] == '\\')
        ++i;
    ++i;
  }

  static bool isIdStart(char c) { return llvm::isAlpha(c) || c == '_'; }
  static bool isIdChar(char c) {
    return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.';
  }

  /// The bare identifier at `i`, consumed.
  StringRef identifier() {
    size_t start = i;
    while (!done() && isIdChar(text[i]))
      ++i;
    return text.slice(start, i);
  }

  /// Consumes `[` integer (`,` integer)* `]`, or `[]`, each integer decimal
  /// or hexadecimal, optionally negative, fitting in 64 bits: what
  /// DenseI64ArrayAttr's parser accepts. False at the first other token.
  bool integerList() {
    skipTrivia();
    if (peek() != '[')
      return false;
    ++i;
    skipTrivia();
    if (peek() == ']') {
      ++i;
      return true;
    }
    while (true) {
      skipTrivia();
      size_t start = i;
      if (peek() == '-')
        ++i;
      while (!done() && llvm::isAlnum(text[i]))
        ++i;
      StringRef number = text.slice(start, i);
      int64_t value;
      if (number.empty() || number.getAsInteger(0, value))
        return false;
      skipTrivia();
      if (peek() == ']') {
        ++i;
        return true;
      }
      if (peek() != ',')
        return false;
      ++i;
    }
  }
};
} // namespace

/// The keyword whose value `op`'s custom parser mishandles, or "".
static StringRef getFragileKeyword(StringRef op) {
  return llvm::StringSwitch<StringRef>(op)
      .Cases({"linalg.reduce", "linalg.broadcast"}, "dimensions")
      .Case("linalg.transpose", "permutation")
      .Default("");
}

std::optional<mlir::gs::NestingViolation>
mlir::gs::findKnownParserCrash(StringRef text) {
  Cursor c{text};
  int depth = 0;
  // The op whose keyword is awaited, and the depth it sits at.
  StringRef pendingOp, pendingKeyword;
  int pendingDepth = 0;
  while (!c.done()) {
    c.skipTrivia();
    if (c.done())
      break;
    char ch = c.peek();
    if (ch == '"') {
      c.skipString();
      continue;
    }
    if (ch == '(' || ch == '[' || ch == '{' || ch == '<') {
      ++depth;
      ++c.i;
      continue;
    }
    if (ch == ')' || ch == ']' || ch == '}' || ch == '>') {
      --depth;
      ++c.i;
      if (!pendingOp.empty() && depth < pendingDepth)
        pendingOp = "";
      continue;
    }
    // Sigiled names (%x, @f, #a, !t, ^bb) are never keywords.
    if (ch == '%' || ch == '@' || ch == '#' || ch == '!' || ch == '^') {
      ++c.i;
      if (c.peek() == '"')
        c.skipString();
      else
        c.identifier();
      continue;
    }
    if (!Cursor::isIdStart(ch)) {
      ++c.i;
      continue;
    }
    size_t start = c.i;
    StringRef id = c.identifier();
    if (StringRef keyword = getFragileKeyword(id); !keyword.empty()) {
      pendingOp = id;
      pendingKeyword = keyword;
      pendingDepth = depth;
      continue;
    }
    if (pendingOp.empty() || depth != pendingDepth || id != pendingKeyword)
      continue;
    StringRef op = pendingOp;
    pendingOp = "";
    c.skipTrivia();
    if (c.peek() != '=')
      continue; // The parser fails cleanly on the missing `=`.
    ++c.i;
    if (c.integerList())
      continue;
    return makeInputViolation(
        text, start,
        (op + ": `" + id +
         "` must be a list of 64-bit integers such as [0, 1]; refused before "
         "parsing, as MLIR 22's parser crashes on anything else there")
            .str());
  }
  return std::nullopt;
}

std::optional<mlir::gs::NestingViolation>
mlir::gs::findRefusedInput(StringRef text) {
  if (std::optional<NestingViolation> violation = findExcessiveNesting(text))
    return violation;
  return findKnownParserCrash(text);
}
