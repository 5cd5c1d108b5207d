#pragma once
#include <string>

namespace herald::test {

/// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& content) const;
  std::string read(const std::string& name) const;

 private:
  std::string path_;
};

/// A TCP port that was free a moment ago.
int free_port();
/// A free port P ≤ 55535 whose cluster bus port P + 10000 is free too (Redis Cluster).
int free_cluster_port();

}  // namespace herald::test
