#pragma once
// Outbound HTTP for provider adapters and workflow webhooks: libcurl's multi interface
// driven by Asio, so that no request blocks an io_context thread.
//
// Thread safety: a client belongs to the io_context it was made with; call it from that
// context's thread only. Connections are kept alive and reused per host by libcurl's
// connection cache (one cache per client). Completions resume the awaiting coroutine
// on the client's executor.

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

class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& ioc);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs the request. Transport failures are reported in the response (status 0
  /// and `error`), never thrown.
  boost::asio::awaitable<HttpResponse> request(HttpRequest request);

  /// Requests in flight.
  std::size_t active() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald::channels
