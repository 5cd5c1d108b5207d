#include <utility>

#include "channels/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::channels {
namespace asio = boost::asio;

namespace {

template <typename Response>
struct Completion {
  virtual ~Completion() = default;
  virtual void complete(Response response) = 0;
};

template <typename Handler, typename Response>
struct CompletionImpl final : Completion<Response> {
  explicit CompletionImpl(Handler&& h) : handler(std::move(h)) {}
  void complete(Response response) override {
    // Resume on the coroutine's own executor, outside libcurl's callbacks.
    auto executor = asio::get_associated_executor(handler);
    asio::post(executor, [h = std::move(handler), r = std::move(response)]() mutable {
      h(std::exception_ptr(), std::move(r));
    });
  }
  Handler handler;
};

/// Easy handles kept for reuse: creating and destroying one per request was a tenth of
/// the delivery path's CPU. Handles are reset (options only) before reuse.
struct EasyPool {
  static constexpr std::size_t kKeep = 64;
  std::vector<CURL*> idle;
  CURL* take() {
    if (idle.empty()) return curl_easy_init();
    CURL* e = idle.back();
    idle.pop_back();
    return e;
  }
  void give(CURL* e) {
    if (!e) return;
    if (idle.size() >= kKeep) {
      curl_easy_cleanup(e);
      return;
    }
    curl_easy_reset(e);
    idle.push_back(e);
  }
  ~EasyPool() {
    for (CURL* e : idle) curl_easy_cleanup(e);
  }
};

/// One easy handle in flight; the kinds differ in how they report their outcome.
struct Transfer {
  virtual ~Transfer() {
    if (pool)
      pool->give(easy);
    else
      curl_easy_cleanup(easy);
    curl_slist_free_all(list);
  }
  /// Fills the response from libcurl's result and completes the awaiting coroutine.
  virtual void complete(CURLcode result) = 0;
  /// Completes without a result (the client closed, the handle never started).
  virtual void abandon(const char* reason) = 0;

  CURL* easy = nullptr;
  EasyPool* pool = nullptr;    // where the handle goes back (none: cleaned up)
  curl_slist* list = nullptr;  // request headers (HTTP) or recipients (SMTP)
  char error[CURL_ERROR_SIZE] = {};
};

struct HttpTransfer final : Transfer {
  void complete(CURLcode result) override {
    auto& r = response;
    if (result == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
      long connects = 0;
      curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
      r.reused_connection = connects == 0;
    } else {
      r.status = 0;
      r.timed_out = result == CURLE_OPERATION_TIMEDOUT;
      r.error = error[0] ? error : curl_easy_strerror(result);
      r.headers.clear();
      r.body.clear();
    }
    done->complete(std::move(r));
  }
  void abandon(const char* reason) override {
    response = HttpResponse{};
    response.error = reason;
    done->complete(std::move(response));
  }

  HttpResponse response;
  std::unique_ptr<Completion<HttpResponse>> done;
};

struct SmtpTransfer final : Transfer {
  void complete(CURLcode result) override {
    auto& r = response;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.code);
    long connects = 0;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    r.reused_connection = connects == 0;
    r.curl_code = static_cast<int>(result);
    if (result != CURLE_OK) r.error = error[0] ? error : curl_easy_strerror(result);
    switch (result) {
      case CURLE_OPERATION_TIMEDOUT:
        r.timed_out = true;
        break;
      case CURLE_LOGIN_DENIED:
        r.login_denied = true;
        break;
      case CURLE_USE_SSL_FAILED:            // no STARTTLS offered, or refused
      case CURLE_SSL_CONNECT_ERROR:         // handshake
      case CURLE_PEER_FAILED_VERIFICATION:  // certificate or host name
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ENGINE_INITFAILED:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_CRL_BADFILE:
        r.tls_failed = true;
        break;
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
        r.connect_failed = true;
        break;
      default:
        break;
    }
    done->complete(std::move(r));
  }
  void abandon(const char* reason) override {
    response = SmtpResponse{};
    response.curl_code = static_cast<int>(CURLE_ABORTED_BY_CALLBACK);
    response.error = reason;
    done->complete(std::move(response));
  }

  std::string payload;
  std::size_t sent = 0;
  SmtpResponse response;
  std::unique_ptr<Completion<SmtpResponse>> done;
};

size_t on_upload(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<SmtpTransfer*>(user);
  auto count = std::min(size * n, t->payload.size() - t->sent);
  std::memcpy(buffer, t->payload.data() + t->sent, count);
  t->sent += count;
  return count;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<HttpTransfer*>(user)->response.body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    static_cast<HttpTransfer*>(user)->response.headers.emplace_back(std::move(name),
                                                                    std::string(value));
  } else if (line.rfind("HTTP/", 0) == 0) {
    static_cast<HttpTransfer*>(user)
        ->response.headers.clear();  // a new response (after 100, redirects)
  }
  return size * n;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

constexpr long kMaxHostConnections = 16;

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  struct Socket {
    explicit Socket(asio::io_context& ioc, curl_socket_t fd, uint64_t id)
        : descriptor(ioc, fd), id(id) {}
    asio::posix::stream_descriptor descriptor;
    uint64_t id;
    int want = 0;
    bool reading = false, writing = false;
  };

  std::chrono::steady_clock::time_point timer_due{};
  bool timer_pending = false;
  bool timeout_posted = false;

  explicit Impl(asio::io_context& ioc) : ioc(ioc), timer(ioc) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    // At most kMaxHostConnections connections to one host: further transfers wait for a
    // free one and reuse it, instead of opening a connection each (providers throttle
    // connection storms, and an SMTP relay would see hundreds of sessions).
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, kMaxHostConnections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, kMaxHostConnections * 4);
  }

  asio::io_context& ioc;
  CURLM* multi = nullptr;
  EasyPool pool;  // before `transfers`: outlives the transfers that give handles back
  asio::steady_timer timer;
  std::map<curl_socket_t, std::unique_ptr<Socket>> sockets;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers;
  uint64_t next_socket_id = 0;
  bool closing = false;  // in curl_multi_cleanup, which may still talk (SMTP QUIT)

  static int on_socket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* self = static_cast<Impl*>(user);
    if (self->closing) return 0;  // libcurl waits on its own sockets now; never adopt one
    if (what == CURL_POLL_REMOVE) {
      self->forget(fd);
      return 0;
    }
    auto& slot = self->sockets[fd];
    if (!slot) slot = std::make_unique<Socket>(self->ioc, fd, self->next_socket_id++);
    slot->want = what;
    self->arm(fd);
    return 0;
  }

  // libcurl asks for a new timeout after nearly every step of every transfer. Re-arming
  // the Asio timer each time costs a timerfd_settime system call, so: a timeout of 0
  // is a posted call; a later deadline than the one armed is left alone (an early
  // wake-up does no harm: libcurl then asks again); -1 ("no timeout") likewise.
  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) return 0;
    if (timeout_ms == 0) {
      if (!self->timeout_posted) {
        self->timeout_posted = true;
        asio::post(self->ioc, [weak = self->weak_from_this()] {
          auto self = weak.lock();
          if (!self || !self->multi) return;
          self->timeout_posted = false;
          self->on_timeout();
        });
      }
      return 0;
    }
    auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    if (self->timer_pending && self->timer_due <= due) return 0;
    self->timer_due = due;
    self->timer_pending = true;
    self->timer.expires_at(due);  // a wait already pending ends with operation_aborted
    self->timer.async_wait([weak = self->weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->multi) return;
      self->timer_pending = false;
      self->on_timeout();
    });
    return 0;
  }

  void on_timeout() {
    int running = 0;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect();
  }

  void forget(curl_socket_t fd) {
    auto it = sockets.find(fd);
    if (it == sockets.end()) return;
    boost::system::error_code ignored;
    it->second->descriptor.cancel(ignored);
    it->second->descriptor.release();  // libcurl owns and closes the socket
    sockets.erase(it);
  }

  void arm(curl_socket_t fd) {
    auto it = sockets.find(fd);
    if (it == sockets.end()) return;
    auto& s = *it->second;
    if ((s.want & CURL_POLL_IN) && !s.reading) {
      s.reading = true;
      wait(fd, s, asio::posix::stream_descriptor::wait_read, CURL_CSELECT_IN);
    }
    if ((s.want & CURL_POLL_OUT) && !s.writing) {
      s.writing = true;
      wait(fd, s, asio::posix::stream_descriptor::wait_write, CURL_CSELECT_OUT);
    }
  }

  void wait(curl_socket_t fd, Socket& s, asio::posix::stream_descriptor::wait_type type,
            int event) {
    s.descriptor.async_wait(type, [weak = weak_from_this(), fd, id = s.id, event](
                                      boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || !self->multi) return;
      auto it = self->sockets.find(fd);
      bool current = it != self->sockets.end() && it->second->id == id;
      if (current) (event == CURL_CSELECT_IN ? it->second->reading : it->second->writing) = false;
      if (ec || !current) return;
      int running = 0;
      curl_multi_socket_action(self->multi, fd, event, &running);
      self->collect();
      self->arm(fd);  // libcurl still wants it unless it said CURL_POLL_REMOVE
    });
  }

  /// Completes every finished transfer.
  void collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = transfers.find(msg->easy_handle);
      if (it == transfers.end()) continue;
      auto transfer = std::move(it->second);
      transfers.erase(it);
      auto result = msg->data.result;  // msg is invalid once the handle is removed
      curl_multi_remove_handle(multi, transfer->easy);
      transfer->complete(result);
    }
  }

  /// Common options; the caller adds its protocol's.
  CURL* prepare(Transfer& t, const std::string& url, std::chrono::milliseconds timeout) {
    t.easy = pool.take();
    t.pool = &pool;
    CURL* e = t.easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    return e;
  }

  void launch(std::unique_ptr<Transfer> t) {
    CURL* e = t->easy;
    auto* raw = t.get();
    transfers.emplace(e, std::move(t));
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
      auto node = transfers.extract(e);
      raw->abandon("cannot start the request");
    }
  }

  void start(HttpRequest request, std::unique_ptr<Completion<HttpResponse>> done) {
    auto t = std::make_unique<HttpTransfer>();
    t->done = std::move(done);
    CURL* e = prepare(*t, request.url, request.timeout);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (request.method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!request.body.empty() || request.method != "DELETE") {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, request.body.c_str());
      }
    }
    // No "Expect: 100-continue" round trip: providers answer at once.
    t->list = curl_slist_append(t->list, "Expect:");
    for (const auto& [name, value] : request.headers)
      t->list = curl_slist_append(t->list, (name + ": " + value).c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->list);
    launch(std::move(t));
  }

  void start(SmtpRequest request, std::unique_ptr<Completion<SmtpResponse>> done) {
    auto t = std::make_unique<SmtpTransfer>();
    t->done = std::move(done);
    t->payload = std::move(request.payload);
    CURL* e = prepare(*t, request.url, request.timeout);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    // ALL, never TRY: TRY carries on in clear text when the server offers no STARTTLS.
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     static_cast<long>(request.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    if (!request.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, request.ca_file.c_str());
    if (!request.username.empty()) {
      curl_easy_setopt(e, CURLOPT_USERNAME, request.username.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, request.password.c_str());
    }
    // Each reply, not only the whole exchange, within the timeout (libcurl's default is 2 min).
    curl_easy_setopt(
        e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
        static_cast<long>(std::max<long long>(1, (request.timeout.count() + 999) / 1000)));
    auto from = "<" + request.mail_from + ">";
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from.c_str());  // libcurl copies strings
    for (const auto& rcpt : request.rcpt)
      t->list = curl_slist_append(t->list, ("<" + rcpt + ">").c_str());
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->list);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t->payload.size()));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(e, CURLOPT_READDATA, t.get());
    launch(std::move(t));
  }

  void shutdown() {
    timer.cancel();
    for (auto& [easy, t] : transfers) {
      curl_multi_remove_handle(multi, easy);
      t->abandon("the HTTP client was closed");
    }
    transfers.clear();
    for (auto& [fd, s] : sockets) {
      boost::system::error_code ignored;
      s->descriptor.cancel(ignored);
      s->descriptor.release();
    }
    sockets.clear();
    closing = true;
    curl_multi_cleanup(multi);  // closes cached connections (SMTP: QUIT)
    multi = nullptr;
  }
};

HttpClient::HttpClient(asio::io_context& ioc) : impl_(std::make_shared<Impl>(ioc)) {}

HttpClient::~HttpClient() { impl_->shutdown(); }

std::size_t HttpClient::active() const { return impl_->transfers.size(); }

// A plain function returning the awaitable (not a coroutine): g++ 12 destroys closure
// temporaries inside co_await expressions twice.
asio::awaitable<HttpResponse> HttpClient::request(HttpRequest request) {
  auto impl = impl_;
  return asio::async_initiate<const asio::use_awaitable_t<>&,
                              void(std::exception_ptr, HttpResponse)>(
      [impl, req = std::move(request)](auto handler) mutable {
        using H = decltype(handler);
        impl->start(std::move(req),
                    std::make_unique<CompletionImpl<H, HttpResponse>>(std::move(handler)));
      },
      asio::use_awaitable);
}

asio::awaitable<SmtpResponse> HttpClient::smtp(SmtpRequest request) {
  auto impl = impl_;
  return asio::async_initiate<const asio::use_awaitable_t<>&,
                              void(std::exception_ptr, SmtpResponse)>(
      [impl, req = std::move(request)](auto handler) mutable {
        using H = decltype(handler);
        impl->start(std::move(req),
                    std::make_unique<CompletionImpl<H, SmtpResponse>>(std::move(handler)));
      },
      asio::use_awaitable);
}

}  // namespace herald::channels
