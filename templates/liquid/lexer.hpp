#pragma once

// Tokens of a Liquid source (text, {{ output }}, {% tag %}) and the lexer of
// the expressions inside them. Internal to the parser.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace herald::templates::lexing {

/// A syntax error at a byte offset of the source.
struct ParseFailure {
  std::size_t offset;
  std::string message;
};

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

struct Token {
  enum class Kind { kText, kOutput, kTag };
  Kind kind = Kind::kText;
  std::size_t offset = 0;  // of the text, or of `{{` / `{%`
  std::string_view text;   // text, output markup, or tag arguments
  std::size_t text_offset = 0;
  std::string_view name;  // tag name
};

/// Splits a source into tokens, applying whitespace control and keeping
/// `{% raw %}` bodies as text. Throws ParseFailure.
std::vector<Token> tokenize(std::string_view src);

struct Lexeme {
  enum class Kind {
    kEnd,
    kIdent,
    kString,
    kNumber,
    kDot,
    kDotDot,
    kLBracket,
    kRBracket,
    kLParen,
    kRParen,
    kPipe,
    kColon,
    kComma,
    kCompare,
    kAssign
  };
  Kind kind = Kind::kEnd;
  std::string_view text;
  std::size_t offset = 0;
};

class Lexer {
 public:
  Lexer(std::string_view src, std::size_t base) : src_(src), base_(base) { advance(); }

  const Lexeme& peek() const { return current_; }
  Lexeme next() {
    Lexeme l = current_;
    advance();
    return l;
  }
  /// The lexeme after the current one, without consuming anything.
  Lexeme peek2() const {
    Lexer copy = *this;
    copy.advance();
    return copy.current_;
  }
  bool at_end() const { return current_.kind == Lexeme::Kind::kEnd; }
  std::size_t end_offset() const { return base_ + src_.size(); }

 private:
  void advance() {
    while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    std::size_t start = pos_;
    auto make = [&](Lexeme::Kind kind, std::size_t len) {
      current_ = {kind, src_.substr(start, len), base_ + start};
      pos_ = start + len;
    };
    if (pos_ >= src_.size()) return make(Lexeme::Kind::kEnd, 0);
    char c = src_[pos_];
    char c2 = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\0';
    if (is_ident_start(c)) {
      std::size_t i = pos_ + 1;
      while (i < src_.size() && is_ident_char(src_[i])) ++i;
      if (i < src_.size() && src_[i] == '?') ++i;
      return make(Lexeme::Kind::kIdent, i - pos_);
    }
    if (is_digit(c) || (c == '-' && is_digit(c2))) {
      std::size_t i = pos_ + 1;
      while (i < src_.size() && is_digit(src_[i])) ++i;
      if (i + 1 < src_.size() && src_[i] == '.' && is_digit(src_[i + 1])) {
        i += 2;
        while (i < src_.size() && is_digit(src_[i])) ++i;
      }
      return make(Lexeme::Kind::kNumber, i - pos_);
    }
    if (c == '"' || c == '\'') {
      std::size_t close = src_.find(c, pos_ + 1);
      if (close == std::string_view::npos) throw ParseFailure{base_ + start, "unterminated string"};
      return make(Lexeme::Kind::kString, close + 1 - pos_);
    }
    switch (c) {
      case '.':
        return make(c2 == '.' ? Lexeme::Kind::kDotDot : Lexeme::Kind::kDot, c2 == '.' ? 2 : 1);
      case '[':
        return make(Lexeme::Kind::kLBracket, 1);
      case ']':
        return make(Lexeme::Kind::kRBracket, 1);
      case '(':
        return make(Lexeme::Kind::kLParen, 1);
      case ')':
        return make(Lexeme::Kind::kRParen, 1);
      case '|':
        return make(Lexeme::Kind::kPipe, 1);
      case ':':
        return make(Lexeme::Kind::kColon, 1);
      case ',':
        return make(Lexeme::Kind::kComma, 1);
      case '=':
        return make(c2 == '=' ? Lexeme::Kind::kCompare : Lexeme::Kind::kAssign, c2 == '=' ? 2 : 1);
      case '!':
        if (c2 == '=') return make(Lexeme::Kind::kCompare, 2);
        break;
      case '<':
        return make(Lexeme::Kind::kCompare, (c2 == '=' || c2 == '>') ? 2 : 1);
      case '>':
        return make(Lexeme::Kind::kCompare, c2 == '=' ? 2 : 1);
      default:
        break;
    }
    throw ParseFailure{base_ + start, "unexpected character '" + std::string(1, c) + "'"};
  }

  std::string_view src_;
  std::size_t base_;
  std::size_t pos_ = 0;
  Lexeme current_;
};

std::string describe(const Lexeme& l);

}  // namespace herald::templates::lexing
