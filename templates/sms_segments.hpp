#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace herald::templates {

/// How an SMS body travels: GSM-7 when every character is in the GSM 03.38
/// alphabet (extension-table characters such as € { } [ ] ~ \ | ^ cost two
/// septets), else UCS-2 (UTF-16 code units).
struct SmsSegments {
  enum class Encoding { kGsm7, kUcs2 };
  Encoding encoding = Encoding::kGsm7;
  std::size_t units = 0;     ///< septets (GSM-7) or UTF-16 code units (UCS-2)
  std::size_t segments = 0;  ///< 0 for an empty body

  std::string_view encoding_name() const { return encoding == Encoding::kGsm7 ? "GSM-7" : "UCS-2"; }
};

/// Counts segments: one of 160 septets / 70 units, or parts of 153 / 67 with
/// no escape sequence or surrogate pair split between parts.
SmsSegments count_sms_segments(std::string_view utf8_body);

}  // namespace herald::templates
