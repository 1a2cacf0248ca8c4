#include "reports/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace snapsim::reports {

cow::Status write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return cow::Status::error(cow::Code::kIoError,
                              fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return cow::Status::error(cow::Code::kIoError,
                                fmt::format("cannot write {}: {}", path, std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return cow::Status::error(cow::Code::kIoError,
                              fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return cow::Status::error(cow::Code::kIoError,
                              fmt::format("cannot write {}: {}", path, std::strerror(e)));
  }
  return cow::Status::ok();
}

}  // namespace snapsim::reports
