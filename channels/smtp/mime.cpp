#include "channels/smtp/mime.hpp"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <vector>

namespace herald::channels::smtp {

namespace {

constexpr std::size_t kMaxLine = 76;  // RFC 2045 and RFC 2047 line limit

bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// RFC 5322 atext, ASCII part.
bool is_atext(unsigned char c) {
  if (is_alnum(c)) return true;
  for (char s : std::string_view("!#$%&'*+-/=?^_`{|}~"))
    if (c == static_cast<unsigned char>(s)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_ascii_printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

/// RFC 2047 B encoded words, each line (the first starting at `column`) within 76
/// columns, never splitting a UTF-8 sequence; joined by folding whitespace.
std::string encoded_words(std::string_view text, std::size_t column) {
  constexpr std::size_t kWrapper = 12;  // "=?UTF-8?B?" + "?="
  std::string out;
  std::size_t pos = 0;
  do {
    std::size_t room = kMaxLine > column + kWrapper ? kMaxLine - column - kWrapper : 0;
    std::size_t bytes = std::max<std::size_t>(room / 4 * 3, 3);
    std::size_t end = std::min(text.size(), pos + bytes);
    while (end < text.size() && end > pos + 1 && (uint8_t(text[end]) & 0xc0) == 0x80) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(pos, end - pos)) + "?=";
    pos = end;
    column = 1;
  } while (pos < text.size());
  return out;
}

/// Folds printable ASCII at spaces so lines stay within 76 columns where they can.
std::string fold_ascii(std::string_view text, std::size_t column) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    auto space = text.find(' ', start);
    auto word = text.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    if (first) {
      out += word;
      column += word.size();
      first = false;
    } else if (!word.empty() && column + 1 + word.size() > kMaxLine) {
      out += "\r\n ";
      out += word;
      column = 1 + word.size();
    } else {
      out += ' ';
      out += word;
      column += 1 + word.size();
    }
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  return out;
}

std::string hex_byte(unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'=', kHex[c >> 4], kHex[c & 15]};
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// A URI for an angle-bracketed header value: no line breaks, and spaces, controls,
/// quotes, angle brackets and bytes above ASCII percent-encoded.
std::string header_uri(std::string_view uri) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : uri) {
    if (c == '\r' || c == '\n') continue;
    if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    else
      out += static_cast<char>(c);
  }
  return out;
}

/// Last line of defence against header injection: a CR or LF survives only as part of
/// folding whitespace (CRLF followed by a space or tab), which cannot start a header.
void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\r' && i + 2 < value.size() && value[i + 1] == '\n' &&
        (value[i + 2] == ' ' || value[i + 2] == '\t')) {
      out += "\r\n";
      ++i;
    } else if (c != '\r' && c != '\n') {
      out += c;
    }
  }
  out += "\r\n";
}

/// A part's headers and body. In a multipart the CRLF ending the body belongs to the next
/// boundary; a whole message must end with one, so a body that does not gains it.
void append_part(std::string& out, std::string_view type, std::string_view content,
                 bool in_multipart) {
  out += "Content-Type: ";
  out += type;
  out += "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
  auto body = quoted_printable(content);
  out += body;
  if (in_multipart || body.size() < 2 || body.compare(body.size() - 2, 2, "\r\n") != 0)
    out += "\r\n";
}

}  // namespace

bool valid_address(std::string_view address) {
  if (address.size() < 3 || address.size() > 254) return false;
  auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || at + 1 == address.size()) return false;
  auto local = address.substr(0, at);
  auto domain = address.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return false;
  for (unsigned char c : local)
    if (!(is_atext(c) || c == '.' || c >= 0x80)) return false;
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos)
    return false;
  for (unsigned char c : domain)
    if (!(is_alnum(c) || c == '-' || c == '.' || c >= 0x80)) return false;
  return true;
}

std::optional<Mailbox> parse_mailbox(std::string_view text) {
  if (text.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  text = trim(text);
  Mailbox mailbox;
  if (!text.empty() && text.back() == '>') {
    auto open = text.rfind('<');
    if (open == std::string_view::npos) return std::nullopt;
    mailbox.address = std::string(text.substr(open + 1, text.size() - open - 2));
    auto name = trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size())
          ++i;
        else if (name[i] == '"')
          return std::nullopt;
        mailbox.name += name[i];
      }
    } else {
      if (name.find_first_of("\"<>") != std::string_view::npos) return std::nullopt;
      mailbox.name = std::string(name);
    }
  } else {
    mailbox.address = std::string(text);
  }
  if (!valid_address(mailbox.address)) return std::nullopt;
  return mailbox;
}

std::string header_safe(std::string_view value) {
  std::string out;
  bool in_break = false;
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n') {
      if (!in_break) out += ' ';
      in_break = true;
      continue;
    }
    in_break = false;
    if ((c < 0x20 && c != '\t') || c == 0x7f) continue;
    out += static_cast<char>(c);
  }
  return out;
}

std::string encode_unstructured(std::string_view name, std::string_view text) {
  auto safe = header_safe(text);
  std::size_t column = name.size() + 2;  // "Name: "
  bool plain = true;
  for (unsigned char c : safe) plain = plain && c >= 0x20 && c < 0x7f;
  // A literal "=?" would be read as the start of an encoded word; a word too long to
  // fold would break the 998-byte line limit.
  plain = plain && safe.find("=?") == std::string::npos;
  std::size_t longest = 0, run = 0;
  for (char c : safe) longest = std::max(longest, run = c == ' ' ? 0 : run + 1);
  if (plain && longest < 900) return fold_ascii(safe, column);
  return encoded_words(safe, column);
}

std::string format_mailbox(const Mailbox& mailbox) {
  auto name = std::string(trim(header_safe(mailbox.name)));
  auto address = header_safe(mailbox.address);
  if (name.empty()) return address;
  bool atoms = true;
  for (unsigned char c : name) atoms = atoms && (is_atext(c) || c == ' ');
  if (atoms) return name + " <" + address + ">";
  if (is_ascii_printable(name) && name.size() < 900) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return quoted + "\" <" + address + ">";
  }
  return encoded_words(name, 6) + " <" + address + ">";  // after "From: "
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  bool first_line = true;
  while (pos <= text.size()) {
    auto end = text.find_first_of("\r\n", pos);
    auto line =
        text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!first_line) out += "\r\n";
    first_line = false;
    std::size_t column = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
      // "From " at a line start gets mangled by some mailbox formats.
      if (i == 0 && line.substr(0, 5) == "From ") literal = false;
      std::string token = literal ? std::string(1, static_cast<char>(c)) : hex_byte(c);
      // Keep room for the "=" of a soft break, unless this token ends the line.
      std::size_t limit = last ? kMaxLine : kMaxLine - 1;
      if (column + token.size() > limit) {
        out += "=\r\n";
        column = 0;
      }
      out += token;
      column += token.size();
    }
    if (end == std::string_view::npos) break;
    pos = end + ((text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ? 2 : 1);
  }
  return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point at) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto secs = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string message_id(std::string_view herald_id, std::string_view domain) {
  std::string local;
  for (unsigned char c : herald_id) {
    if (is_alnum(c) || c == '_' || c == '-')
      local += static_cast<char>(c);
    else
      local += hex_byte(c);
  }
  if (local.empty()) local = "herald";
  return "<" + local + "@" + header_safe(domain) + ">";
}

std::string compose(const MessageParts& parts) {
  std::string out;
  append_header(out, "From", format_mailbox(parts.from));
  append_header(out, "To", header_safe(parts.to));
  append_header(out, "Subject", encode_unstructured("Subject", parts.subject));
  append_header(out, "Date", rfc5322_date(parts.date));
  append_header(out, "Message-ID", header_safe(parts.message_id));
  if (parts.reply_to) append_header(out, "Reply-To", format_mailbox(*parts.reply_to));
  if (!parts.unsubscribe_url.empty()) {
    // RFC 2369 / RFC 8058: the HTTPS URI takes the one-click POST; mailto is a fallback.
    std::string value = "<" + header_uri(parts.unsubscribe_url) + ">";
    if (!parts.unsubscribe_mailto.empty())
      value += ",\r\n <mailto:" + header_uri(parts.unsubscribe_mailto) + "?subject=unsubscribe>";
    append_header(out, "List-Unsubscribe", value);
    append_header(out, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
  }
  append_header(out, "X-Herald-Message-Id", header_safe(parts.herald_id));
  append_header(out, "MIME-Version", "1.0");
  if (parts.html.empty()) {
    append_part(out, "text/plain", parts.text, false);
    return out;
  }
  // "=_" never occurs in quoted-printable output, so the boundary cannot either.
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a(parts.message_id)));
  std::string boundary = std::string("=_herald_") + hash;
  append_header(out, "Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
  out += "\r\n--" + boundary + "\r\n";
  append_part(out, "text/plain", parts.text, true);
  out += "--" + boundary + "\r\n";
  append_part(out, "text/html", parts.html, true);
  out += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace herald::channels::smtp
