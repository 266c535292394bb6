//===- InputLimits.cpp - Bounds on what the compiler accepts --------------===//

#include "gs/Support/InputLimits.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

#include <pthread.h>

#include <cstring>

using namespace mlir;
using namespace mlir::gs;

namespace {
/// A token-level walk of MLIR text that tracks the nesting depth (see
/// findExcessiveNesting). Linear in the length of the text.
class NestingScanner {
public:
  NestingScanner(StringRef text, unsigned limit) : text(text), limit(limit) {
    frames.push_back({'\0', 0});
  }

  /// The offset where the depth first exceeds the limit, if it does.
  std::optional<size_t> run();

private:
  struct Frame {
    char open;
    /// Operators since the last operand-free point of this frame.
    unsigned chain;
  };

  bool atTopLevel() const { return frames.size() == 1; }
  /// Records `value` as a depth reached; true if over the limit.
  bool reach(unsigned value);
  bool open(char c);
  void close(char c);
  bool operatorToken();
  void operand();
  void punctuation();
  void endDefinition();
  static char opening(char close) {
    return close == ')' ? '(' : close == ']' ? '[' : '{';
  }
  static int bracketIndex(char open) {
    return open == '(' ? 0 : open == '[' ? 1 : open == '{' ? 2 : 3;
  }

  StringRef text;
  unsigned limit;
  SmallVector<Frame> frames;
  /// Open brackets of each kind: ( [ { <.
  unsigned openCount[4] = {0, 0, 0, 0};
  /// Open brackets plus the pending operators of every frame.
  unsigned depth = 0;
  bool lastWasOperand = false;
  /// The depth of each alias definition seen so far.
  llvm::StringMap<unsigned> aliases;
  /// The alias being defined (at the top level, from `#name =` to the next
  /// definition or operation), its depth and whether its body has begun.
  std::optional<std::string> defining;
  unsigned definingDepth = 0;
  bool inBody = false;
};
} // namespace

bool NestingScanner::reach(unsigned value) {
  if (defining)
    definingDepth = std::max(definingDepth, value);
  return value > limit;
}

bool NestingScanner::open(char c) {
  frames.push_back({c, 0});
  ++openCount[bracketIndex(c)];
  ++depth;
  lastWasOperand = false;
  return reach(depth);
}

void NestingScanner::close(char c) {
  char want = c == '>' ? '<' : opening(c);
  if (c == '>') {
    // `>` closes only a `<` on top: elsewhere it is a comparison.
    if (frames.back().open != '<') {
      punctuation();
      return;
    }
  } else if (openCount[bracketIndex(want)] == 0) {
    punctuation(); // Unbalanced: the parser reports it.
    return;
  }
  // Pops up to the matching bracket (an unclosed `<` in between included).
  while (true) {
    Frame frame = frames.pop_back_val();
    --openCount[bracketIndex(frame.open)];
    depth -= 1 + frame.chain;
    if (frame.open == want)
      break;
  }
  // The bracketed expression is an operand of the enclosing chain.
  lastWasOperand = true;
}

bool NestingScanner::operatorToken() {
  ++frames.back().chain;
  ++depth;
  lastWasOperand = false;
  return reach(depth);
}

void NestingScanner::operand() {
  // Two operands in a row start a new expression.
  if (lastWasOperand) {
    depth -= frames.back().chain;
    frames.back().chain = 0;
  }
  lastWasOperand = true;
}

void NestingScanner::punctuation() {
  depth -= frames.back().chain;
  frames.back().chain = 0;
  lastWasOperand = false;
}

void NestingScanner::endDefinition() {
  if (defining)
    aliases[*defining] = definingDepth;
  defining.reset();
  definingDepth = 0;
  inBody = false;
}

static bool isBareIdStart(char c) { return llvm::isAlpha(c) || c == '_'; }
static bool isBareIdChar(char c) {
  return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.';
}

std::optional<size_t> NestingScanner::run() {
  size_t size = text.size(), i = 0;
  while (i < size) {
    size_t start = i;
    char c = text[i];
    if (llvm::isSpace(c)) {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < size && text[i + 1] == '/') {
      i = text.find('\n', i);
      if (i == StringRef::npos)
        break;
      continue;
    }
    // Whether this token comes after the first of an alias body.
    bool afterBody = inBody;
    inBody = defining.has_value();
    if (c == '"') {
      for (++i; i < size && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      ++i;
      operand();
      continue;
    }
    if (c == '(' || c == '[' || c == '{' || c == '<') {
      // At the top level, past an alias body, `{` opens `{-# ... #-}`.
      if (c == '{' && atTopLevel() && afterBody)
        endDefinition();
      if (open(c))
        return start;
      ++i;
      continue;
    }
    if (c == ')' || c == ']' || c == '}' || c == '>') {
      close(c);
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < size && text[i + 1] == '>') {
      punctuation(); // `->`
      i += 2;
      continue;
    }
    if (c == '+' || c == '-' || c == '*') {
      if (operatorToken())
        return start;
      ++i;
      continue;
    }
    if (llvm::isDigit(c)) {
      bool isFloat = false;
      for (++i; i < size; ++i) {
        char d = text[i];
        if (d == '.')
          isFloat = true;
        if ((d == '+' || d == '-') && isFloat &&
            (text[i - 1] == 'e' || text[i - 1] == 'E'))
          continue;
        if (!isBareIdChar(d))
          break;
      }
      operand();
      continue;
    }
    if (isBareIdStart(c)) {
      for (++i; i < size && isBareIdChar(text[i]); ++i)
        ;
      StringRef word = text.slice(start, i);
      if (word == "floordiv" || word == "ceildiv" || word == "mod") {
        if (operatorToken())
          return start;
        continue;
      }
      // An operation at the top level ends any alias definition.
      if (atTopLevel() && afterBody && (word.contains('.') || word == "module"))
        endDefinition();
      operand();
      continue;
    }
    if (c == '%' || c == '@' || c == '^' || c == '#' || c == '!') {
      ++i;
      if (c == '@' && i < size && text[i] == '"') {
        continue; // The string is the next token.
      }
      bool dashes = c == '%' || c == '^';
      while (i < size && (isBareIdChar(text[i]) || (dashes && text[i] == '-')))
        ++i;
      StringRef name = text.slice(start + 1, i);
      if (name.empty()) {
        punctuation();
        continue;
      }
      if (c == '%' && atTopLevel())
        endDefinition();
      if ((c == '#' || c == '!') && atTopLevel()) {
        size_t next = text.find_first_not_of(" \t\r\n", i);
        if (next != StringRef::npos && text[next] == '=' &&
            (next + 1 >= size || text[next + 1] != '=')) {
          endDefinition();
          defining = (Twine(c) + name).str();
          lastWasOperand = false;
          i = next + 1;
          continue;
        }
      }
      operand();
      if (c == '#' || c == '!') {
        auto it = aliases.find((Twine(c) + name).str());
        if (it != aliases.end() && reach(depth + it->second))
          return start;
      }
      continue;
    }
    punctuation();
    ++i;
  }
  return std::nullopt;
}

std::optional<NestingViolation> mlir::gs::findExcessiveNesting(StringRef text,
                                                               unsigned limit) {
  std::optional<size_t> offset = NestingScanner(text, limit).run();
  if (!offset)
    return std::nullopt;
  return makeInputViolation(
      text, *offset,
      "input nested deeper than " + std::to_string(limit) +
          " levels (brackets, expression operators and alias references "
          "counted): refused, as processing it could overflow the stack");
}

mlir::gs::NestingViolation mlir::gs::makeInputViolation(StringRef text,
                                                        size_t offset,
                                                        std::string message) {
  StringRef before = text.take_front(offset);
  size_t lineStart = before.rfind('\n');
  lineStart = lineStart == StringRef::npos ? 0 : lineStart + 1;
  NestingViolation violation;
  violation.offset = offset;
  violation.line = before.count('\n') + 1;
  violation.column = offset - lineStart + 1;
  violation.message = std::move(message);
  return violation;
}

LogicalResult mlir::gs::runWithLargeStack(function_ref<void()> fn,
                                          std::string &error) {
  // pthreads rather than llvm::thread, whose failure to start a thread is a
  // fatal error: a library must report it.
  pthread_attr_t attributes;
  int status = pthread_attr_init(&attributes);
  if (status == 0) {
    status = pthread_attr_setstacksize(&attributes, kLargeStackBytes);
    pthread_t thread;
    if (status == 0)
      status = pthread_create(
          &thread, &attributes,
          [](void *arg) -> void * {
            (*static_cast<function_ref<void()> *>(arg))();
            return nullptr;
          },
          &fn);
    pthread_attr_destroy(&attributes);
    if (status == 0) {
      pthread_join(thread, nullptr);
      return success();
    }
  }
  error = "cannot start a thread with a " +
          std::to_string(kLargeStackBytes >> 20) +
          " MiB stack: " + std::strerror(status);
  return failure();
}

bool mlir::gs::isBytecode(StringRef buffer) {
  return buffer.starts_with("ML\xefR");
}
