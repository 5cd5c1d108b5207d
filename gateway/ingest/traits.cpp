#include "gateway/ingest/traits.hpp"

#include <array>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <unordered_map>

#include <date/tz.h>
#include <phonenumbers/phonenumberutil.h>

#include "gateway/ingest/api_error.hpp"

namespace herald::ingest {
namespace {

constexpr std::size_t kMaxEmail = 254;
constexpr std::size_t kMaxEmailLocal = 64;
constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxPhoneInput = 64;
constexpr std::size_t kMaxZoneName = 64;
constexpr std::size_t kMaxLocale = 128;

bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_ascii_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_ascii_alnum(char c) {
  return is_ascii_alpha(c) || is_ascii_digit(c);
}
bool is_utf8_byte(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}
char upper(char c) {
  return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
}

std::string_view trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool is_atext(char c) {
  if (is_ascii_alnum(c) || is_utf8_byte(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

bool valid_local_part(std::string_view local) {
  if (local.empty() || local.size() > kMaxEmailLocal) return false;
  if (local.front() == '.' || local.back() == '.') return false;
  char previous = 0;
  for (const char c : local) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    previous = c;
  }
  return true;
}

bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxDomain) return false;
  std::size_t labels = 0;
  std::string_view last_label;
  while (true) {
    const auto dot = domain.find('.');
    const std::string_view label = domain.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      if (!is_ascii_alnum(c) && c != '-' && !is_utf8_byte(c)) return false;
    }
    ++labels;
    last_label = label;
    if (dot == std::string_view::npos) break;
    domain.remove_prefix(dot + 1);
  }
  bool numeric_tld = true;
  for (const char c : last_label) numeric_tld = numeric_tld && is_ascii_digit(c);
  return labels >= 2 && !numeric_tld;
}

bool all_of(std::string_view text, bool (*predicate)(char)) {
  for (const char c : text) {
    if (!predicate(c)) return false;
  }
  return true;
}

bool read_number(std::string_view text, int& value) {
  value = 0;
  for (const char c : text) {
    if (!is_ascii_digit(c)) return false;
    value = value * 10 + (c - '0');
  }
  return !text.empty();
}

}  // namespace

KnownTrait known_trait(std::string_view name) {
  if (name == "email") return KnownTrait::kEmail;
  if (name == "phone") return KnownTrait::kPhone;
  if (name == "whatsapp") return KnownTrait::kWhatsapp;
  if (name == "timezone") return KnownTrait::kTimezone;
  if (name == "locale") return KnownTrait::kLocale;
  if (name == "birthday") return KnownTrait::kBirthday;
  return KnownTrait::kNone;
}

std::optional<std::string> normalize_email(std::string_view text) {
  text = trim(text);
  if (text.size() > kMaxEmail) return std::nullopt;
  const auto at = text.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (!valid_local_part(local) || !valid_domain(domain)) return std::nullopt;
  std::string normalized(text);
  for (std::size_t i = at + 1; i < normalized.size(); ++i) normalized[i] = lower(normalized[i]);
  return normalized;
}

namespace {

std::optional<std::string> parse_phone(std::string_view text, std::string_view default_region) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(text), std::string(default_region), &number) !=
          PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(number)) {
    return std::nullopt;
  }
  std::string formatted;
  util.Format(number, PhoneNumberUtil::E164, &formatted);
  return formatted;
}

// libphonenumber (ICU regular expressions) takes ~100 µs a number, and the same customers' numbers
// come back in event after event (context.traits on every track call). Each thread remembers its
// recent answers in two generations: when the young one fills up it becomes the old one.
class PhoneCache {
 public:
  std::optional<std::string> normalize(std::string_view text, std::string_view region) {
    key_.assign(region);
    key_.push_back('\0');
    key_.append(text);
    if (const auto found = young_.find(key_); found != young_.end()) return found->second;
    std::optional<std::string> result;
    if (const auto found = old_.find(key_); found != old_.end()) {
      result = found->second;
    } else {
      result = parse_phone(text, region);
    }
    if (young_.size() >= kGeneration) {
      old_ = std::move(young_);
      young_.clear();
    }
    young_.emplace(key_, result);
    return result;
  }

 private:
  static constexpr std::size_t kGeneration = 4096;
  std::unordered_map<std::string, std::optional<std::string>> young_;
  std::unordered_map<std::string, std::optional<std::string>> old_;
  std::string key_;
};

}  // namespace

std::optional<std::string> normalize_phone(std::string_view text, std::string_view default_region) {
  text = trim(text);
  if (text.empty() || text.size() > kMaxPhoneInput) return std::nullopt;
  thread_local PhoneCache cache;
  return cache.normalize(text, default_region);
}

bool is_known_phone_region(std::string_view region) {
  using i18n::phonenumbers::PhoneNumberUtil;
  return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(std::string(region)) != 0;
}

std::optional<std::string> normalize_timezone(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > kMaxZoneName) return std::nullopt;
  const auto& tzdb = date::get_tzdb();
  try {
    return std::string(date::locate_zone(text)->name());
  } catch (const std::runtime_error&) {
  }
  // A name in the wrong case: find its canonical spelling.
  const auto same = [&](std::string_view name) {
    if (name.size() != text.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (lower(name[i]) != lower(text[i])) return false;
    }
    return true;
  };
  for (const auto& zone : tzdb.zones) {
    if (same(zone.name())) return std::string(zone.name());
  }
#if !USE_OS_TZDB
  for (const auto& link : tzdb.links) {
    if (same(link.name())) return std::string(link.name());
  }
#endif
  return std::nullopt;
}

std::optional<std::string> normalize_locale(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > kMaxLocale) return std::nullopt;
  // Split into lower-cased subtags of 1 to 8 letters or digits.
  std::vector<std::string> tags;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = begin;
    while (end < text.size() && text[end] != '-' && text[end] != '_') ++end;
    const std::string_view tag = text.substr(begin, end - begin);
    if (tag.empty() || tag.size() > 8 || !all_of(tag, is_ascii_alnum)) return std::nullopt;
    std::string& subtag = tags.emplace_back();
    for (const char c : tag) subtag.push_back(lower(c));
    begin = end + 1;
  }
  const std::size_t n = tags.size();
  const auto alpha = [&](std::size_t i) { return all_of(tags[i], is_ascii_alpha); };
  const auto digits = [&](std::size_t i) { return all_of(tags[i], is_ascii_digit); };
  std::size_t i = 0;
  if (tags[0] != "x") {
    // language, up to three extlangs, script, region, variants, extensions
    if (!alpha(0) || tags[0].size() < 2) return std::nullopt;  // no irregular tags (i-klingon)
    i = 1;
    if (tags[0].size() <= 3) {
      for (int extlangs = 0; extlangs < 3 && i < n && tags[i].size() == 3 && alpha(i); ++extlangs) {
        ++i;
      }
    }
    if (i < n && tags[i].size() == 4 && alpha(i)) {
      tags[i][0] = upper(tags[i][0]);
      ++i;
    }
    if (i < n && ((tags[i].size() == 2 && alpha(i)) || (tags[i].size() == 3 && digits(i)))) {
      for (char& c : tags[i]) c = upper(c);
      ++i;
    }
    for (std::size_t first_variant = i;
         i < n && (tags[i].size() >= 5 || (tags[i].size() == 4 && is_ascii_digit(tags[i][0])));
         ++i) {
      for (std::size_t j = first_variant; j < i; ++j) {
        if (tags[j] == tags[i]) return std::nullopt;
      }
    }
    std::array<bool, 36> singletons{};
    while (i < n && tags[i].size() == 1 && tags[i] != "x") {
      const char c = tags[i][0];
      const std::size_t slot = is_ascii_digit(c) ? std::size_t(c - '0') : std::size_t(c - 'a' + 10);
      if (singletons[slot]) return std::nullopt;
      singletons[slot] = true;
      const std::size_t first = ++i;
      while (i < n && tags[i].size() >= 2) ++i;
      if (i == first) return std::nullopt;
    }
  }
  if (i < n && tags[i] == "x") {
    if (++i == n) return std::nullopt;
    i = n;  // private-use subtags: any 1 to 8 letters or digits
  }
  if (i != n) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (const auto& tag : tags) {
    if (!out.empty()) out.push_back('-');
    out += tag;
  }
  return out;
}

std::optional<std::string> normalize_birthday(std::string_view text) {
  using namespace std::chrono;
  text = trim(text);
  int year = 0, month = 0, day = 0;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    if (!read_number(text.substr(0, 4), year) || year < 1) return std::nullopt;
  } else if (text.size() == 7 && text.substr(0, 2) == "--" && text[4] == '-') {
    year = 2000;  // a leap year: --02-29 is someone's birthday
  } else {
    return std::nullopt;
  }
  const std::size_t at = text.size() - 5;
  if (!read_number(text.substr(at, 2), month) || !read_number(text.substr(at + 3, 2), day)) {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                            std::chrono::day{unsigned(day)}};
  if (!date.ok()) return std::nullopt;
  return std::string(text);
}

std::optional<std::string> normalize_trait_string(KnownTrait kind, std::string_view text,
                                                  const TraitOptions& options) {
  switch (kind) {
    case KnownTrait::kEmail:
      return normalize_email(text);
    case KnownTrait::kPhone:
    case KnownTrait::kWhatsapp:
      return normalize_phone(text, options.default_region);
    case KnownTrait::kTimezone:
      return normalize_timezone(text);
    case KnownTrait::kLocale:
      return normalize_locale(text);
    case KnownTrait::kBirthday:
      return normalize_birthday(text);
    case KnownTrait::kNone:
      return std::string(text);
  }
  return std::nullopt;
}

std::string_view trait_error_message(KnownTrait kind) {
  switch (kind) {
    case KnownTrait::kEmail:
      return "not a valid email address";
    case KnownTrait::kPhone:
    case KnownTrait::kWhatsapp:
      return "not a valid phone number";
    case KnownTrait::kTimezone:
      return "not an IANA time zone name";
    case KnownTrait::kLocale:
      return "not a BCP 47 language tag";
    case KnownTrait::kBirthday:
      return "not a date written YYYY-MM-DD or --MM-DD";
    case KnownTrait::kNone:
      break;
  }
  return "invalid";
}

TraitResult normalize_trait(KnownTrait kind, const nlohmann::ordered_json& value,
                            const TraitOptions& options) {
  if (kind == KnownTrait::kNone || value.is_null()) return {value, {}};
  std::string text;
  if (value.is_string()) {
    text = value.get_ref<const std::string&>();
    if (trim(text).empty()) return {nullptr, {}};
  } else if ((kind == KnownTrait::kPhone || kind == KnownTrait::kWhatsapp) &&
             value.is_number_unsigned()) {
    text = std::to_string(value.get<std::uint64_t>());
  } else {
    return {nullptr, "must be a string"};
  }
  auto normalized = normalize_trait_string(kind, text, options);
  if (!normalized) return {nullptr, std::string(trait_error_message(kind))};
  return {std::move(*normalized), {}};
}

nlohmann::ordered_json normalize_traits(const nlohmann::ordered_json& traits,
                                        const TraitOptions& options,
                                        std::string_view field_prefix) {
  if (!traits.is_object()) {
    throw ApiError(400, "invalid_event", std::string(field_prefix) + ": must be an object",
                   std::string(field_prefix));
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::vector<ErrorDetail> problems;
  for (const auto& [name, value] : traits.items()) {
    auto result = normalize_trait(known_trait(name), value, options);
    if (!result.error.empty()) {
      std::string field = std::string(field_prefix) + "." + name;
      problems.push_back({field, field + ": " + result.error, "invalid_trait"});
      continue;
    }
    out[name] = std::move(result.value);
  }
  if (!problems.empty()) {
    ErrorDetail first = problems.front();
    throw ApiError(400, "invalid_trait", first.message, first.field, std::move(problems));
  }
  return out;
}

std::vector<ChannelAddress> channel_addresses(const nlohmann::ordered_json& traits) {
  std::vector<ChannelAddress> out;
  if (!traits.is_object()) return out;
  const auto text = [&](const char* name) -> std::string {
    const auto found = traits.find(name);
    if (found == traits.end() || !found->is_string()) return {};
    return found->get<std::string>();
  };
  const std::string email = text("email");
  const std::string phone = text("phone");
  const std::string whatsapp = text("whatsapp");
  const std::string wechat = text("wechat_openid");
  const std::string psid = text("messenger_psid");
  if (!email.empty()) out.push_back({"email", email});
  if (!phone.empty()) out.push_back({"sms", phone});
  if (!whatsapp.empty()) {
    out.push_back({"whatsapp", whatsapp});
  } else if (!phone.empty()) {
    out.push_back({"whatsapp", phone});
  }
  if (!wechat.empty()) out.push_back({"wechat", wechat});
  if (!psid.empty()) out.push_back({"social", psid});
  return out;
}

}  // namespace herald::ingest
