#include "gateway/redis/managed_redis.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "gateway/log.hpp"

namespace herald::redis {
namespace fs = std::filesystem;

namespace {

bool socket_accepts(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok) {
    // A loading server accepts connections but answers -LOADING; wait for PONG.
    const char ping[] = "PING\r\n";
    ok = ::write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1);
    char buf[64] = {};
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok = ok && ::read(fd, buf, sizeof buf - 1) > 0 && std::strncmp(buf, "+PONG", 5) == 0;
  }
  ::close(fd);
  return ok;
}

}  // namespace

ManagedRedis::ManagedRedis(std::string data_dir) {
  dir_ = fs::absolute(fs::path(data_dir) / "redis").lexically_normal().string();
  socket_ = dir_ + "/redis.sock";
}

ManagedRedis::~ManagedRedis() { stop(); }

std::string ManagedRedis::url() const { return "unix://" + socket_; }

void ManagedRedis::start(std::chrono::milliseconds timeout) {
  fs::create_directories(dir_);
  if (socket_.size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("data_dir is too long for a unix socket path: " + socket_);
  // One Herald per data_dir: two redis-servers on one append-only file would corrupt it.
  lock_fd_ = ::open((dir_ + "/herald.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error("another Herald already runs the managed redis in " + dir_ +
                             " (set redis.url to share one Redis between gateways)");
  fs::remove(socket_);
  pid_ = spawn();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!socket_accepts(socket_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_)
      throw std::runtime_error("redis-server exited at start-up; see " + dir_ + "/redis.log");
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("redis-server did not start within the time limit; see " + dir_ +
                               "/redis.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  herald::log::get("redis")->info("managed redis-server (pid {}) on {}", pid_.load(), socket_);
  supervisor_ = std::thread([this] { supervise(); });
}

int ManagedRedis::spawn() {
  std::vector<std::string> args{"redis-server",
                                "--port", "0",
                                "--unixsocket", socket_,
                                "--unixsocketperm", "700",
                                "--dir", dir_,
                                "--appendonly", "yes",
                                "--appendfsync", "everysec",
                                "--save", "",
                                "--daemonize", "no",
                                "--logfile", dir_ + "/redis.log"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::setpgid(0, 0);  // keep the terminal's Ctrl-C for Herald, which stops it in order
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  return pid;
}

void ManagedRedis::supervise() {
  auto log = herald::log::get("redis");
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    int status = 0;
    pid_t pid = pid_;
    if (::waitpid(pid, &status, 0) != pid) {
      if (errno == EINTR) continue;
      return;
    }
    if (stopping_) return;
    log->error("managed redis-server (pid {}) exited with status {}; restarting", pid, status);
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    }
    if (stopping_) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    try {
      fs::remove(socket_);
      pid_ = spawn();
    } catch (const std::exception& e) {
      log->error("cannot restart redis-server: {}", e.what());
    }
  }
}

void ManagedRedis::stop() {
  if (stopping_.exchange(true)) return;
  wake_.notify_all();
  int pid = pid_;
  if (pid > 0) {
    ::kill(pid, SIGTERM);  // redis flushes its append-only file and exits
    if (!supervisor_.joinable()) ::waitpid(pid, nullptr, 0);
  }
  if (supervisor_.joinable()) supervisor_.join();
  if (lock_fd_ >= 0) ::close(lock_fd_), lock_fd_ = -1;
}

}  // namespace herald::redis
