#pragma once
// Internet message composition for the smtp adapter: RFC 5322 headers (CRLF line ends,
// values stripped of CR and LF so no header can be injected), RFC 2047 encoded words for
// text that is not ASCII, and a MIME body (RFC 2045/2046) of quoted-printable UTF-8
// parts: multipart/alternative with text/plain and text/html, or text/plain alone.
//
// Pure functions, no I/O; safe from any thread.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::channels::smtp {

/// An address with an optional display name, as in `Ann Example <ann@example.com>`.
struct Mailbox {
  std::string name;     // may be empty; any UTF-8
  std::string address;  // local@domain
};

/// True for a plain `local@domain` address (dot-atom local part, UTF-8 allowed, at most
/// 254 bytes, nothing that could break a header or an SMTP command: no space, control
/// character, angle bracket, comma, quote or semicolon).
bool valid_address(std::string_view address);

/// Parses `addr` or `Name <addr>` (the name optionally in double quotes); nullopt when
/// the address is not valid_address or the text carries CR or LF.
std::optional<Mailbox> parse_mailbox(std::string_view text);

/// The value with CR, LF and the other control characters (but tab) removed; a run of
/// line breaks becomes one space.
std::string header_safe(std::string_view value);

/// An unstructured header's value (Subject) for a header named `name`: as is when
/// printable ASCII, else RFC 2047 B encoded words of UTF-8; folded to 76 columns where
/// it can be. Never contains a bare CR or LF.
std::string encode_unstructured(std::string_view name, std::string_view text);

/// A mailbox for From, To or Reply-To: the name quoted or encoded as needed.
std::string format_mailbox(const Mailbox& mailbox);

/// Quoted-printable (RFC 2045 6.7) with CRLF hard line breaks (any LF, CR or CRLF of
/// the input) and soft breaks keeping every line at most 76 characters.
std::string quoted_printable(std::string_view text);

/// The RFC 5322 date-time, in UTC: `Sun, 22 Nov 2026 12:03:54 +0000`.
std::string rfc5322_date(std::chrono::system_clock::time_point at);

/// `<ID@DOMAIN>`, where ID is `herald_id` with every character outside [A-Za-z0-9_-]
/// written as =XX (deterministic, so a resend keeps it).
std::string message_id(std::string_view herald_id, std::string_view domain);

struct MessageParts {
  Mailbox from;
  std::optional<Mailbox> reply_to;
  std::string to;  // a valid_address
  std::string subject;
  std::string text;
  std::string html;  // empty: a text/plain message
  std::string herald_id;
  std::string message_id;          // as made by message_id()
  std::string unsubscribe_url;     // empty: no List-Unsubscribe (transactional)
  std::string unsubscribe_mailto;  // an address, or empty
  std::chrono::system_clock::time_point date;
};

/// The whole message, headers and body, CRLF line ends.
std::string compose(const MessageParts& parts);

}  // namespace herald::channels::smtp
