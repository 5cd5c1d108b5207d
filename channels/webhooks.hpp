#pragma once
// Provider webhooks as pure functions: signature checks (Twilio, Meta's hub signature and
// verification handshake, WeChat) and payload parsers that turn each provider's callback
// into one neutral shape (ParsedHook). No I/O, no Asio: the gateway's /hooks/* routes
// read the request, call these, and act on the result.
//
// Untrusted input never makes these functions throw (std::bad_alloc aside): malformed
// payloads come back as an error string, unknown fields are ignored (providers add
// fields without notice), and every signature comparison is constant time
// (CRYPTO_memcmp). Thread safe: no shared state.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace herald::channels::webhooks {

// ---------------------------------------------------------------------------------------
// Forms and query strings

/// Name/value pairs in wire order; repeated names are kept.
using FormParams = std::vector<std::pair<std::string, std::string>>;

/// Percent-decoding; `+` becomes a space when plus_as_space (form bodies, query strings).
/// An invalid escape (`%G1`, a trailing `%`) is kept literally.
std::string url_decode(std::string_view text, bool plus_as_space = true);

/// Percent-encoding that keeps RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~)
/// and writes every other byte as %XX (upper-case hex).
std::string url_encode(std::string_view text);

/// application/x-www-form-urlencoded (also a URL's query string, without the `?`):
/// `&`-separated, `+` as space, %XX escapes, a pair without `=` has an empty value,
/// empty pairs are skipped.
FormParams parse_form(std::string_view body);

/// The first value of `name`, or nullptr.
const std::string* find_param(const FormParams& params, std::string_view name);

// ---------------------------------------------------------------------------------------
// Twilio (X-Twilio-Signature)

/// base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 ...)), the pairs
/// sorted by name then by value (so a repeated name's values are sorted too), without
/// separators. `url` is the full URL Twilio requested (scheme, host, path, query).
std::string twilio_signature(std::string_view url, const FormParams& params,
                             std::string_view auth_token);

/// Whether `header` is Twilio's signature of the request. Like the official validator,
/// the URL is tried as given, with the scheme's default port added (`:443` for https,
/// `:80` for http) and with it removed. False for an empty token or header.
bool twilio_valid(std::string_view url, const FormParams& params, std::string_view header,
                  std::string_view auth_token);

// ---------------------------------------------------------------------------------------
// Meta: WhatsApp Cloud API and Messenger

/// X-Hub-Signature-256: `sha256=<hex HMAC-SHA256(app_secret, raw_body)>`. Hex digits of
/// either case are accepted; anything malformed (no prefix, not 64 hex digits, an empty
/// secret) is false.
bool hub_signature_valid(std::string_view raw_body, std::string_view header,
                         std::string_view app_secret);

/// The subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=R`):
/// R when the mode is `subscribe` and T equals `verify_token` (constant time), else
/// nullopt (answer 403). An empty configured token never matches.
std::optional<std::string> hub_challenge(const FormParams& query, std::string_view verify_token);

// ---------------------------------------------------------------------------------------
// WeChat Official Account

/// SHA1 of the lexicographically sorted [token, timestamp, nonce], concatenated, as hex,
/// compared with `signature` (either case) in constant time. False for an empty token.
bool wechat_signature_valid(std::string_view token, std::string_view timestamp,
                            std::string_view nonce, std::string_view signature);

/// The fields Herald reads from a pushed XML message or event.
struct WechatInbound {
  std::string to_user_name;    // ToUserName: the official account (gh_...)
  std::string from_user_name;  // FromUserName: the user's OpenID
  std::optional<std::int64_t> create_time;  // CreateTime, unix seconds
  std::string msg_type;        // text, image, voice, video, location, link, event, ...
  std::string content;         // Content (text messages)
  std::string msg_id;          // MsgId (messages), or MsgID (TEMPLATESENDJOBFINISH events)
  std::string event;           // Event (msg_type event): subscribe, unsubscribe, ...
  std::string status;          // Status (TEMPLATESENDJOBFINISH): success, failed:...
  std::string pic_url;         // PicUrl (image messages)
};

/// Parses WeChat's small XML (root `<xml>`, one level of elements, values as CDATA or
/// as text with the five predefined entities and numeric references). Nested elements
/// are skipped. Errors (a string) for malformed XML, a root other than `xml`, input
/// over 1 MiB, or a missing ToUserName, FromUserName or MsgType.
std::variant<WechatInbound, std::string> parse_wechat_xml(std::string_view xml);

/// The passive text reply (answered in the body of the push): `to` is the user's
/// OpenID, `from` the account. Values go into CDATA sections; a "]]>" inside one is
/// split across two sections.
std::string wechat_text_reply(std::string_view to, std::string_view from,
                              std::string_view content, std::int64_t unix_seconds);

// ---------------------------------------------------------------------------------------
// Parsed payloads

/// A status report about a message Herald sent (or, with opt_out, about a recipient).
struct StatusUpdate {
  /// The provider's id of the message: what its send API returned (Twilio SM..., wamid...,
  /// Messenger mid, WeChat msgid, SendGrid X-Message-Id). Empty for a watermark: then the
  /// status applies to every message sent to `recipient` up to at_unix_ms (Messenger's
  /// `read`, and `delivery` without `mids`), or, with opt_out, to the recipient itself.
  std::string provider_message_id;
  /// Herald's vocabulary: sent, delivered, read, failed; and, with opt_out set,
  /// complained or unsubscribed (not message statuses: the caller records an opt-out).
  std::string status;
  std::string error_code;
  std::string error_message;
  std::optional<std::int64_t> at_unix_ms;
  /// The address the message went to: E.164 with `+` (Twilio, WhatsApp), PSID,
  /// OpenID, e-mail.
  std::string recipient;
  bool opt_out = false;
  /// "hard_bounce" or "spam_complaint": the recipient's address joins the suppression
  /// list (SendGrid's event webhook). Empty otherwise.
  std::string suppress;
};

/// A message a customer sent to Herald.
struct InboundMessage {
  std::string provider_message_id;  // deduplicate on it (MessageSid, wamid, mid, MsgId)
  /// The customer's address: E.164 with `+` (Twilio as sent; WhatsApp's wa_id gets its
  /// `+`), OpenID (WeChat), PSID (Messenger).
  std::string from;
  /// Herald's side: Twilio's To number, WhatsApp's phone_number_id, the WeChat account
  /// (ToUserName), the Messenger page id.
  std::string to;
  /// The text; for a message without text, its type in brackets ("[image]"), followed
  /// by the caption when there is one.
  std::string text;
  std::optional<std::int64_t> at_unix_ms;
  std::string profile_name;  // WhatsApp contacts[].profile.name, Twilio ProfileName
  std::vector<std::string> media_urls;  // Twilio MediaUrlN, Messenger attachments, WeChat PicUrl
};

struct ParsedHook {
  std::vector<StatusUpdate> statuses;
  std::vector<InboundMessage> inbound;
};

/// A parsed payload, or why it could not be read (answer 400).
using HookResult = std::variant<ParsedHook, std::string>;

/// Twilio's form POST. A status callback carries MessageStatus: queued, accepted,
/// scheduled and sending are ignored; sent, delivered and read are kept; failed,
/// undelivered and canceled become failed (ErrorCode, ErrorMessage). A message without
/// MessageStatus (or with received/receiving) that carries Body or NumMedia is inbound,
/// with its MediaUrlN in index order. An error when it is neither or has no MessageSid.
HookResult parse_twilio(const FormParams& params);

/// WhatsApp Cloud API: entry[].changes[].value.messages[] (inbound; `from` gets a `+`,
/// the profile name comes from contacts[]) and .statuses[] (sent, delivered, read,
/// failed with errors[0].code and title; other statuses ignored). Changes of other
/// fields and items without an id are skipped; an error for invalid JSON, a root that
/// is not an object, an `object` other than whatsapp_business_account, or no entry array.
HookResult parse_whatsapp(std::string_view raw_json);

/// Messenger: entry[].messaging[]. `message` (not is_echo) → inbound with its text or
/// "[type]" and attachment URLs; `postback` → inbound with its title; `delivery` →
/// delivered for each of `mids` (a watermark status with an empty id when there are
/// none); `read` → a watermark status "read". Watermarks and timestamps are unix ms;
/// the recipient of a status is the sender of the event (the user).
HookResult parse_messenger(std::string_view raw_json);

/// WeChat: text and other messages → inbound (OpenID as `from`); the event
/// `unsubscribe` → an opt-out ("unsubscribed", empty id, recipient = OpenID);
/// TEMPLATESENDJOBFINISH → delivered (Status success) or failed; other events ignored.
ParsedHook parse_wechat(const WechatInbound& message);

/// SendGrid's event webhook (a JSON array). sg_message_id is cut at its first `.` to
/// match the X-Message-Id returned at send time. delivered → delivered; open and click
/// → read; bounce and dropped → failed (status, reason); spamreport → complained and
/// unsubscribe / group_unsubscribe → unsubscribed, both with opt_out; processed,
/// deferred and others ignored. An error for invalid JSON or a root that is not an array.
/// A bounce other than type "blocked" carries suppress = "hard_bounce", a spamreport
/// suppress = "spam_complaint".
HookResult parse_sendgrid(std::string_view raw_json);

/// SendGrid's signed event webhook: `signature` (X-Twilio-Email-Event-Webhook-Signature)
/// is the base64 DER of an ECDSA (P-256, SHA-256) signature of `timestamp`
/// (X-Twilio-Email-Event-Webhook-Timestamp) followed by the raw body, checked against the
/// account's verification key: base64 of a DER SubjectPublicKeyInfo as SendGrid shows it,
/// PEM armour accepted. False for anything malformed.
bool sendgrid_signature_valid(std::string_view public_key, std::string_view signature,
                              std::string_view timestamp, std::string_view raw_body);
/// Whether `public_key` is a usable verification key (checked once at start-up).
bool sendgrid_key_valid(std::string_view public_key);

// ---------------------------------------------------------------------------------------
// Status ordering

/// queued 0 < deferred 1 < sending 2 < sent 3 < delivered 4 < read 5; failed and
/// suppressed 3. -1 for anything else (including complained and unsubscribed).
int status_rank(std::string_view status);

/// Whether a message whose status is `current` takes `next`. The rule:
///   - `next` must be a known status (rank >= 0) and differ from `current`;
///   - nothing replaces `read` or `suppressed` (suppressed messages never reached a
///     provider, so no callback can be about them);
///   - failed / suppressed replace queued, deferred, sending and sent, never delivered,
///     read or another failure (a late failure does not undo a delivery);
///   - otherwise strictly forward by rank: a late `sent` never overwrites `delivered`,
///     `sent` does not replace `failed`, but `delivered` and `read` do (the provider
///     saw it arrive after all);
///   - an empty or unknown `current` takes any known `next`.
bool status_moves_forward(std::string_view current, std::string_view next);

}  // namespace herald::channels::webhooks
