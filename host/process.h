// Process workloads: a vendor's real, unmodified program, described by a
// TOML script with a [process] table instead of SQL.
//
//   name = "orders-sqlite3"
//   [process]
//   setup = "sqlite3 shop.db < $SNAPSIM_FILES/schema.sql"  # once; durable before exploring
//   server = ""          # optional long-running server, with ready = "cmd" polled
//   ready = ""           #   until it exits 0 (ready_timeout_ms) and stop = "cmd"
//   stop = ""
//   files = ["schema.sql", "check.sh"]  # host files next to the script: $SNAPSIM_FILES
//   user = ""            # run every command as this host user (needs root)
//   seed = 1             # the recording's schedule and parameter values
//   timeout_ms = 60000   # per setup or transaction command
//   vars = { mode = "wal" }  # {mode} in every command; -p mode=delete overrides
//   [clients]
//   count = 2
//   transactions = 3
//   [[transaction]]
//   name = "order"
//   params = { item = "int(1,5)", qty = "int(1,3)" }
//   run = "sqlite3 shop.db \"...{item}...{qty}...\""
//   [check]
//   run = "sh $SNAPSIM_FILES/check.sh"  # in the restored image; exit 0 = consistent
//   committed = "sqlite3 shop.db 'SELECT count(*) FROM orders'"  # optional (or the
//                        # check prints "committed: N")
//   recover = ""         # the application's recovery, run before the check; a
//                        # point whose image it changed is `recovered`
//   timeout_ms = 10000
//   [quiesce]            # the program's pre-freeze hook (--quiesce hook)
//   pre_freeze = ["sqlite3 shop.db 'PRAGMA wal_checkpoint(TRUNCATE)'"]
//   drain = true         # required: a hook cannot run inside a recorded command
//   timeout_ms = 10000   # simulated: the drain and the hook's requests
//   on_failure = "fail"  # or "crash_consistent"
//   [fs]
//   mode = "ext4"        # ext4 | nojournal (--fs overrides at exploration)
//   data = "ordered"
//   disk_mb = 1024
//
// Recording (record_process): a fresh simulated machine's guest file system
// is mounted through FUSE (host/fuse_fs.h) on a private host directory; the
// setup runs there, then the clients' transactions one at a time, in an
// order drawn from `seed` (each client's k-th transaction is
// transaction[(client + k) % count], its parameters drawn per run). Every
// command runs with the mount as its working directory and SNAPSIM_DIR (the
// mount), SNAPSIM_FILES (the shipped files), SNAPSIM_RUN (a private
// directory outside the guest for sockets and pid files), SNAPSIM_CLIENT,
// SNAPSIM_TXN set; `{param}`, `{client}` and
// `{txn}` in `run` are replaced ("{{" and "}}" are literal braces; a brace
// pair around anything but a name, as in awk '{print $1}', stays). A transaction is acknowledged when its
// command exits 0. The check must pass on the image before any
// transaction. Mistakes are one-line errors (exit status 2): a setup that
// fails, a missing file, a command not found, a check that fails on the
// initial image, a mount that cannot be made.
//
// The hook: after setup and after each transaction, the recorder replays
// the recording so far onto a copy of the guest, mounts the copy and runs
// the pre_freeze commands there, recording their requests as that moment's
// hook segment; the main run never sees them. At `--quiesce hook` a
// snapshot requested inside transaction k drains to its end, then replays
// segment k (the hook's requests, in simulated time) and freezes.
// A workload with a server needs its hook to talk to the live server (a
// CHECKPOINT): its commands run on the live mount after the server is ready
// and after each transaction, so their requests are part of the main run
// (between hook-begin and hook-end markers) and every level sees a server
// whose hook ran at every transaction boundary, as under an agent that
// snapshots after every transaction. At `--quiesce hook` the drained fork
// replays the run on through the next hook's end (or, past the last hook
// of this boundary, freezes at once) and freezes.
//
// Exploration (ProcessWorkload): the recording is replayed
// (host/replay.h) through the page cache, the guest file system and the
// COW disk under the run's seed, writeback policy and file-system mode, one
// request per scheduler step; transactions keep their recorded order. Each
// image to judge is exported to a private host directory (recovery may
// write to it, never to the image) and the check runs there, with
// SNAPSIM_DIR, SNAPSIM_FILES and a fresh SNAPSIM_RUN. Its verdict:
// a last output line `verdict: NAME detail` names one of the seven; else
// exit 0 is consistent and any other exit invariant_violation with the last
// line as detail; a timeout is unrecoverable. The count of transactions the
// image holds, from a `committed: N` line of the check's output or else from
// the `committed` command's last line, feeds the generic commit oracle:
// fewer than acknowledged is lost_committed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host/trace.h"
#include "workloads/workload.h"

namespace snapsim::host {

struct ProcessTxn {
  std::string name;
  std::vector<std::pair<std::string, std::string>> params;  // name, generator
  std::string run;
};

struct ProcessSpec {
  std::string name;
  std::string path;  // the script, for messages
  std::string dir;   // where its files are
  std::string setup, server, ready, stop, user;
  std::vector<std::string> files;
  std::map<std::string, std::string> vars;  // [process] vars, after -p overrides
  uint64_t seed = 1;
  uint32_t timeout_ms = 60000;
  uint32_t ready_timeout_ms = 30000;
  uint32_t clients = 1;
  uint32_t transactions = 1;
  std::vector<ProcessTxn> txns;
  std::string check_run, check_committed, check_recover;
  uint32_t check_timeout_ms = 10000;
  std::string fs_mode = "ext4", fs_data = "ordered";
  uint32_t disk_mb = 1024;
  uint32_t inodes = 65536;
  // [quiesce]: the program's pre-freeze hook (--quiesce hook), commands.
  bool has_hook = false;
  std::vector<std::string> pre_freeze, post_thaw;
  uint64_t hook_timeout_ms = 10000;
  bool hook_crash_consistent = false;
};

// True if the TOML text has a [process] table.
bool is_process_script(const std::string& text);

cow::Result<ProcessSpec> parse_process_script(const std::string& text, const std::string& path,
                                              const std::vector<std::string>& overrides);

// Runs the program on a FUSE mount of a fresh guest and records it.
// `progress`, if set, gets one line per command run.
cow::Result<Recording> record_process(const ProcessSpec& spec,
                                      const std::function<void(const std::string&)>& progress = nullptr);

// The workload that replays `recording` and judges images with its check.
std::unique_ptr<workloads::Workload> make_process_workload(std::shared_ptr<const Recording> recording);

// A saved recording (FILE.trace). Parameters cannot change a recording:
// any override is an error.
cow::Result<std::unique_ptr<workloads::Workload>> load_trace(const std::string& path,
                                                             const std::vector<std::string>& overrides);

// Any workload: a built-in name, a script (.toml: SQL, or a process script,
// which is recorded now), or a saved recording (.trace). `progress` gets a
// line per command a recording runs.
cow::Result<std::unique_ptr<workloads::Workload>> load_workload(
    const std::string& name, const std::vector<std::string>& overrides,
    const std::function<void(const std::string&)>& progress = nullptr);
// True for a name load_workload() reads from a file (.toml or .trace).
bool is_workload_file(const std::string& name);

// Check and committed commands this process has run (a benchmark counter).
uint64_t checks_run();

// The recording of a process workload (nullptr for any other workload).
std::shared_ptr<const Recording> recording_of(const workloads::Workload& w);

}  // namespace snapsim::host
