#include "channels/webhooks.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

namespace herald::channels::webhooks {

using Json = nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------
// Bytes, hex, base64, digests

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0x0f]);
  }
  return out;
}

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                          static_cast<int>(size));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

/// HMAC with `md`; false when OpenSSL fails (it does not for these digests).
bool hmac(const EVP_MD* md, std::string_view key, std::string_view data,
          std::array<unsigned char, EVP_MAX_MD_SIZE>& out, unsigned int& out_size) {
  static const unsigned char empty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&empty) : key.data();
  const unsigned char* data_ptr =
      data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
  return HMAC(md, key_ptr, static_cast<int>(key.size()), data_ptr, data.size(), out.data(),
              &out_size) != nullptr;
}

/// Constant-time equality of two strings; only their lengths leak.
bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> seconds_to_ms(std::optional<std::int64_t> seconds) {
  constexpr std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 1000;
  if (!seconds || *seconds > limit || *seconds < -limit) return std::nullopt;
  return *seconds * 1000;
}

// ---------------------------------------------------------------------------------------
// JSON access that never throws

const Json* member(const Json* j, const char* key) {
  if (j == nullptr || !j->is_object()) return nullptr;
  auto it = j->find(key);
  return it == j->end() ? nullptr : &*it;
}

/// A string, or an integer written in decimal; empty for anything else.
std::string str(const Json* j) {
  if (j == nullptr) return {};
  if (j->is_string()) return j->get_ref<const std::string&>();
  if (j->is_number_unsigned()) return std::to_string(j->get<std::uint64_t>());
  if (j->is_number_integer()) return std::to_string(j->get<std::int64_t>());
  return {};
}

/// An integer from a JSON integer, a whole-number float or a decimal string.
std::optional<std::int64_t> to_int(const Json* j) {
  if (j == nullptr) return std::nullopt;
  if (j->is_number_unsigned()) {
    auto v = j->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (j->is_number_integer()) return j->get<std::int64_t>();
  if (j->is_number_float()) {
    double v = j->get<double>();
    if (!std::isfinite(v) || v > 9.2e18 || v < -9.2e18) return std::nullopt;
    return static_cast<std::int64_t>(v);
  }
  if (j->is_string()) return parse_int(j->get_ref<const std::string&>());
  return std::nullopt;
}

bool is_true(const Json* j) { return j != nullptr && j->is_boolean() && j->get<bool>(); }

const Json* array_member(const Json* j, const char* key) {
  const Json* a = member(j, key);
  return a != nullptr && a->is_array() ? a : nullptr;
}

std::string with_plus(std::string number) {
  if (!number.empty() && number.front() != '+') number.insert(number.begin(), '+');
  return number;
}

/// Parses without exceptions; nullopt-like discarded value on invalid JSON.
Json parse_json(std::string_view raw) {
  return Json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
}

// ---------------------------------------------------------------------------------------
// URLs for Twilio's port variants

/// The URL with the scheme's default port added (when it has none) or any port removed
/// (when it has one), as Twilio's validators do; nullopt when the URL is not http(s).
std::optional<std::string> other_port_variant(std::string_view url) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string scheme = lower(url.substr(0, sep));
  const char* default_port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nullptr;
  if (default_port == nullptr) return std::nullopt;
  std::size_t auth_begin = sep + 3;
  std::size_t auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::string_view authority = url.substr(auth_begin, auth_end - auth_begin);
  std::size_t at = authority.rfind('@');
  std::size_t host_begin = at == std::string_view::npos ? 0 : at + 1;
  std::string_view host = authority.substr(host_begin);
  if (host.empty()) return std::nullopt;
  std::size_t colon = std::string_view::npos;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    if (close + 1 < host.size() && host[close + 1] == ':') colon = close + 1;
  } else {
    colon = host.rfind(':');
  }
  std::string out(url);
  if (colon == std::string_view::npos) {
    out.insert(auth_end, default_port);
  } else {
    std::size_t port_begin = auth_begin + host_begin + colon;
    out.erase(port_begin, auth_end - port_begin);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// WeChat XML

constexpr std::size_t kMaxXml = 1 << 20;
constexpr int kMaxXmlDepth = 32;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// Text between tags with its entities decoded; an unknown or invalid reference is kept
/// as written.
std::string decode_entities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    std::size_t semi = text.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) {
      out.push_back(c);
      ++i;
      continue;
    }
    std::string_view ref = text.substr(i + 1, semi - i - 1);
    bool done = true;
    if (ref == "lt") out.push_back('<');
    else if (ref == "gt") out.push_back('>');
    else if (ref == "amp") out.push_back('&');
    else if (ref == "quot") out.push_back('"');
    else if (ref == "apos") out.push_back('\'');
    else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x' || ref[1] == 'X';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        done = false;
      else
        append_utf8(out, cp);
    } else {
      done = false;
    }
    if (done) {
      i = semi + 1;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

class XmlReader {
 public:
  explicit XmlReader(std::string_view s) : s_(s) {}

  /// Fills `fields` with the leaf children of the root; the root's name in `root`.
  bool parse(std::string& root, std::map<std::string, std::string>& fields) {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 byte order mark
    if (!skip_misc()) return false;
    if (pos_ >= s_.size() || s_[pos_] != '<') return fail("expected the root element");
    bool self_closing = false;
    if (!read_start_tag(root, self_closing)) return false;
    if (!self_closing && !read_content(root, 0, nullptr, nullptr, &fields)) return false;
    if (!skip_misc()) return false;
    if (pos_ != s_.size()) return fail("content after the root element");
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message) + " at byte " + std::to_string(pos_);
    return false;
  }

  bool starts_with(std::string_view prefix) const {
    return s_.size() - pos_ >= prefix.size() && s_.compare(pos_, prefix.size(), prefix) == 0;
  }

  bool skip_past(std::string_view terminator, const char* what) {
    auto end = s_.find(terminator, pos_);
    if (end == std::string_view::npos) return fail(std::string("unterminated ") + what);
    pos_ = end + terminator.size();
    return true;
  }

  /// Whitespace, the XML declaration, processing instructions and comments.
  bool skip_misc() {
    for (;;) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
      if (starts_with("<?")) {
        if (!skip_past("?>", "processing instruction")) return false;
      } else if (starts_with("<!--")) {
        if (!skip_past("-->", "comment")) return false;
      } else if (starts_with("<!")) {
        return fail("DOCTYPE and declarations are not accepted");
      } else {
        return true;
      }
    }
  }

  static bool name_char(char c) {
    return !is_space(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' &&
           c != '\'' && c != '&' && c != '!' && c != '?';
  }

  bool read_name(std::string& name) {
    std::size_t begin = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    if (pos_ == begin) return fail("expected a name");
    name.assign(s_.substr(begin, pos_ - begin));
    return true;
  }

  /// `<name attr="...">` or `<name/>`, positioned on the `<`.
  bool read_start_tag(std::string& name, bool& self_closing) {
    ++pos_;  // '<'
    if (!read_name(name)) return false;
    for (;;) {
      if (pos_ >= s_.size()) return fail("unterminated tag <" + name + ">");
      char c = s_[pos_];
      if (c == '>') {
        ++pos_;
        self_closing = false;
        return true;
      }
      if (c == '/' && starts_with("/>")) {
        pos_ += 2;
        self_closing = true;
        return true;
      }
      if (c == '"' || c == '\'') {
        auto close = s_.find(c, pos_ + 1);
        if (close == std::string_view::npos) return fail("unterminated attribute value");
        pos_ = close + 1;
        continue;
      }
      if (c == '<') return fail("'<' inside tag <" + name + ">");
      ++pos_;
    }
  }

  /// The content of `name` up to and including its end tag. `value` (for the root's
  /// children) receives the text: CDATA sections and text, whitespace-only text left
  /// out when there is CDATA. `leaf` is cleared when a child element is met. `fields`
  /// (for the root) receives the leaf children.
  bool read_content(const std::string& name, int depth, std::string* value, bool* leaf,
                    std::map<std::string, std::string>* fields) {
    std::string all, without_blank;
    bool had_cdata = false;
    for (;;) {
      if (pos_ >= s_.size()) return fail("unterminated element <" + name + ">");
      if (starts_with("<![CDATA[")) {
        pos_ += 9;
        auto end = s_.find("]]>", pos_);
        if (end == std::string_view::npos) return fail("unterminated CDATA section");
        if (value != nullptr) {
          all.append(s_.substr(pos_, end - pos_));
          without_blank.append(s_.substr(pos_, end - pos_));
        }
        had_cdata = true;
        pos_ = end + 3;
      } else if (starts_with("<!--")) {
        if (!skip_past("-->", "comment")) return false;
      } else if (starts_with("<?")) {
        if (!skip_past("?>", "processing instruction")) return false;
      } else if (starts_with("</")) {
        pos_ += 2;
        std::string close;
        if (!read_name(close)) return false;
        while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
        if (pos_ >= s_.size() || s_[pos_] != '>') return fail("malformed end tag </" + close);
        ++pos_;
        if (close != name) return fail("</" + close + "> closes <" + name + ">");
        if (value != nullptr) *value = had_cdata ? std::move(without_blank) : std::move(all);
        return true;
      } else if (starts_with("<!")) {
        return fail("unexpected declaration");
      } else if (s_[pos_] == '<') {
        if (depth + 1 > kMaxXmlDepth) return fail("elements nested too deeply");
        if (leaf != nullptr) *leaf = false;
        std::string child;
        bool self_closing = false;
        if (!read_start_tag(child, self_closing)) return false;
        std::string child_value;
        bool child_leaf = true;
        bool capture = fields != nullptr;  // only the root's children are kept
        if (!self_closing &&
            !read_content(child, depth + 1, capture ? &child_value : nullptr, &child_leaf,
                          nullptr))
          return false;
        if (capture && child_leaf) fields->emplace(child, std::move(child_value));
      } else {
        auto end = s_.find('<', pos_);
        if (end == std::string_view::npos) end = s_.size();
        std::string_view text = s_.substr(pos_, end - pos_);
        pos_ = end;
        if (value != nullptr) {
          std::string decoded = decode_entities(text);
          all.append(decoded);
          if (!trim(text).empty()) without_blank.append(decoded);
        }
      }
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::string cdata(std::string_view text) {
  std::string out = "<![CDATA[";
  std::size_t from = 0;
  for (;;) {
    auto at = text.find("]]>", from);
    if (at == std::string_view::npos) break;
    out.append(text.substr(from, at + 2 - from));  // up to and including "]]"
    out.append("]]><![CDATA[");
    from = at + 2;  // the '>' starts the next section
  }
  out.append(text.substr(from));
  out.append("]]>");
  return out;
}

/// Runs a parser, turning any exception (there should be none) into an error.
template <class F>
HookResult guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return std::string("unreadable payload: ") + e.what();
  } catch (...) {
    return std::string("unreadable payload");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Forms

std::string url_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
        u == '-' || u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(digits[u >> 4]);
      out.push_back(digits[u & 0x0f]);
    }
  }
  return out;
}

FormParams parse_form(std::string_view body) {
  FormParams params;
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      params.emplace_back(url_decode(pair), std::string());
    else
      params.emplace_back(url_decode(pair.substr(0, eq)), url_decode(pair.substr(eq + 1)));
  }
  return params;
}

const std::string* find_param(const FormParams& params, std::string_view name) {
  for (const auto& [n, v] : params)
    if (n == name) return &v;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Twilio

std::string twilio_signature(std::string_view url, const FormParams& params,
                             std::string_view auth_token) {
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return *a < *b; });
  std::string data(url);
  for (const auto* p : sorted) {
    data += p->first;
    data += p->second;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (!hmac(EVP_sha1(), auth_token, data, mac, size)) return {};
  return base64(mac.data(), size);
}

bool twilio_valid(std::string_view url, const FormParams& params, std::string_view header,
                  std::string_view auth_token) {
  header = trim(header);
  if (auth_token.empty() || header.empty()) return false;
  bool ok = false;
  // Evaluate both candidates whatever the first gives (no early exit on a match).
  std::string given = twilio_signature(url, params, auth_token);
  ok |= !given.empty() && equal_ct(given, header);
  if (auto other = other_port_variant(url)) {
    std::string variant = twilio_signature(*other, params, auth_token);
    ok |= !variant.empty() && equal_ct(variant, header);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------
// Meta

bool hub_signature_valid(std::string_view raw_body, std::string_view header,
                         std::string_view app_secret) {
  header = trim(header);
  constexpr std::string_view prefix = "sha256=";
  if (app_secret.empty() || header.size() != prefix.size() + 64 ||
      !iequals(header.substr(0, prefix.size()), prefix))
    return false;
  std::string_view hex = header.substr(prefix.size());
  std::array<unsigned char, 32> expected{};
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    expected[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (!hmac(EVP_sha256(), app_secret, raw_body, mac, size) || size != 32) return false;
  return CRYPTO_memcmp(mac.data(), expected.data(), 32) == 0;
}

std::optional<std::string> hub_challenge(const FormParams& query, std::string_view verify_token) {
  const std::string* mode = find_param(query, "hub.mode");
  const std::string* token = find_param(query, "hub.verify_token");
  const std::string* challenge = find_param(query, "hub.challenge");
  if (verify_token.empty() || mode == nullptr || token == nullptr || challenge == nullptr ||
      *mode != "subscribe")
    return std::nullopt;
  // Compare digests so that not even the token's length leaks.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token->data()), token->size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(verify_token.data()), verify_token.size(), b);
  if (CRYPTO_memcmp(a, b, sizeof a) != 0) return std::nullopt;
  return *challenge;
}

// ---------------------------------------------------------------------------------------
// SendGrid (signed event webhook)

namespace {

/// Standard base64 with padding; whitespace is skipped. nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') clean.push_back(c);
  if (clean.empty() || clean.size() % 4 != 0) return std::nullopt;
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  if (clean.back() == '=') ++padding;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

/// The EC public key of SendGrid's "verification key": base64 of a DER
/// SubjectPublicKeyInfo, with or without PEM armour.
std::unique_ptr<EVP_PKEY, PkeyFree> sendgrid_key(std::string_view public_key) {
  std::string text(trim(public_key));
  constexpr std::string_view begin = "-----BEGIN PUBLIC KEY-----";
  constexpr std::string_view end = "-----END PUBLIC KEY-----";
  if (auto b = text.find(begin); b != std::string::npos) {
    auto e = text.find(end, b);
    if (e == std::string::npos) return nullptr;
    text = text.substr(b + begin.size(), e - b - begin.size());
  }
  auto der = base64_decode(text);
  if (!der) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  std::unique_ptr<EVP_PKEY, PkeyFree> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_EC) return nullptr;
  return key;
}

}  // namespace

bool sendgrid_key_valid(std::string_view public_key) { return sendgrid_key(public_key) != nullptr; }

bool sendgrid_signature_valid(std::string_view public_key, std::string_view signature,
                              std::string_view timestamp, std::string_view raw_body) {
  timestamp = trim(timestamp);
  if (timestamp.empty()) return false;
  auto key = sendgrid_key(public_key);
  auto der = base64_decode(trim(signature));
  if (!key || !der || der->empty()) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
    return false;
  std::string signed_text;
  signed_text.reserve(timestamp.size() + raw_body.size());
  signed_text.append(timestamp).append(raw_body);
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der->data()),
                          der->size(), reinterpret_cast<const unsigned char*>(signed_text.data()),
                          signed_text.size()) == 1;
}

// ---------------------------------------------------------------------------------------
// WeChat

bool wechat_signature_valid(std::string_view token, std::string_view timestamp,
                            std::string_view nonce, std::string_view signature) {
  signature = trim(signature);
  if (token.empty() || signature.size() != 2 * SHA_DIGEST_LENGTH) return false;
  std::array<std::string_view, 3> parts{token, timestamp, nonce};
  std::sort(parts.begin(), parts.end());
  std::string joined;
  for (auto p : parts) joined.append(p);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  return equal_ct(to_hex(digest, sizeof digest), lower(signature));
}

std::variant<WechatInbound, std::string> parse_wechat_xml(std::string_view xml) {
  try {
    if (xml.size() > kMaxXml) return std::string("XML larger than 1 MiB");
    XmlReader reader(xml);
    std::string root;
    std::map<std::string, std::string> fields;
    if (!reader.parse(root, fields)) return "malformed XML: " + reader.error();
    if (root != "xml") return "unexpected root element <" + root + ">";
    auto get = [&](const char* name) -> std::string {
      auto it = fields.find(name);
      return it == fields.end() ? std::string() : it->second;
    };
    WechatInbound m;
    m.to_user_name = get("ToUserName");
    m.from_user_name = get("FromUserName");
    m.msg_type = get("MsgType");
    if (m.to_user_name.empty() || m.from_user_name.empty() || m.msg_type.empty())
      return std::string("missing ToUserName, FromUserName or MsgType");
    if (fields.count("CreateTime") != 0) m.create_time = parse_int(get("CreateTime"));
    m.content = get("Content");
    m.msg_id = std::string(trim(get("MsgId")));
    if (m.msg_id.empty()) m.msg_id = std::string(trim(get("MsgID")));
    m.event = get("Event");
    m.status = get("Status");
    m.pic_url = get("PicUrl");
    return m;
  } catch (const std::exception& e) {
    return std::string("unreadable XML: ") + e.what();
  }
}

std::string wechat_text_reply(std::string_view to, std::string_view from,
                              std::string_view content, std::int64_t unix_seconds) {
  std::string out = "<xml><ToUserName>";
  out += cdata(to);
  out += "</ToUserName><FromUserName>";
  out += cdata(from);
  out += "</FromUserName><CreateTime>";
  out += std::to_string(unix_seconds);
  out += "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>";
  out += cdata(content);
  out += "</Content></xml>";
  return out;
}

// ---------------------------------------------------------------------------------------
// Payload parsers

HookResult parse_twilio(const FormParams& params) {
  return guarded([&]() -> HookResult {
    auto get = [&](std::string_view name) -> const std::string* {
      return find_param(params, name);
    };
    const std::string* sid = get("MessageSid");
    if (sid == nullptr || sid->empty()) sid = get("SmsMessageSid");
    if (sid == nullptr || sid->empty()) sid = get("SmsSid");
    if (sid == nullptr || sid->empty()) return std::string("no MessageSid");
    const std::string* status = get("MessageStatus");
    if (status == nullptr) status = get("SmsStatus");
    std::string st = status != nullptr ? lower(*status) : std::string();
    auto value = [&](std::string_view name) {
      const std::string* v = get(name);
      return v != nullptr ? *v : std::string();
    };

    ParsedHook hook;
    bool incoming = st.empty() || st == "received" || st == "receiving";
    if (incoming && (get("Body") != nullptr || get("NumMedia") != nullptr)) {
      InboundMessage m;
      m.provider_message_id = *sid;
      m.from = value("From");
      m.to = value("To");
      m.text = value("Body");
      m.profile_name = value("ProfileName");
      std::vector<std::pair<std::int64_t, std::string>> media;
      for (const auto& [name, v] : params) {
        std::string_view n = name;
        if (n.size() <= 8 || n.size() > 12 || n.substr(0, 8) != "MediaUrl" || v.empty()) continue;
        std::string_view digits = n.substr(8);
        if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
          continue;
        if (auto index = parse_int(digits)) media.emplace_back(*index, v);
      }
      std::stable_sort(media.begin(), media.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [i, url] : media) m.media_urls.push_back(std::move(url));
      hook.inbound.push_back(std::move(m));
      return hook;
    }
    if (st.empty()) return std::string("neither a status callback nor an inbound message");

    StatusUpdate u;
    if (st == "sent" || st == "delivered" || st == "read") {
      u.status = st;
    } else if (st == "failed" || st == "undelivered" || st == "canceled") {
      u.status = "failed";
    } else {
      return hook;  // queued, accepted, scheduled, sending, and statuses yet unknown
    }
    u.provider_message_id = *sid;
    u.recipient = value("To");
    u.error_code = value("ErrorCode");
    u.error_message = value("ErrorMessage");
    if (u.status == "failed" && u.error_message.empty() && st != "failed") u.error_message = st;
    hook.statuses.push_back(std::move(u));
    return hook;
  });
}

HookResult parse_whatsapp(std::string_view raw_json) {
  return guarded([&]() -> HookResult {
    Json root = parse_json(raw_json);
    if (root.is_discarded()) return std::string("invalid JSON");
    if (!root.is_object()) return std::string("the payload is not a JSON object");
    if (const Json* object = member(&root, "object");
        object != nullptr && str(object) != "whatsapp_business_account")
      return std::string("not a whatsapp_business_account payload");
    const Json* entries = array_member(&root, "entry");
    if (entries == nullptr) return std::string("no entry array");

    ParsedHook hook;
    for (const Json& entry : *entries) {
      const Json* changes = array_member(&entry, "changes");
      if (changes == nullptr) continue;
      for (const Json& change : *changes) {
        const Json* field = member(&change, "field");
        if (field != nullptr && field->is_string() && str(field) != "messages") continue;
        const Json* value = member(&change, "value");
        if (value == nullptr || !value->is_object()) continue;
        std::string phone_number_id = str(member(member(value, "metadata"), "phone_number_id"));
        const Json* contacts = array_member(value, "contacts");

        if (const Json* messages = array_member(value, "messages")) {
          for (const Json& msg : *messages) {
            InboundMessage m;
            m.provider_message_id = str(member(&msg, "id"));
            if (m.provider_message_id.empty()) continue;
            std::string wa_id = str(member(&msg, "from"));
            m.from = with_plus(wa_id);
            m.to = phone_number_id;
            m.at_unix_ms = seconds_to_ms(to_int(member(&msg, "timestamp")));
            std::string type = str(member(&msg, "type"));
            const Json* body = type.empty() ? nullptr : member(&msg, type.c_str());
            if (type == "text") {
              m.text = str(member(body, "body"));
            } else if (type == "button") {
              m.text = str(member(body, "text"));
            } else if (type == "interactive") {
              m.text = str(member(member(body, "button_reply"), "title"));
              if (m.text.empty()) m.text = str(member(member(body, "list_reply"), "title"));
            }
            if (m.text.empty() && type != "text") {
              m.text = "[" + (type.empty() ? std::string("unknown") : type) + "]";
              std::string caption = str(member(body, "caption"));
              if (!caption.empty()) m.text += " " + caption;
            }
            if (contacts != nullptr) {
              for (const Json& contact : *contacts) {
                if (str(member(&contact, "wa_id")) == wa_id || contacts->size() == 1) {
                  m.profile_name = str(member(member(&contact, "profile"), "name"));
                  break;
                }
              }
            }
            hook.inbound.push_back(std::move(m));
          }
        }

        if (const Json* statuses = array_member(value, "statuses")) {
          for (const Json& s : *statuses) {
            StatusUpdate u;
            u.provider_message_id = str(member(&s, "id"));
            u.status = lower(str(member(&s, "status")));
            if (u.provider_message_id.empty() ||
                (u.status != "sent" && u.status != "delivered" && u.status != "read" &&
                 u.status != "failed"))
              continue;
            u.at_unix_ms = seconds_to_ms(to_int(member(&s, "timestamp")));
            u.recipient = with_plus(str(member(&s, "recipient_id")));
            if (const Json* errors = array_member(&s, "errors"); errors && !errors->empty()) {
              const Json& first = (*errors)[0];
              u.error_code = str(member(&first, "code"));
              u.error_message = str(member(&first, "title"));
              if (u.error_message.empty()) u.error_message = str(member(&first, "message"));
            }
            hook.statuses.push_back(std::move(u));
          }
        }
      }
    }
    return hook;
  });
}

HookResult parse_messenger(std::string_view raw_json) {
  return guarded([&]() -> HookResult {
    Json root = parse_json(raw_json);
    if (root.is_discarded()) return std::string("invalid JSON");
    if (!root.is_object()) return std::string("the payload is not a JSON object");
    if (const Json* object = member(&root, "object")) {
      std::string o = str(object);
      if (o != "page" && o != "instagram") return std::string("not a page payload");
    }
    const Json* entries = array_member(&root, "entry");
    if (entries == nullptr) return std::string("no entry array");

    ParsedHook hook;
    for (const Json& entry : *entries) {
      const Json* events = array_member(&entry, "messaging");
      if (events == nullptr) continue;  // standby (handover protocol) and others
      for (const Json& ev : *events) {
        std::string sender = str(member(member(&ev, "sender"), "id"));
        std::string recipient = str(member(member(&ev, "recipient"), "id"));
        std::optional<std::int64_t> at = to_int(member(&ev, "timestamp"));

        const Json* message = member(&ev, "message");
        const Json* postback = member(&ev, "postback");
        const Json* delivery = member(&ev, "delivery");
        const Json* read = member(&ev, "read");
        if (message != nullptr && message->is_object()) {
          if (is_true(member(message, "is_echo"))) continue;  // our own outbound message
          InboundMessage m;
          m.provider_message_id = str(member(message, "mid"));
          if (m.provider_message_id.empty()) continue;
          m.from = sender;
          m.to = recipient;
          m.at_unix_ms = at;
          m.text = str(member(message, "text"));
          std::string first_type;
          if (const Json* attachments = array_member(message, "attachments")) {
            for (const Json& a : *attachments) {
              if (first_type.empty()) first_type = str(member(&a, "type"));
              std::string url = str(member(member(&a, "payload"), "url"));
              if (!url.empty()) m.media_urls.push_back(std::move(url));
            }
            if (m.text.empty())
              m.text = "[" + (first_type.empty() ? std::string("attachment") : first_type) + "]";
          }
          hook.inbound.push_back(std::move(m));
        } else if (postback != nullptr && postback->is_object()) {
          InboundMessage m;
          m.provider_message_id = str(member(postback, "mid"));
          if (m.provider_message_id.empty()) continue;
          m.from = sender;
          m.to = recipient;
          m.at_unix_ms = at;
          m.text = str(member(postback, "title"));
          if (m.text.empty()) m.text = str(member(postback, "payload"));
          hook.inbound.push_back(std::move(m));
        } else if (delivery != nullptr && delivery->is_object()) {
          std::optional<std::int64_t> watermark = to_int(member(delivery, "watermark"));
          bool any = false;
          if (const Json* mids = array_member(delivery, "mids")) {
            for (const Json& mid : *mids) {
              std::string id = str(&mid);
              if (id.empty()) continue;
              StatusUpdate u;
              u.provider_message_id = std::move(id);
              u.status = "delivered";
              u.at_unix_ms = watermark ? watermark : at;
              u.recipient = sender;
              hook.statuses.push_back(std::move(u));
              any = true;
            }
          }
          if (!any && watermark) {
            StatusUpdate u;
            u.status = "delivered";
            u.at_unix_ms = watermark;
            u.recipient = sender;
            hook.statuses.push_back(std::move(u));
          }
        } else if (read != nullptr && read->is_object()) {
          std::optional<std::int64_t> watermark = to_int(member(read, "watermark"));
          if (!watermark) continue;
          StatusUpdate u;
          u.status = "read";
          u.at_unix_ms = watermark;
          u.recipient = sender;
          hook.statuses.push_back(std::move(u));
        }
      }
    }
    return hook;
  });
}

ParsedHook parse_wechat(const WechatInbound& message) {
  ParsedHook hook;
  std::optional<std::int64_t> at = seconds_to_ms(message.create_time);
  if (iequals(message.msg_type, "event")) {
    if (iequals(message.event, "unsubscribe")) {
      StatusUpdate u;
      u.status = "unsubscribed";
      u.opt_out = true;
      u.recipient = message.from_user_name;
      u.at_unix_ms = at;
      hook.statuses.push_back(std::move(u));
    } else if (iequals(message.event, "TEMPLATESENDJOBFINISH") && !message.msg_id.empty()) {
      StatusUpdate u;
      u.provider_message_id = message.msg_id;
      if (iequals(message.status, "success")) {
        u.status = "delivered";
      } else {
        u.status = "failed";
        u.error_message = message.status;
      }
      u.recipient = message.from_user_name;
      u.at_unix_ms = at;
      hook.statuses.push_back(std::move(u));
    }
    return hook;
  }
  InboundMessage m;
  m.provider_message_id = message.msg_id;
  m.from = message.from_user_name;
  m.to = message.to_user_name;
  m.at_unix_ms = at;
  if (message.msg_type == "text") {
    m.text = message.content;
  } else {
    m.text = "[" + message.msg_type + "]";
    if (!message.pic_url.empty()) m.media_urls.push_back(message.pic_url);
  }
  hook.inbound.push_back(std::move(m));
  return hook;
}

HookResult parse_sendgrid(std::string_view raw_json) {
  return guarded([&]() -> HookResult {
    Json root = parse_json(raw_json);
    if (root.is_discarded()) return std::string("invalid JSON");
    if (!root.is_array()) return std::string("the payload is not a JSON array");
    ParsedHook hook;
    for (const Json& ev : root) {
      if (!ev.is_object()) continue;
      std::string event = lower(str(member(&ev, "event")));
      StatusUpdate u;
      if (event == "delivered") {
        u.status = "delivered";
      } else if (event == "open" || event == "click") {
        u.status = "read";
      } else if (event == "bounce" || event == "dropped") {
        u.status = "failed";
        u.error_code = str(member(&ev, "status"));
        u.error_message = str(member(&ev, "reason"));
        if (u.error_message.empty()) u.error_message = str(member(&ev, "type"));
        if (u.error_message.empty()) u.error_message = event;
        // A bounce of type "blocked" is temporary (the receiving server refused this
        // time); any other bounce means the address does not take mail.
        if (event == "bounce" && lower(str(member(&ev, "type"))) != "blocked")
          u.suppress = "hard_bounce";
      } else if (event == "spamreport") {
        u.status = "complained";
        u.opt_out = true;
        u.suppress = "spam_complaint";
      } else if (event == "unsubscribe" || event == "group_unsubscribe") {
        u.status = "unsubscribed";
        u.opt_out = true;
      } else {
        continue;  // processed, deferred, group_resubscribe, and future events
      }
      std::string id = str(member(&ev, "sg_message_id"));
      u.provider_message_id = id.substr(0, id.find('.'));
      if (u.provider_message_id.empty() && !u.opt_out && u.suppress.empty()) continue;
      u.recipient = str(member(&ev, "email"));
      u.at_unix_ms = seconds_to_ms(to_int(member(&ev, "timestamp")));
      hook.statuses.push_back(std::move(u));
    }
    return hook;
  });
}

// ---------------------------------------------------------------------------------------
// Status ordering

int status_rank(std::string_view status) {
  if (status == "queued") return 0;
  if (status == "deferred") return 1;
  if (status == "sending") return 2;
  if (status == "sent" || status == "failed" || status == "suppressed") return 3;
  if (status == "delivered") return 4;
  if (status == "read") return 5;
  return -1;
}

bool status_moves_forward(std::string_view current, std::string_view next) {
  int next_rank = status_rank(next);
  if (next_rank < 0 || next == current) return false;
  if (current == "read" || current == "suppressed") return false;
  int current_rank = status_rank(current);
  if (current_rank < 0) return true;
  auto failure = [](std::string_view s) { return s == "failed" || s == "suppressed"; };
  if (failure(next)) return !failure(current) && current_rank <= 3;
  return next_rank > current_rank;
}

}  // namespace herald::channels::webhooks
