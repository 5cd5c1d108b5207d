#pragma once

// Tokens of the expression language; internal to herald_expr.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/expr/time.hpp"

namespace herald::expr {

enum class TokenKind : std::uint8_t {
  kEnd,
  kNumber,
  kDuration,
  kString,
  kIdentifier,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
  double number = 0;
  Duration duration{};
  std::string text;  // identifiers and decoded strings
};

/// Splits `text` into tokens, ending with kEnd; throws SyntaxError.
std::vector<Token> tokenize(std::string_view text);

}  // namespace herald::expr
