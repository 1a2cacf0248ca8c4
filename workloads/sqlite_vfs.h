// SqliteVfs: an sqlite3_vfs whose files live on the simulated machine.
//
// Main databases, rollback journals, WALs and super-journals are simfs files
// on the machine's disks; temporary files (temp databases, statement
// journals, files SQLite opens without a name) live in memory, as they
// would in a tmpfs that does not survive a reboot. Paths are "/<disk>/<name>"
// ("/0/invoice.db"); a path without a disk number is on disk 0.
//
// Durability is exactly the unix VFS's (src/os_unix.c), because SQLite's
// recovery protocol depends on it:
//   - xSync(NORMAL|FULL) is fsync, xSync(DATAONLY) fdatasync;
//   - a rollback journal, WAL or super-journal opened with SQLITE_OPEN_CREATE
//     gets its directory synced on its first xSync (UNIXFILE_DIRSYNC);
//   - xDelete syncs the directory only when SQLite passes dirSync (it does
//     with synchronous=EXTRA);
//   - nothing else becomes durable unless the page cache writes it back.
// xAccess(EXISTS) reports a zero-length file as absent, as unixAccess does.
//
// Locking: the five SQLite lock levels per file, shared by every connection
// of one machine, with unix semantics (PENDING blocks new SHARED locks).
// Shared memory (WAL index) is memory only and starts zeroed on every
// machine, so a restored image rebuilds it from the WAL, as after a reboot.
//
// Sector size and device characteristics (SQLITE_IOCAP_*) are options, as in
// SQLite's own crash-test VFS (src/test6.c): claiming a property the
// simulated disk lacks (e.g. ATOMIC) shows what SQLite does when it trusts
// it. Randomness, sleep and time come from the machine's Prng and SimClock.
// No C++ exception crosses into SQLite: failures become SQLITE_IOERR_*
// codes, and a full block pool or file system becomes SQLITE_FULL.
#pragma once

#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sim/machine.h"
#include "workloads/workload.h"

namespace snapsim::workloads {

struct VfsOptions {
  int sector_size = 4096;
  int device_characteristics = 0;  // SQLITE_IOCAP_* flags
};

// "atomic+safe_append" -> flags; "none" -> 0. Errors name the bad flag.
Result<int> parse_device_flags(const std::string& text);

struct VfsCounters {
  uint64_t writes = 0;     // xWrite on simfs files
  uint64_t truncates = 0;
  uint64_t deletes = 0;
  uint64_t syncs = 0;
};

class SqliteVfs {
 public:
  // Registers a VFS with a process-unique name. REQUIRES: `machine`
  // outlives this object, and this object outlives every connection using it.
  SqliteVfs(sim::Machine& machine, const VfsOptions& options);
  ~SqliteVfs();
  SqliteVfs(const SqliteVfs&) = delete;
  SqliteVfs& operator=(const SqliteVfs&) = delete;

  const std::string& name() const { return name_; }
  sim::Machine& machine() { return machine_; }
  const VfsOptions& options() const { return options_; }
  const VfsCounters& counters() const { return counters_; }
  // Why the last SQLITE_FULL was returned (empty if never).
  // Why SQLite last saw SQLITE_FULL (a full pool, a file-size limit): the
  // status the file system returned.
  const std::string& full_reason() const { return full_.message(); }
  const cow::Status& full() const { return full_; }
  void set_full(cow::Status st) { full_ = std::move(st); }
  // The WAL bytes SQLite uses for database `file` on `disk`, read from the
  // wal-index header its recovery built in shared memory (SQLite's file
  // format documentation, "The WAL-Index Format": mxFrame, the last valid
  // frame, and szPage): the 32-byte WAL header and frames 1..mxFrame. No
  // value while no connection maps a wal-index for that database.
  std::optional<uint64_t> wal_bytes_used(uint32_t disk, const std::string& file) const;

  // Implementation details shared with the C callbacks in sqlite_vfs.cc.
  struct Lock {
    int shared = 0;
    const void* reserved = nullptr;
    const void* pending = nullptr;
    const void* exclusive = nullptr;
  };
  struct Shm {
    std::vector<std::unique_ptr<char[]>> regions;
    int region_size = 0;
    int shared[SQLITE_SHM_NLOCK] = {};
    const void* exclusive[SQLITE_SHM_NLOCK] = {};
    int users = 0;
  };
  Lock& lock(const std::string& key) { return locks_[key]; }
  Shm& shm(const std::string& key) { return shm_[key]; }
  void drop_shm(const std::string& key) { shm_.erase(key); }
  VfsCounters& mutable_counters() { return counters_; }
  sim::Prng& prng() { return prng_; }

 private:
  sim::Machine& machine_;
  VfsOptions options_;
  std::string name_;
  sqlite3_vfs vfs_{};
  sim::Prng prng_;
  std::map<std::string, Lock> locks_;
  std::map<std::string, Shm> shm_;
  VfsCounters counters_;
  cow::Status full_;
};

// Splits "/<disk>/<name>" into (disk, name).
std::pair<uint32_t, std::string> split_vfs_path(const std::string& path);

}  // namespace snapsim::workloads
