#pragma once
// Outbound HTTP and SMTP for provider adapters and workflow webhooks: libcurl's multi
// interface driven by Asio, so that no request blocks an io_context thread.
//
// Thread safety: a client belongs to the io_context it was made with; call it from that
// context's thread only. Connections are kept alive and reused per host by libcurl's
// connection cache (one cache per client): HTTP keep-alive, and SMTP sessions that stay
// open between messages (QUIT is sent only when the client is destroyed). Completions
// resume the awaiting coroutine on the client's executor.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

namespace boost::asio {
class io_context;
}

namespace herald::channels {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // the whole exchange, connect included
};

struct HttpResponse {
  long status = 0;                                           // 0 when no answer came
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string error;          // libcurl's reason when status is 0 (timeout, refused, ...)
  bool timed_out = false;
  bool reused_connection = false;

  /// The first header of that (lower-case) name, or empty.
  std::string header(std::string_view name) const;
};

/// One message over SMTP (smtp:// or smtps://), envelope and raw RFC 5322 payload.
struct SmtpRequest {
  std::string url;                 // smtp://host:port[/ehlo-domain] or smtps://...
  std::string username, password;  // empty username: no AUTH
  /// smtp://: STARTTLS is required (never a silent fallback to clear text); smtps:// is
  /// TLS from the start either way. False only for a clear-text relay.
  bool require_tls = true;
  std::string ca_file;                       // a PEM bundle to trust instead of the system's
  std::string mail_from;                     // bare address for MAIL FROM
  std::vector<std::string> rcpt;             // bare addresses for RCPT TO
  std::string payload;                       // the message, CRLF line ends
  std::chrono::milliseconds timeout{10000};  // the whole exchange, connect included
};

struct SmtpResponse {
  long code = 0;      // the last SMTP reply code (250 when accepted); 0 when none came
  int curl_code = 0;  // libcurl's CURLcode, 0 when the message was accepted
  std::string error;  // libcurl's reason when curl_code is not 0
  bool timed_out = false;
  bool login_denied = false;    // AUTH refused (a config problem)
  bool tls_failed = false;      // no STARTTLS offered or refused, handshake or certificate failed
  bool connect_failed = false;  // host not resolved, connection refused or unreachable
  bool reused_connection = false;

  bool accepted() const { return curl_code == 0; }
};

class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& ioc);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs the request. Transport failures are reported in the response (status 0
  /// and `error`), never thrown.
  boost::asio::awaitable<HttpResponse> request(HttpRequest request);

  /// Sends one message over SMTP on the same multi handle. Failures (replies of 4xx or
  /// 5xx, TLS, login, transport) are reported in the response, never thrown.
  boost::asio::awaitable<SmtpResponse> smtp(SmtpRequest request);

  /// Requests in flight.
  std::size_t active() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald::channels
