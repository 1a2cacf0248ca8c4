// Workload scripts: an SQLite application described in TOML, without C++.
//
//   name = "bank-transfer"
//   [sqlite]      journal_mode, synchronous, page_size, sector_size, device, attach,
//                 foreign_keys (PRAGMA foreign_keys and foreign_key_check; default false),
//                 wal_autocheckpoint (pages; default 1000), cache_size (PRAGMA
//                 cache_size: pages, or KiB if negative; 0 = SQLite's default),
//                 pragmas = ["locking_mode = EXCLUSIVE", ...] (any other PRAGMA,
//                 run on every client connection)
//   [setup]       sql = "..."                 (setup of the single database)
//   [[database]]  name, file, disk, setup     (instead of [setup]: several databases)
//   [disks]       count, group = "atomic" | "sequential"
//   [clients]     count, transactions         (per client)
//   [[transaction]] name, params = { x = "int(1,4)" | "choice(a,b)" | "text(8)" },
//                 steps = ["SQL", { sql = "...", db = "sales", capture = "n",
//                           client_visible = false, on_error = "fail" | "rollback" }, ...]
//                 (on_error = "rollback": a failing statement is a business
//                 rollback, not acknowledged; the client goes on; client_visible:
//                 the captured value is an identifier the client is handed with
//                 the acknowledgement, such as an invoice number: --model memory
//                 counts it reissued when a revert hands it out again)
//   [[invariant]] name, sql (one row, true), db
//                 or, per key: name, per = "table.column", also = ["table.column", ...],
//                 check = "a condition on one row of per's table" (a NULL check holds,
//                 as in a CHECK constraint), db. The promise: the check of the row
//                 whose per column is k reads only rows of the tables named whose
//                 column is k. Each restored state is then checked only for the keys
//                 whose rows changed since the last state checked, with the answer of
//                 a check of every row (sql_app.cc, KeyedInvariants); a whole-database
//                 invariant re-reads the database at every state. Refused at setup: a
//                 check that reads a table not named, a WITHOUT ROWID table, a table
//                 with generated columns, file_* calls.
//   [[file]]      name, content (templates with {param}), when = "before_commit" |
//                 "after_commit", disk, fsync, fsync_dir, transaction (the one
//                 transaction that writes it; default every one), check = "exact" |
//                 "exists" | "none" (how it counts in the commit oracle's state)
//   [quiesce]     the application's own pre-freeze hook (--quiesce hook): pre_freeze =
//                 ["SQL", ...] (on its own connection, contending for locks), post_thaw
//                 (checked, not run: it cannot change the image), drain = false, timeout_ms
//                 = 10000 (simulated), on_failure = "fail" | "crash_consistent"
//   [recovery]    sql = "..." or [...]: the application's recovery, on every restored
//                 image after SQLite's, before the checks; file_write(name, text),
//                 file_delete(name), file_list(glob) work only here
//   [memory]      what the clients tolerate after a memory-snapshot revert (--model
//                 memory): lock_wait_tolerance_ms = 30000 (a longer wait on a dead
//                 session's lock is blocked_session), reverted_acknowledged =
//                 "tolerated" | "failure"
//   [limits]      max_files, max_file_blocks
//   [fs]          mode = "ext4" | "nojournal", data = "ordered" | "writeback",
//                 disk_mb (each disk's size, 16 to 65536, default 1024): the guest file
//                 system the application runs on (--fs / --fs-data override)
//
// `-p key=value` overrides any scalar setting by its dotted path
// (sqlite.journal_mode, clients.count, ...) or by the short names
// journal_mode, synchronous, page_size, sector_size, device, attach, clients,
// transactions, group, cache_size (also quiesce.drain, quiesce.timeout_ms,
// quiesce.on_failure).
//
// Every mistake is one line naming the file, the line (where TOML has one)
// and the key: syntax errors, unknown keys, wrong types, missing required
// keys, bad generators, SQL that fails to prepare, parameters that are never
// defined. Statically checkable problems are reported before anything runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "workloads/sql_app.h"

namespace snapsim::workloads {

// True if `name` looks like a script path (ends in .toml).
bool is_script_path(const std::string& name);

// Parses a script (text given, `path` for messages) into a spec.
Result<SqlSpec> parse_script(const std::string& text, const std::string& path,
                             const std::vector<std::string>& overrides);

// Reads, parses and wraps a script as a Workload.
Result<std::unique_ptr<Workload>> load_script(const std::string& path,
                                              const std::vector<std::string>& overrides);

// A built-in workload by name, or a script when `name` ends in .toml.
Result<std::unique_ptr<Workload>> load_workload(const std::string& name,
                                                const std::vector<std::string>& overrides);

}  // namespace snapsim::workloads
