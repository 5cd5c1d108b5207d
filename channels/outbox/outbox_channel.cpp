#include "channels/outbox/outbox_channel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::channels::outbox {
namespace asio = boost::asio;

namespace {

struct Completion {
  virtual ~Completion() = default;
  virtual void complete(SendResult result) = 0;
};

template <typename Handler>
class CompletionImpl final : public Completion {
 public:
  explicit CompletionImpl(Handler&& handler)
      : handler_(std::move(handler)),
        // Counts as outstanding work, so io_context::run() does not return while a send waits.
        work_(asio::prefer(asio::get_associated_executor(handler_),
                           asio::execution::outstanding_work.tracked)) {}

  // Called on the writer thread: resume the coroutine on its own executor.
  void complete(SendResult result) override {
    auto work = std::move(work_);
    asio::post(work, [h = std::move(handler_), r = std::move(result)]() mutable {
      h(std::exception_ptr(), std::move(r));
    });
  }

 private:
  Handler handler_;
  std::decay_t<decltype(asio::prefer(std::declval<asio::associated_executor_t<Handler>>(),
                                     asio::execution::outstanding_work.tracked))>
      work_;
};

struct Pending {
  std::string line;
  std::string id;
  std::unique_ptr<Completion> done;
};

std::string rfc3339(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms / 1000);
  auto frac = static_cast<int>(ms % 1000);
  if (frac < 0) frac += 1000, --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace

/// One file, one thread: sends queue their lines; the thread writes each batch with as
/// few write(2) calls as it can and completes the sends of that batch.
class Writer {
 public:
  Writer(const std::filesystem::path& path, std::function<void()> before_write)
      : before_write_(std::move(before_write)) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);  // open() reports failure
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "cannot open " + path.string());
    thread_ = std::thread([this] { run(); });
  }

  ~Writer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();  // drains what is queued first
    ::close(fd_);
  }

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void push(Pending pending) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(pending));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and drained
      std::deque<Pending> batch;
      batch.swap(queue_);
      lock.unlock();
      write_batch(batch);
      lock.lock();
    }
  }

  void write_batch(std::deque<Pending>& batch) {
    std::string buffer;
    std::size_t size = 0;
    for (const auto& p : batch) size += p.line.size();
    int error = 0;
    std::size_t written = 0;
    try {
      if (before_write_) before_write_();
      buffer.reserve(size);
      for (const auto& p : batch) buffer += p.line;
      while (written < buffer.size()) {
        auto n = ::write(fd_, buffer.data() + written, buffer.size() - written);
        if (n < 0) {
          if (errno == EINTR) continue;
          error = errno;
          break;
        }
        written += static_cast<std::size_t>(n);
      }
    } catch (const std::exception&) {
      error = error ? error : ENOMEM;
    }
    // Lines wholly written are accepted; the rest are retryable (a failed write may
    // leave a torn last line, which readers of the outbox must skip).
    std::size_t end = 0;
    for (auto& p : batch) {
      end += p.line.size();
      SendResult result;
      if (end <= written) {
        result.outcome = SendResult::Outcome::kAccepted;
        result.provider_message_id = p.id;
      } else {
        result.outcome = SendResult::Outcome::kRetryable;
        result.error_code = "outbox_write_failed";
        result.error_message = std::strerror(error ? error : EIO);
      }
      p.done->complete(std::move(result));
    }
  }

  int fd_ = -1;
  std::function<void()> before_write_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above exists
};

namespace {

/// Channels writing the same file share its writer; the last one to go closes it.
std::shared_ptr<Writer> shared_writer(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::weak_ptr<Writer>> writers;
  std::lock_guard lock(mutex);
  auto& slot = writers[path];
  if (auto writer = slot.lock()) return writer;
  auto writer = std::make_shared<Writer>(path, std::function<void()>());
  slot = writer;
  return writer;
}

}  // namespace

OutboxSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                              const std::string& config_file) {
  check_provider_keys(section, OutboxChannel::kProvider, {"path"}, config_file);
  OutboxSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  std::filesystem::path path = "outbox.jsonl";
  if (section.IsMap()) {
    if (const YAML::Node p = section["path"]) {
      if (!p.IsScalar() || p.Scalar().empty())
        throw config::ConfigError(config::location_of(p, config_file),
                                  "path: expected a file name");
      path = p.Scalar();
    }
  }
  if (path.is_relative()) path = context.data_dir / path;
  settings.path = std::filesystem::weakly_canonical(std::filesystem::absolute(path));
  return settings;
}

OutboxChannel::OutboxChannel(OutboxSettings settings)
    : settings_(std::move(settings)), writer_(shared_writer(settings_.path)) {}

OutboxChannel::OutboxChannel(OutboxSettings settings, std::function<void()> before_write)
    : settings_(std::move(settings)),
      writer_(std::make_shared<Writer>(settings_.path, std::move(before_write))) {}

OutboxChannel::~OutboxChannel() = default;

std::string format_line(const OutboundMessage& m, std::chrono::system_clock::time_point at) {
  nlohmann::ordered_json line;
  line["id"] = m.id;
  line["channel"] = m.channel;
  line["to"] = m.to;
  line["content"] = m.content;
  line["transactional"] = m.transactional;
  line["customer_id"] = m.customer_id;
  line["template"] = m.template_name;
  line["workflow"] = m.workflow;
  line["run"] = m.run;
  line["at"] = rfc3339(at);
  // A rendered body with broken UTF-8 still makes a parseable line.
  auto text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  text += '\n';
  return text;
}

// A plain function returning the awaitable (not a coroutine): g++ 12 mishandles closure
// temporaries inside co_await expressions. The line is built here, on the caller's
// thread, so the message need not outlive this call.
asio::awaitable<SendResult> OutboxChannel::send(const OutboundMessage& message, SendContext&) {
  Pending pending{format_line(message, std::chrono::system_clock::now()), message.id, nullptr};
  auto writer = writer_;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, SendResult)>(
      [writer, p = std::move(pending)](auto handler) mutable {
        using H = decltype(handler);
        p.done = std::make_unique<CompletionImpl<H>>(std::move(handler));
        writer->push(std::move(p));
      },
      asio::use_awaitable);
}

std::unique_ptr<Channel> make_outbox(const AdapterContext& context, const YAML::Node& section,
                                     const std::string& config_file) {
  auto settings = parse_settings(section, context, config_file);
  try {
    return std::make_unique<OutboxChannel>(std::move(settings));
  } catch (const std::system_error& e) {
    const YAML::Node path = section.IsMap() ? section["path"] : YAML::Node();
    throw config::ConfigError(config::location_of(path ? path : section, config_file),
                              std::string("path: ") + e.what());
  }
}

}  // namespace herald::channels::outbox
