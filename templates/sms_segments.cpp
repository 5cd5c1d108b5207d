#include "templates/sms_segments.hpp"

#include <array>
#include <cstdint>

#include "templates/liquid/value.hpp"

namespace herald::templates {
namespace {

constexpr std::size_t kGsmSingle = 160;
constexpr std::size_t kGsmPart = 153;
constexpr std::size_t kUcsSingle = 70;
constexpr std::size_t kUcsPart = 67;

// GSM 03.38 basic character set, beyond the ASCII letters and digits.
constexpr char32_t kGsmBasic[] = {
    U'@',  U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø',
    U'\r', U'Å', U'å', U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ',  U'Σ', U'Θ',
    U'Ξ',  U'Æ', U'æ', U'ß', U'É', U' ', U'!', U'"', U'#', U'¤', U'%',  U'&', U'\'',
    U'(',  U')', U'*', U'+', U',', U'-', U'.', U'/', U':', U';', U'<',  U'=', U'>',
    U'?',  U'¡', U'Ä', U'Ö', U'Ñ', U'Ü', U'§', U'¿', U'ä', U'ö', U'ñ',  U'ü', U'à'};
constexpr char32_t kGsmExtension[] = {U'\f', U'^', U'{', U'}', U'\\', U'[', U'~', U']', U'|', U'€'};

constexpr int gsm_septets_slow(char32_t c) {
  if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9')) return 1;
  for (char32_t b : kGsmBasic) {
    if (b == c) return 1;
  }
  for (char32_t e : kGsmExtension) {
    if (e == c) return 2;
  }
  return 0;
}

// Septets of each ASCII character in GSM-7.
constexpr auto kAsciiSeptets = [] {
  std::array<std::uint8_t, 128> table{};
  for (char32_t c = 0; c < 128; ++c) table[c] = static_cast<std::uint8_t>(gsm_septets_slow(c));
  return table;
}();

// Septets a character takes in GSM-7: 1, 2 (extension table), or 0 if absent.
inline int gsm_septets(char32_t c) {
  return c < 128 ? kAsciiSeptets[c] : gsm_septets_slow(c);
}

// Size of a character in the encoding: septets for GSM-7, UTF-16 units for UCS-2.
int unit_size(char32_t c, SmsSegments::Encoding encoding) {
  if (encoding == SmsSegments::Encoding::kGsm7) return gsm_septets(c);
  return c > 0xFFFF ? 2 : 1;
}

// Parts of `part` units each, never splitting a character between two parts.
std::size_t pack(std::string_view body, SmsSegments::Encoding encoding, std::size_t part) {
  std::size_t parts = 1, used = 0;
  for (std::size_t i = 0; i < body.size();) {
    auto size = static_cast<std::size_t>(unit_size(decode_utf8(body, i), encoding));
    if (used + size > part) {
      ++parts;
      used = 0;
    }
    used += size;
  }
  return parts;
}

}  // namespace

SmsSegments count_sms_segments(std::string_view body) {
  SmsSegments result;
  std::size_t septets = 0, utf16 = 0;
  bool gsm = true;
  for (std::size_t i = 0; i < body.size();) {
    auto byte = static_cast<unsigned char>(body[i]);
    char32_t c = byte < 0x80 ? (++i, byte) : decode_utf8(body, i);
    utf16 += c > 0xFFFF ? 2 : 1;
    if (gsm) {
      int s = gsm_septets(c);
      gsm = s > 0;
      septets += static_cast<std::size_t>(s);
    }
  }
  result.encoding = gsm ? SmsSegments::Encoding::kGsm7 : SmsSegments::Encoding::kUcs2;
  result.units = gsm ? septets : utf16;
  std::size_t single = gsm ? kGsmSingle : kUcsSingle;
  std::size_t part = gsm ? kGsmPart : kUcsPart;
  if (result.units == 0) {
    result.segments = 0;
  } else if (result.units <= single) {
    result.segments = 1;
  } else {
    result.segments = pack(body, result.encoding, part);
  }
  return result;
}

}  // namespace herald::templates
