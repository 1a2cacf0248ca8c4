// FuseMount: the guest file system of a live simulated machine, mounted on a
// host directory through FUSE (libfuse3's low-level API), so that real,
// unmodified programs run on it. Every request goes to sim::GuestFs through
// the guest page cache and is appended, with its bytes and the errno the
// guest answered, to the recording (host/trace.h).
//
// The kernel must not hide a write or a sync from the model:
//   - no writeback cache (FUSE_CAP_WRITEBACK_CACHE off): every write(2)
//     reaches the server before it returns, with its own offset and bytes;
//     pages dirtied through a shared mmap (SQLite's -shm) are written
//     through at msync, fsync, munmap or close at the latest;
//   - fsync and fsyncdir are implemented (an ENOSYS would make the kernel
//     treat every later fsync as a success without asking);
//   - attribute and entry timeouts are 0, and O_TRUNC arrives as a setattr
//     (FUSE_CAP_ATOMIC_O_TRUNC off), so each is a request of its own.
// File locks (fcntl, flock) are left to the kernel, which keeps them for
// the one host. Owners and modes are the guest's: the mount uses
// `default_permissions` (the kernel checks modes against the guest's
// owners) and `allow_other`, so a program running as another user
// (PostgreSQL as `postgres`) can use it.
//
// One thread serves requests in arrival order (fuse_session_loop); the
// machine is touched only under the mount's mutex, so the caller can add
// markers between commands (locked()).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/trace.h"
#include "sim/machine.h"

struct fuse_session;

namespace snapsim::host {

using cow::Result;
using cow::Status;

class FuseMount {
 public:
  // Mounts disk 0 of `machine` on `dir` (an existing directory). Requests are
  // appended to *ops. Errors say what is missing (/dev/fuse, fusermount3,
  // permissions).
  static cow::Result<std::unique_ptr<FuseMount>> mount(sim::Machine& machine, const std::string& dir,
                                                       std::vector<Op>* ops);
  // Unmounts (lazily, if a process still holds files) and stops the server.
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Runs f with no request in flight.
  void locked(const std::function<void()>& f);
  // Files open through the mount now.
  uint32_t open_files() const;
  // Waits until at most `baseline` files are open through the mount (a
  // release reaches the server after close(2) returns, so a command's
  // last releases may follow its exit) or max_ms passed; returns the
  // number still open.
  uint32_t wait_released(uint32_t max_ms, uint32_t baseline = 0);
  uint64_t requests() const { return requests_.load(); }
  const std::string& dir() const { return dir_; }

  // Request handlers (public for the C callbacks in fuse_fs.cc).
  struct Impl;

 private:
  FuseMount() = default;
  std::unique_ptr<Impl> impl_;
  std::string dir_;
  fuse_session* session_ = nullptr;
  std::thread loop_;
  std::atomic<uint64_t> requests_{0};
  bool mounted_ = false;
};

// The libfuse version linked ("3.14.0").
std::string fuse_version();

// Whether FUSE can be used here; an error names what is missing.
cow::Status fuse_available();

}  // namespace snapsim::host
