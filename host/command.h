// Running the host commands of a process workload: `sh -c COMMAND` in a
// working directory, with extra environment variables, optionally as
// another user, with a wall-clock timeout that kills the command's whole
// process group. Output (stdout and stderr together) is kept, its last
// 64 KiB.
//
// The caller may have other threads (the FUSE server): everything that is
// not async-signal-safe (user lookup, the environment) is prepared before
// fork().
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cow/status.h"

namespace snapsim::host {

using cow::Result;
using cow::Status;

struct Command {
  std::string command;  // run by /bin/sh -c
  std::string cwd;
  std::vector<std::pair<std::string, std::string>> env;  // added to snapsim's own
  uint32_t timeout_ms = 10000;
  std::string user;  // "" = snapsim's own user; else a user name (needs root)
};

struct CommandResult {
  int exit_status = 0;     // the exit status, or 128 + signal
  bool timed_out = false;  // killed after timeout_ms
  std::string output;      // stdout and stderr, at most the last 64 KiB
  double wall_ms = 0;
  // The last non-empty line of output ("" when none).
  std::string last_line() const;
};

// Runs the command to its end (or its timeout); then kills what is left of
// its process group (a program that must outlive its command is a
// [process] server). Fails only when it cannot
// be started (unknown user, fork failure); a command that is not found is
// exit status 127, as from the shell.
cow::Result<CommandResult> run_command(const Command& c);

// A long-running command (a server), in its own process group.
class Background {
 public:
  static cow::Result<Background> start(const Command& c);
  Background() = default;
  Background(Background&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Background& operator=(Background&& o) noexcept;
  ~Background();
  bool running();
  // SIGTERM to the process group, then SIGKILL after grace_ms; the exit status.
  int stop(uint32_t grace_ms = 5000);

 private:
  int pid_ = -1;
  int status_ = 0;
};

// "exit status 3", "killed by signal 9", "timed out after 10000 ms".
std::string describe_exit(const CommandResult& r, uint32_t timeout_ms);

}  // namespace snapsim::host
