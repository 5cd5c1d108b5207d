#pragma once
// A small blocking HTTP/1.1 client on raw sockets, so that tests control exactly
// what goes on the wire (pipelining, partial requests, keep-alive).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herald::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

class HttpConnection {
 public:
  explicit HttpConnection(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  /// Sends raw bytes.
  void send(const std::string& bytes);
  /// Reads one response; nullopt when the server closed the connection first.
  std::optional<HttpResponse> read_response();
  /// True when the server has closed the connection (reads EOF within the timeout).
  bool closed_by_peer(std::chrono::milliseconds wait);

  HttpResponse request(const std::string& method, const std::string& path,
                       const std::string& body = {},
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  bool fill();
  int fd_ = -1;
  std::string buffer_;
};

/// One request on a fresh connection.
HttpResponse http(int port, const std::string& method, const std::string& path,
                  const std::string& body = {},
                  const std::vector<std::pair<std::string, std::string>>& headers = {});

std::string build_request(const std::string& method, const std::string& path,
                          const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace herald::test
