#include "templates/liquid/lexer.hpp"

namespace herald::templates::lexing {
namespace {

std::string_view trim_left(std::string_view s, std::size_t& offset) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
    ++offset;
  }
  return s;
}
std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Finds `{% endraw %}` (with optional dashes and spaces) from `from`.
// Returns its start; sets `end` past it and the dash flags.
std::size_t find_endraw(std::string_view src, std::size_t from, std::size_t& end, bool& dash_left,
                        bool& dash_right) {
  for (std::size_t at = src.find("{%", from); at != std::string_view::npos;
       at = src.find("{%", at + 2)) {
    std::size_t i = at + 2;
    dash_left = i < src.size() && src[i] == '-';
    if (dash_left) ++i;
    while (i < src.size() && is_space(src[i])) ++i;
    if (src.substr(i, 6) != "endraw") continue;
    i += 6;
    while (i < src.size() && is_space(src[i])) ++i;
    dash_right = i < src.size() && src[i] == '-';
    if (dash_right) ++i;
    if (src.substr(i, 2) != "%}") continue;
    end = i + 2;
    return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::vector<Token> tokenize(std::string_view src) {
  std::vector<Token> tokens;
  std::size_t pos = 0;
  bool trim_next = false;
  auto push_text = [&](std::size_t from, std::size_t to, bool trim_end) {
    std::string_view text = src.substr(from, to - from);
    std::size_t offset = from;
    if (trim_next) text = trim_left(text, offset);
    if (trim_end) text = trim_right(text);
    trim_next = false;
    if (!text.empty()) tokens.push_back({Token::Kind::kText, offset, text, offset, {}});
  };
  while (pos < src.size()) {
    std::size_t start = pos;
    while (true) {
      start = src.find('{', start);
      if (start == std::string_view::npos || start + 1 >= src.size()) {
        start = std::string_view::npos;
        break;
      }
      if (src[start + 1] == '{' || src[start + 1] == '%') break;
      ++start;
    }
    if (start == std::string_view::npos) {
      push_text(pos, src.size(), false);
      break;
    }
    bool output = src[start + 1] == '{';
    std::size_t inner = start + 2;
    bool dash_left = inner < src.size() && src[inner] == '-';
    if (dash_left) ++inner;
    push_text(pos, start, dash_left);
    std::size_t close = src.find(output ? "}}" : "%}", inner);
    if (close == std::string_view::npos) {
      throw ParseFailure{start,
                         output ? "'{{' is not closed by '}}'" : "'{%' is not closed by '%}'"};
    }
    std::size_t inner_end = close;
    bool dash_right = inner_end > inner && src[inner_end - 1] == '-';
    if (dash_right) --inner_end;
    pos = close + 2;
    trim_next = dash_right;
    std::size_t markup_offset = inner;
    std::string_view markup = trim_left(src.substr(inner, inner_end - inner), markup_offset);
    markup = trim_right(markup);
    if (output) {
      tokens.push_back({Token::Kind::kOutput, start, markup, markup_offset, {}});
      continue;
    }
    std::size_t name_len = 0;
    if (!markup.empty() && markup[0] == '#') {
      continue;  // inline comment
    }
    while (name_len < markup.size() && is_ident_char(markup[name_len])) ++name_len;
    if (name_len == 0) throw ParseFailure{start, "expected a tag name after '{%'"};
    std::string_view name = markup.substr(0, name_len);
    std::size_t args_offset = markup_offset + name_len;
    std::string_view args = trim_left(markup.substr(name_len), args_offset);
    if (name == "raw") {
      std::size_t end = 0;
      bool raw_dash_left = false, raw_dash_right = false;
      std::size_t at = find_endraw(src, pos, end, raw_dash_left, raw_dash_right);
      if (at == std::string_view::npos)
        throw ParseFailure{start, "'raw' is not closed by 'endraw'"};
      trim_next = dash_right;
      push_text(pos, at, raw_dash_left);
      pos = end;
      trim_next = raw_dash_right;
      continue;
    }
    tokens.push_back({Token::Kind::kTag, start, args, args_offset, name});
  }
  return tokens;
}

std::string describe(const Lexeme& l) {
  if (l.kind == Lexeme::Kind::kEnd) return "end of tag";
  return "'" + std::string(l.text) + "'";
}

}  // namespace herald::templates::lexing
