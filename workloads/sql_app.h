// SqlApp: a generic SQLite application run in the simulator, described by a
// SqlSpec. The built-in SQLite invoice workloads are SqlSpecs built in C++;
// workload scripts (TOML) are SqlSpecs read from a file.
//
// One transaction of one client, each item one scheduler step:
//   BEGIN IMMEDIATE on every connection the transaction uses (SQLITE_BUSY:
//   the client is blocked and retries after another client progresses, on
//   the simulated clock), each SQL step, the files to write before commit,
//   COMMIT per connection (attached databases commit together), the files to
//   write after commit; then the client reads the whole logical state and
//   acknowledges the commit to the oracle.
// Steps may capture the first column of their first row into a variable
// (`capture = "n"`), usable as :n in later SQL and {n} in file templates;
// parameters drawn per transaction (int(lo,hi), choice(a,b,c), text(n)) are
// usable the same way, as are {client} and {txn}.
//
// A restored image is opened with the same VFS (SQLite's own recovery runs:
// hot-journal rollback, WAL replay), then checked: PRAGMA integrity_check and
// foreign_key_check (corrupt), the invariants (each a query returning one
// row whose first column is true), and the digest (every table's rows in a
// canonical order, plus the files outside the databases). SQL functions
// file_exists(name), file_count(glob) and file_content(name) let invariants
// look at files outside the databases.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "cow/content_hash.h"
#include "workloads/sqlite_pages.h"
#include "workloads/sqlite_vfs.h"
#include "workloads/workload.h"

namespace snapsim::workloads {

struct SqlDatabase {
  std::string name;    // alias in SQL ("main" for the first)
  std::string file;    // simfs file name, e.g. "sales.db"
  uint32_t disk = 0;
  std::string setup;   // SQL run once at setup
};

struct SqlStep {
  std::string sql;
  std::string db;       // which database's connection runs it (unattached); "" = first
  std::string capture;  // variable receiving column 0 of row 0, "" = none
  // The captured value is handed to the client with the acknowledgement
  // (an invoice number): a client-visible identifier (--model memory).
  bool client_visible = false;
  // on_error = "rollback": a failing statement (a CHECK, no stock) is a
  // business rollback: the transaction is rolled back and not acknowledged,
  // and the client goes on with its next one. Otherwise an error stops the run.
  bool rollback_on_error = false;
};

struct SqlParam {
  std::string name;
  std::string generator;  // int(lo,hi) | choice(a,b,...) | text(n)
};

struct SqlTransaction {
  std::string name;
  std::vector<SqlParam> params;
  std::vector<SqlStep> steps;
};

struct SqlInvariant {
  std::string name;
  std::string sql;
  std::string db;  // "" = first
  // A per-key invariant (per_key_invariant() fills these and derives `sql`):
  // `check` holds on every row of `per_table`, and on the row whose
  // `per_column` is k it reads only rows of `per_table` and of the `also`
  // tables whose named column is k. A state is then checked only where its
  // keys changed since the last state checked (sql_app.cc, KeyedInvariants),
  // with the same answer as `sql` from scratch; the declaration is the
  // author's promise, and the tables the check reads are verified against
  // it when the workload is set up.
  std::string per_table, per_column;
  std::vector<std::pair<std::string, std::string>> also;  // (table, column)
  std::string check;
};

// A per-key invariant from "table.column" names: `sql` is
// SELECT NOT EXISTS (SELECT 1 FROM "table" WHERE NOT (check)), so, as with
// a CHECK constraint, a check that is NULL holds. Malformed names are
// reported by validate_spec().
SqlInvariant per_key_invariant(std::string name, const std::string& per, const std::vector<std::string>& also,
                               std::string check, std::string db = "");

struct SqlFile {
  std::string name;     // template, e.g. "invoice-{n}.txt"
  std::string content;  // template
  bool after_commit = true;
  uint32_t disk = 0;
  bool fsync = true;
  bool fsync_dir = false;   // also fsync its directory (a new name is durable only then)
  std::string transaction;  // the transaction that writes it ("" = every one)
  // How the file counts in the state the commit oracle compares: "exact"
  // (name and content), "exists" (its name only), "none" (not at all: an
  // orphan the recovery cleans up is tolerated). Files no [[file]] names
  // count exactly.
  std::string check = "exact";
};

struct SqlSpec {
  std::string name;
  std::string journal_mode = "delete";
  std::string synchronous = "full";
  int page_size = 4096;
  int sector_size = 4096;
  std::string device = "none";
  bool attach = true;             // one connection with the others ATTACHed
  // PRAGMA foreign_keys on every connection, and foreign_key_check when a
  // restored image is inspected. Off by default, as in SQLite.
  bool foreign_keys = false;
  int wal_autocheckpoint = 1000;  // pages; SQLite's default (0 = never)
  // PRAGMA cache_size on every client connection (pages, or KiB if
  // negative; 0 = SQLite's default). A small cache makes SQLite spill dirty
  // pages into the database in the middle of a transaction.
  int cache_size = 0;
  // Further PRAGMAs ("locking_mode = EXCLUSIVE", "cache_spill = 0", ...) run
  // on every client connection after the settings above.
  std::vector<std::string> pragmas;
  std::string group = "atomic";   // disk-group snapshot: atomic | sequential
  uint32_t disks = 1;
  std::vector<SqlDatabase> databases;
  int clients = 1;
  int transactions = 1;           // per client
  std::vector<SqlTransaction> txns;  // client c's k-th transaction uses txns[(c + k) % size]
  std::vector<SqlInvariant> invariants;
  std::vector<SqlFile> files;
  uint32_t max_files = 64;
  uint32_t max_file_blocks = 4096;
  // The guest file system ([fs]; --fs and --fs-data override).
  std::string fs_mode = "ext4";     // ext4 | nojournal
  std::string fs_data = "ordered";  // ordered | writeback (ext4)
  uint32_t disk_mb = 1024;          // each disk's size
  // [quiesce]: the application's own pre-freeze hook (the `hook` level).
  // pre_freeze statements run on their own connection (every database
  // attached), one scheduler step each, contending for locks with the
  // clients; post_thaw statements would run after the snapshot and cannot
  // change it, so they are checked but not run.
  // [memory]: what the clients tolerate after a memory-snapshot revert.
  uint64_t lock_wait_tolerance_ms = 30000;
  bool reverted_is_failure = false;
  bool has_hook = false;
  std::vector<std::string> pre_freeze, post_thaw;
  bool hook_drain = false;
  uint64_t hook_timeout_ms = 10000;
  bool hook_crash_consistent = false;  // on_failure = "crash_consistent" (else "fail")
  // [recovery]: the application's own recovery, SQL run on every restored
  // image after SQLite's (hot journal rollback, WAL replay) and before the
  // checks, on a connection with every database attached. Besides
  // file_exists/file_count/file_content it may call file_write(name, text),
  // file_delete(name) and file_list(glob) (a JSON array of names) to
  // regenerate missing files or delete orphans. A point whose recovery
  // changed a row or a file is `recovered`.
  std::vector<std::string> recovery;
};

// A parameter generator (int(lo,hi), choice(a,b,...), text(n)), as scripts
// write it: checked, and one value drawn as text (process scripts use them).
Status check_generator(const std::string& generator);
Result<std::string> draw_param(const std::string& generator, sim::Prng& prng);

// Checks a spec for mistakes a script author can make (names, generators,
// modes); the error names the item.
Status validate_spec(const SqlSpec& spec);

struct Writers;  // the application's write-lock table (sql_app.cc)
class KeyedInvariants;  // per-key invariants' last state (sql_app.cc)

// The database files as the live run left them after each acknowledged
// commit: one hash of every database's main file (content and size), taken
// when no WAL has frames in use. A restored image whose database files,
// after SQLite's recovery, equal one of these bytewise holds a state SQLite
// itself wrote in normal operation; SqlApp::inspect() skips SQLite's
// structural checks there (see structural_checks_trusted in sql_app.cc).
class LiveCommitFiles {
 public:
  void add(const cow::Hash128& h) {
    if (!stopped_) states_.insert(h);
  }
  bool contains(const cow::Hash128& h) const { return states_.count(h) != 0; }
  size_t size() const { return states_.size(); }
  // The live run wrote a database file around SQLite: the states recorded
  // so far stay SQLite's own, no later one is recorded.
  void stop() { stopped_ = true; }

 private:
  std::unordered_set<cow::Hash128, cow::Hash128Hasher> states_;
  bool stopped_ = false;
};

class SqlApp : public Workload {
 public:
  SqlApp(SqlSpec spec, Params params);
  std::string name() const override { return spec_.name; }
  const Params& params() const override { return params_; }
  const SqlSpec& spec() const { return spec_; }
  uint64_t planned_transactions() const override {
    return static_cast<uint64_t>(spec_.clients) * static_cast<uint64_t>(spec_.transactions);
  }

  sim::MachineConfig machine_config() const override;
  std::optional<explore::HookSpec> hook_spec() const override;
  Result<std::unique_ptr<sim::Client>> make_hook(sim::Machine& m) override;
  Status setup(sim::Machine& m) override;
  Result<explore::Digest> digest(sim::Machine& m) override;
  Result<std::pair<explore::Digest, explore::Digest>> digests(sim::Machine& m) override;
  Result<std::vector<std::unique_ptr<sim::Client>>> make_clients(sim::Machine& m,
                                                                 explore::CommitLog& log) override;
  explore::AppState inspect(sim::Machine& restored, explore::CheckMemo* memo) override;
  std::optional<explore::MemorySpec> memory_spec() const override {
    return explore::MemorySpec{spec_.lock_wait_tolerance_ms, spec_.reverted_is_failure};
  }
  Result<std::vector<std::unique_ptr<sim::Client>>> make_revert_clients(sim::Machine& m, explore::CommitLog& log,
                                                                        uint32_t first_id,
                                                                        const std::vector<uint32_t>& txns,
                                                                        sim::Prng prng) override;
  // Tests: read every table through SQL instead of from its pages
  // (sqlite_pages.h); or read both and compare (PageDigests::verify).
  void set_digest_via_sql(bool on) { digest_via_sql_ = on; }
  PageDigests& pages() { return *pages_; }
  // Tests: how many inspections skipped integrity_check and
  // foreign_key_check because the recovered database files equal a live
  // commit state's (inspect()); and whether this spec allows it at all.
  uint64_t structural_checks_skipped() const { return structural_skipped_; }
  bool trusts_live_states() const { return trust_live_states_; }
  size_t live_states_recorded() const { return live_files_->size(); }
  // Tests: trust the live states whatever the spec does (to show that the
  // refusals in structural_checks_trusted matter).
  void force_trust_live_states() { trust_live_states_ = forced_trust_ = true; }
  // Tests: per-key invariants evaluated only where keys changed, and how
  // many evaluations went that way (the rest ran in full).
  uint64_t keyed_incremental_evaluations() const;

 private:
  SqlSpec spec_;
  Params params_;
  // A check can see files: an invariant calls a file_* function, or a
  // [[file]] is checked (inspect() keys recovered states by what checks see).
  bool checks_see_files_;
  // The VFS of the execution under way (its clients' locks), for the hook.
  std::shared_ptr<SqliteVfs> live_vfs_;
  std::shared_ptr<Writers> live_writers_;  // and their write-lock table
  bool digest_via_sql_ = false;
  std::shared_ptr<PageDigests> pages_ = std::make_shared<PageDigests>();  // leaf pages seen, by their bytes
  PageDigests* page_digests() { return digest_via_sql_ ? nullptr : pages_.get(); }
  // Nothing the live run does can leave a database SQLite's checks would
  // reject (structural_checks_trusted, sql_app.cc, and setup() checks the
  // initial state, which the setup SQL wrote); then the files of every
  // acknowledged commit are recorded, and an inspection skips SQLite's
  // structural checks of a recovered state equal to one of them.
  bool trust_live_states_;
  bool forced_trust_ = false;
  std::shared_ptr<KeyedInvariants> keyed_;  // set up by setup(); null: no per-key invariant
  std::shared_ptr<LiveCommitFiles> live_files_ = std::make_shared<LiveCommitFiles>();
  uint64_t structural_skipped_ = 0;
};

}  // namespace snapsim::workloads
