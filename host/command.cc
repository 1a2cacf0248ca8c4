#include "host/command.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

extern char** environ;

namespace snapsim::host {

namespace {

constexpr size_t kKeepOutput = 64 * 1024;

struct Prepared {
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

cow::Result<Prepared> prepare(const Command& c) {
  Prepared p;
  std::vector<std::string> keys;
  for (const auto& [k, v] : c.env) keys.push_back(k + "=");
  for (char** e = environ; *e; ++e) {
    bool overridden = false;
    for (const auto& k : keys) overridden = overridden || std::strncmp(*e, k.c_str(), k.size()) == 0;
    if (!overridden) p.env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : c.env) p.env_strings.push_back(k + "=" + v);
  if (!c.user.empty()) {
    passwd* pw = ::getpwnam(c.user.c_str());
    if (!pw) return Status::invalid_argument(fmt::format("user '{}' does not exist on this host", c.user));
    p.switch_user = true;
    p.uid = pw->pw_uid;
    p.gid = pw->pw_gid;
    int n = 64;
    p.groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(c.user.c_str(), p.gid, p.groups.data(), &n) < 0) {
      p.groups.resize(static_cast<size_t>(n));
      ::getgrouplist(c.user.c_str(), p.gid, p.groups.data(), &n);
    }
    p.groups.resize(static_cast<size_t>(n));
    if (::geteuid() != 0 && ::geteuid() != p.uid) {
      return Status::invalid_argument(fmt::format("running commands as user '{}' needs root", c.user));
    }
    p.env_strings.push_back("USER=" + c.user);
    p.env_strings.push_back(std::string("HOME=") + pw->pw_dir);
  }
  for (auto& s : p.env_strings) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  return p;
}

// In the child, after fork(): async-signal-safe calls only.
[[noreturn]] void exec_child(const Command& c, const Prepared& p, int out_fd) {
  ::setpgid(0, 0);
  const int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  if (out_fd >= 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
  } else if (null >= 0) {
    const int w = ::open("/dev/null", O_WRONLY);
    ::dup2(w, 1);
    ::dup2(w, 2);
  }
  if (p.switch_user) {
    if (::setgroups(p.groups.size(), p.groups.data()) != 0 || ::setgid(p.gid) != 0 || ::setuid(p.uid) != 0) {
      static const char msg[] = "snapsim: cannot switch user\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(126);
    }
  }
  if (::chdir(c.cwd.c_str()) != 0) {
    static const char msg[] = "snapsim: cannot enter the working directory\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(126);
  }
  const char* argv[] = {"sh", "-c", c.command.c_str(), nullptr};
  ::execve("/bin/sh", const_cast<char* const*>(argv), p.envp.data());
  ::_exit(127);
}

int decode_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255; }

}  // namespace

std::string CommandResult::last_line() const {
  size_t end = output.size();
  while (end > 0) {
    while (end > 0 && (output[end - 1] == '\n' || output[end - 1] == '\r' || output[end - 1] == ' ')) --end;
    size_t begin = output.rfind('\n', end == 0 ? 0 : end - 1);
    begin = begin == std::string::npos ? 0 : begin + 1;
    if (end > begin) {
      // One line for people and reports: control bytes and bytes that are
      // not UTF-8 become '?'.
      const std::string raw = output.substr(begin, end - begin);
      std::string line;
      for (size_t i = 0; i < raw.size();) {
        const auto b = static_cast<unsigned char>(raw[i]);
        size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
        bool ok = n > 0 && i + n <= raw.size();
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(raw[i + k]) >> 6) == 0x2;
        if (!ok) {
          line += '?';
          ++i;
        } else if (n == 1 && b < 0x20 && b != '\t') {
          line += '?';
          ++i;
        } else {
          line.append(raw, i, n);
          i += n;
        }
      }
      return line;
    }
    if (begin == 0) break;
    end = begin;
  }
  return {};
}

std::string describe_exit(const CommandResult& r, uint32_t timeout_ms) {
  if (r.timed_out) return fmt::format("timed out after {} ms", timeout_ms);
  if (r.exit_status > 128) return fmt::format("killed by signal {}", r.exit_status - 128);
  if (r.exit_status == 127) return "exit status 127 (command not found)";
  return fmt::format("exit status {}", r.exit_status);
}

cow::Result<CommandResult> run_command(const Command& c) {
  auto p = prepare(c);
  if (!p) return p.status();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::error(cow::Code::kIoError, fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::error(cow::Code::kIoError, fmt::format("cannot fork: {}", std::strerror(errno)));
  }
  if (pid == 0) exec_child(c, *p, fds[1]);
  ::close(fds[1]);
  ::setpgid(pid, pid);  // also from here, so a kill never misses the group
  CommandResult r;
  const auto deadline = start + std::chrono::milliseconds(c.timeout_ms);
  bool exited = false;
  int status = 0;
  char buf[16384];
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    const int wait_ms = static_cast<int>(
        std::min<int64_t>(20, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
    pollfd pfd{fds[0], POLLIN, 0};
    const int n = ::poll(&pfd, 1, wait_ms);
    if (n > 0) {
      const ssize_t got = ::read(fds[0], buf, sizeof buf);
      if (got > 0) {
        r.output.append(buf, static_cast<size_t>(got));
        if (r.output.size() > 2 * kKeepOutput) r.output.erase(0, r.output.size() - kKeepOutput);
        continue;
      }
      if (got == 0) break;  // every writer closed
    }
    // A child that started a daemon may leave the pipe open: stop at its exit.
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
      ssize_t got;
      while ((got = ::read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(got));
      break;
    }
  }
  ::close(fds[0]);
  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // Whatever the command left running in its process group (a daemon it
  // started, a stray child) ends with it.
  ::kill(-pid, SIGKILL);
  if (r.output.size() > kKeepOutput) r.output.erase(0, r.output.size() - kKeepOutput);
  r.exit_status = r.timed_out ? 128 + SIGKILL : decode_status(status);
  r.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return r;
}

cow::Result<Background> Background::start(const Command& c) {
  auto p = prepare(c);
  if (!p) return p.status();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::error(cow::Code::kIoError, fmt::format("cannot fork: {}", std::strerror(errno)));
  if (pid == 0) exec_child(c, *p, -1);
  ::setpgid(pid, pid);
  Background b;
  b.pid_ = pid;
  return b;
}

Background& Background::operator=(Background&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) stop(0);
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

Background::~Background() {
  if (pid_ > 0) stop(0);
}

bool Background::running() {
  if (pid_ <= 0) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
    ::kill(-pid_, SIGKILL);
    pid_ = -1;
    return false;
  }
  return true;
}

int Background::stop(uint32_t grace_ms) {
  if (pid_ <= 0) return decode_status(status_);
  ::kill(-pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
      ::kill(-pid_, SIGKILL);
      pid_ = -1;
      return decode_status(status_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, &status_, 0);
  pid_ = -1;
  return decode_status(status_);
}

}  // namespace snapsim::host
