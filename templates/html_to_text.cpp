#include "templates/html_to_text.hpp"

#include <algorithm>
#include <cstdint>

#include "templates/liquid/value.hpp"

namespace herald::templates {
namespace {

struct Entity {
  std::string_view name;
  char32_t cp;
};

constexpr Entity kEntities[] = {
    {"amp", U'&'},    {"lt", U'<'},     {"gt", U'>'},     {"quot", U'"'},   {"apos", U'\''},
    {"nbsp", U' '},   {"copy", U'©'},   {"reg", U'®'},    {"trade", U'™'},  {"hellip", U'…'},
    {"mdash", U'—'},  {"ndash", U'–'},  {"lsquo", U'‘'},  {"rsquo", U'’'},  {"ldquo", U'“'},
    {"rdquo", U'”'},  {"laquo", U'«'},  {"raquo", U'»'},  {"euro", U'€'},   {"pound", U'£'},
    {"yen", U'¥'},    {"cent", U'¢'},   {"middot", U'·'}, {"bull", U'•'},   {"deg", U'°'},
    {"eacute", U'é'}, {"egrave", U'è'}, {"ecirc", U'ê'},  {"agrave", U'à'}, {"acirc", U'â'},
    {"ccedil", U'ç'}, {"ocirc", U'ô'},  {"ucirc", U'û'},  {"ugrave", U'ù'}, {"icirc", U'î'},
    {"iuml", U'ï'},   {"euml", U'ë'},   {"auml", U'ä'},   {"ouml", U'ö'},   {"uuml", U'ü'},
    {"szlig", U'ß'},  {"ntilde", U'ñ'}, {"Eacute", U'É'}, {"times", U'×'},  {"zwnj", 0x200C},
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// Decodes the entity at text[pos] == '&'; advances pos past it.
void decode_entity(std::string_view text, std::size_t& pos, std::string& out) {
  std::size_t semi = text.find(';', pos);
  if (semi != std::string_view::npos && semi - pos <= 10) {
    std::string_view name = text.substr(pos + 1, semi - pos - 1);
    char32_t cp = 0;
    if (name.size() > 1 && name[0] == '#') {
      bool hex = name[1] == 'x' || name[1] == 'X';
      std::string_view digits = name.substr(hex ? 2 : 1);
      std::uint32_t v = 0;
      bool ok = !digits.empty();
      for (char c : digits) {
        int d = (c >= '0' && c <= '9')          ? c - '0'
                : hex && (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : hex && (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                : -1;
        if (d < 0 || v > 0x10FFFF) {
          ok = false;
          break;
        }
        v = v * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
      }
      if (ok && v > 0 && v <= 0x10FFFF) cp = v;
    } else {
      for (const Entity& e : kEntities) {
        if (e.name == name) cp = e.cp;
      }
    }
    if (cp) {
      if (cp != 0x200C) append_utf8(cp == 0xA0 ? U' ' : cp, out);
      pos = semi + 1;
      return;
    }
  }
  out += '&';
  ++pos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of attribute `name` in a tag's inner text, entities decoded.
std::string attribute(std::string_view tag, std::string_view name) {
  std::string low = lower(tag);
  std::size_t at = 0;
  while ((at = low.find(name, at)) != std::string::npos) {
    bool starts = at > 0 && is_space(low[at - 1]);
    std::size_t i = at + name.size();
    while (i < low.size() && is_space(low[i])) ++i;
    if (!starts || i >= low.size() || low[i] != '=') {
      at += name.size();
      continue;
    }
    ++i;
    while (i < low.size() && is_space(low[i])) ++i;
    std::size_t end;
    if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
      char q = tag[i++];
      end = tag.find(q, i);
      if (end == std::string_view::npos) end = tag.size();
    } else {
      end = i;
      while (end < tag.size() && !is_space(tag[end]) && tag[end] != '>') ++end;
    }
    std::string value;
    std::string_view raw = tag.substr(i, end - i);
    for (std::size_t p = 0; p < raw.size();) {
      if (raw[p] == '&') {
        decode_entity(raw, p, value);
      } else {
        value += raw[p++];
      }
    }
    return value;
  }
  return {};
}

class TextWriter {
 public:
  void text(std::string_view s) {
    for (char c : s) {
      if (is_space(c)) {
        pending_space_ = true;
        continue;
      }
      if (pending_space_ && !at_line_start()) out_ += ' ';
      pending_space_ = false;
      out_ += c;
    }
  }
  void raw(std::string_view s) {
    if (pending_space_ && !at_line_start()) out_ += ' ';
    pending_space_ = false;
    out_ += s;
  }
  void line_break() {
    pending_space_ = false;
    out_ += '\n';
  }
  void block_break(int newlines) {
    pending_space_ = false;
    if (out_.empty()) return;
    int have = 0;
    for (auto it = out_.rbegin(); it != out_.rend() && *it == '\n'; ++it) ++have;
    for (; have < newlines; ++have) out_ += '\n';
  }
  std::size_t size() const { return out_.size(); }
  std::string_view since(std::size_t mark) const { return std::string_view(out_).substr(mark); }

  std::string finish() {
    // Trim each line's ends and cap blank runs at one empty line.
    std::string result;
    std::size_t start = 0;
    int blank = 0;
    while (start <= out_.size()) {
      std::size_t end = out_.find('\n', start);
      if (end == std::string::npos) end = out_.size();
      std::string_view line = std::string_view(out_).substr(start, end - start);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
      if (line.empty()) {
        ++blank;
      } else {
        if (!result.empty()) result += blank > 0 ? "\n\n" : "\n";
        blank = 0;
        result += line;
      }
      start = end + 1;
    }
    return result;
  }

 private:
  bool at_line_start() const { return out_.empty() || out_.back() == '\n'; }

  std::string out_;
  bool pending_space_ = false;
};

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string html_to_text(std::string_view html) {
  TextWriter w;
  struct Link {
    std::string href;
    std::size_t mark;
  };
  std::vector<Link> links;
  std::string run;
  std::size_t i = 0;
  auto flush = [&] {
    w.text(run);
    run.clear();
  };
  while (i < html.size()) {
    char c = html[i];
    if (c == '&') {
      std::string decoded;
      decode_entity(html, i, decoded);
      // A decoded space from &nbsp; must survive whitespace collapsing only as one space.
      run += decoded;
      continue;
    }
    if (c != '<') {
      run += c;
      ++i;
      continue;
    }
    if (html.substr(i, 4) == "<!--") {
      std::size_t end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    std::size_t close = html.find('>', i);
    if (close == std::string_view::npos) {
      run += html.substr(i);
      break;
    }
    std::string_view tag = html.substr(i + 1, close - i - 1);
    i = close + 1;
    bool closing = !tag.empty() && tag[0] == '/';
    std::size_t n = closing ? 1 : 0;
    std::size_t name_end = n;
    while (name_end < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[name_end]))))
      ++name_end;
    std::string name = lower(tag.substr(n, name_end - n));
    if (name.empty()) continue;  // <!DOCTYPE …>, stray '<'
    flush();
    if (!closing && one_of(name, {"head", "style", "script", "title"})) {
      std::string end_tag = "</" + name;
      std::string low_rest = lower(html.substr(i));
      std::size_t end = low_rest.find(end_tag);
      if (end == std::string::npos) break;
      std::size_t gt = html.find('>', i + end);
      i = gt == std::string_view::npos ? html.size() : gt + 1;
      continue;
    }
    if (name == "br") {
      w.line_break();
    } else if (one_of(name, {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "ul",
                             "ol", "hr"})) {
      w.block_break(2);
    } else if (one_of(name, {"div", "tr", "section", "article", "header", "footer", "center", "dl",
                             "dt", "dd"})) {
      w.block_break(1);
    } else if (name == "li") {
      w.block_break(1);
      if (!closing) w.raw("- ");
    } else if (name == "td" || name == "th") {
      if (!closing) w.text(" ");
    } else if (name == "img" && !closing) {
      std::string alt = attribute(tag, "alt");
      if (!alt.empty()) w.text(alt);
    } else if (name == "a") {
      if (!closing) {
        links.push_back({attribute(tag, "href"), w.size()});
      } else if (!links.empty()) {
        Link link = std::move(links.back());
        links.pop_back();
        std::string label(w.since(link.mark));
        while (!label.empty() && is_space(label.back())) label.pop_back();
        while (!label.empty() && is_space(label.front())) label.erase(0, 1);
        const std::string& href = link.href;
        bool useful = !href.empty() && href[0] != '#' && lower(href).rfind("javascript:", 0) != 0;
        if (useful && label != href) {
          std::string shown = lower(href).rfind("mailto:", 0) == 0 ? href.substr(7) : href;
          if (label.empty()) {
            w.text(shown);
          } else if (label != shown) {
            w.text(" (" + shown + ")");
          }
        }
      }
    }
  }
  flush();
  return w.finish();
}

}  // namespace herald::templates
