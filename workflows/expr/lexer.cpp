#include "workflows/expr/lexer.hpp"

#include <charconv>

#include "workflows/expr/ast.hpp"

namespace herald::expr {
namespace {

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || is_digit(c);
}

[[noreturn]] void fail(std::string_view text, std::size_t offset, std::string message) {
  auto [line, column] = line_column(text, offset);
  throw SyntaxError(offset, line, column, std::move(message));
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::vector<Token> run() {
    std::vector<Token> tokens;
    while (true) {
      skip_space();
      Token token;
      token.offset = static_cast<std::uint32_t>(pos_);
      if (pos_ >= text_.size()) {
        tokens.push_back(std::move(token));
        return tokens;
      }
      lex_one(token);
      token.length = static_cast<std::uint32_t>(pos_ - token.offset);
      tokens.push_back(std::move(token));
    }
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void lex_one(Token& token) {
    char c = text_[pos_];
    if (is_digit(c) || (c == '.' && is_digit(peek(1)))) return lex_number(token);
    if (is_ident_start(c)) {
      std::size_t start = pos_;
      while (pos_ < text_.size() && is_ident_char(text_[pos_])) ++pos_;
      token.kind = TokenKind::kIdentifier;
      token.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    if (c == '\'' || c == '"') return lex_string(token, c);
    auto two = [&](char second) { return peek(1) == second; };
    switch (c) {
      case '(':
        token.kind = TokenKind::kLParen;
        break;
      case ')':
        token.kind = TokenKind::kRParen;
        break;
      case '[':
        token.kind = TokenKind::kLBracket;
        break;
      case ']':
        token.kind = TokenKind::kRBracket;
        break;
      case ',':
        token.kind = TokenKind::kComma;
        break;
      case '.':
        token.kind = TokenKind::kDot;
        break;
      case '+':
        token.kind = TokenKind::kPlus;
        break;
      case '-':
        token.kind = TokenKind::kMinus;
        break;
      case '*':
        token.kind = TokenKind::kStar;
        break;
      case '/':
        token.kind = TokenKind::kSlash;
        break;
      case '%':
        token.kind = TokenKind::kPercent;
        break;
      case '=':
        if (!two('=')) fail(text_, pos_, "unexpected '=': use '==' to compare");
        token.kind = TokenKind::kEq;
        ++pos_;
        break;
      case '!':
        if (!two('=')) fail(text_, pos_, "unexpected '!': use 'not'");
        token.kind = TokenKind::kNe;
        ++pos_;
        break;
      case '<':
        token.kind = two('=') ? TokenKind::kLe : TokenKind::kLt;
        if (two('=')) ++pos_;
        break;
      case '>':
        token.kind = two('=') ? TokenKind::kGe : TokenKind::kGt;
        if (two('=')) ++pos_;
        break;
      case '&':
        fail(text_, pos_, two('&') ? "unexpected '&&': use 'and'" : "unexpected '&'");
      case '|':
        fail(text_, pos_, two('|') ? "unexpected '||': use 'or'" : "unexpected '|'");
      default: {
        std::string shown = static_cast<unsigned char>(c) < 0x80 ? std::string(1, c) : "non-ASCII";
        fail(text_, pos_, "unexpected character '" + shown + "'");
      }
    }
    ++pos_;
  }

  void lex_number(Token& token) {
    std::size_t start = pos_;
    while (is_digit(peek())) ++pos_;
    bool fraction = false;
    if (peek() == '.' && is_digit(peek(1))) {
      fraction = true;
      ++pos_;
      while (is_digit(peek())) ++pos_;
    }
    if (!fraction && (peek() == 'e' || peek() == 'E') &&
        (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
      pos_ += 2;
      while (is_digit(peek())) ++pos_;
    } else if (fraction && (peek() == 'e' || peek() == 'E') && is_digit(peek(1))) {
      pos_ += 2;
      while (is_digit(peek())) ++pos_;
    }
    if (is_ident_start(peek())) {
      // A duration: digits and a unit, possibly several groups (1h30m).
      while (is_ident_char(peek())) ++pos_;
      std::string_view word = text_.substr(start, pos_ - start);
      auto duration = fraction ? std::nullopt : parse_duration(word);
      if (!duration)
        fail(
            text_, start,
            "bad duration '" + std::string(word) + "': expected digits and a unit s, m, h, d or w");
      token.kind = TokenKind::kDuration;
      token.duration = *duration;
      return;
    }
    double value = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, value);
    if (ec != std::errc() || end != text_.data() + pos_)
      fail(text_, start, "bad number '" + std::string(text_.substr(start, pos_ - start)) + "'");
    token.kind = TokenKind::kNumber;
    token.number = value;
  }

  void lex_string(Token& token, char quote) {
    std::size_t start = pos_++;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail(text_, start, "unterminated string");
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\\' && pos_ < text_.size()) {
        char e = text_[pos_++];
        switch (e) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case '\\':
          case '\'':
          case '"':
            out += e;
            break;
          default:
            fail(text_, pos_ - 2, std::string("unknown escape '\\") + e + "' in string");
        }
        continue;
      }
      out += c;
    }
    token.kind = TokenKind::kString;
    token.text = std::move(out);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<Token> tokenize(std::string_view text) {
  return Lexer(text).run();
}

}  // namespace herald::expr
