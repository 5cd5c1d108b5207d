#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald::ingest {

/// Traits with a validated, normalised form. Every other trait is stored as given.
enum class KnownTrait { kNone, kEmail, kPhone, kWhatsapp, kTimezone, kLocale, kBirthday };

KnownTrait known_trait(std::string_view name);

/// `Local@Example.COM` → `Local@example.com`. Surrounding white space is dropped; the local part
/// keeps its case (RFC 5321). Accepts dot-atom local parts and host names with at least two labels
/// (UTF-8 allowed in both, for internationalised addresses); rejects quoted local parts, domain
/// literals and anything over 254 bytes.
std::optional<std::string> normalize_email(std::string_view text);

/// E.164 (`+14155552671`). A national number is read as one of `default_region` (ISO 3166
/// alpha-2, e.g. "US"). The number must be valid for its region, per libphonenumber's metadata.
std::optional<std::string> normalize_phone(std::string_view text, std::string_view default_region);

/// True when libphonenumber knows `region` (for checking `policies.default_region` at start-up).
bool is_known_phone_region(std::string_view region);

/// An IANA time-zone name, in its canonical spelling (`europe/paris` → `Europe/Paris`).
std::optional<std::string> normalize_timezone(std::string_view text);

/// A BCP 47 language tag (RFC 5646 syntax; `_` is read as `-`), with its subtags in their
/// conventional case: `FR-ca` → `fr-CA`, `zh-hant-tw` → `zh-Hant-TW`.
std::optional<std::string> normalize_locale(std::string_view text);

/// `YYYY-MM-DD` or `--MM-DD` (no year), a real calendar date; `--02-29` is valid.
std::optional<std::string> normalize_birthday(std::string_view text);

/// Options for trait validation.
struct TraitOptions {
  std::string default_region = "US";  // policies.default_region
};

/// The normalised form of a known trait given as a string, or nullopt when invalid.
std::optional<std::string> normalize_trait_string(KnownTrait kind, std::string_view text,
                                                  const TraitOptions& options);

/// Why a value of that trait was refused ("not a valid email address").
std::string_view trait_error_message(KnownTrait kind);

/// The normalised JSON value of one trait, or an error message (for `invalid_trait`).
/// Known traits take a string (phone numbers also a non-negative integer); null clears a trait
/// and an empty string counts as null. Other traits are returned as given.
struct TraitResult {
  nlohmann::ordered_json value;
  std::string error;  // empty: valid
};
TraitResult normalize_trait(KnownTrait kind, const nlohmann::ordered_json& value,
                            const TraitOptions& options);

/// Normalises every trait of an object. Throws ApiError 400 `invalid_trait` naming
/// `field_prefix.NAME` (every invalid trait is listed in `details`); a non-object is
/// `invalid_event`.
nlohmann::ordered_json normalize_traits(const nlohmann::ordered_json& traits,
                                        const TraitOptions& options,
                                        std::string_view field_prefix = "traits");

/// A customer's address on one channel ("email", "sms", "whatsapp", "wechat", "social").
struct ChannelAddress {
  std::string channel;
  std::string address;
  friend bool operator==(const ChannelAddress&, const ChannelAddress&) = default;
};

/// The channel addresses held in a customer's traits, for indexing customers by address:
/// `email` → email, `phone` → sms, `whatsapp` (else `phone`) → whatsapp, `wechat_openid` →
/// wechat, `messenger_psid` → social. Only non-empty strings count.
std::vector<ChannelAddress> channel_addresses(const nlohmann::ordered_json& traits);

}  // namespace herald::ingest
