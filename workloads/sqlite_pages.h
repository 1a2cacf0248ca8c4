// The rows of an SQLite database read from its b-tree pages, for the logical
// digest (sql_app.cc), at a cost proportional to what changed.
//
// SQLite's checks of a recovered state used to read every row through SQL
// ("SELECT * FROM t"), at every distinct state: the whole database per
// commit, so a run of N commits cost N x its size. Here each table's digest
// is the sum (mod 2^128) of one hash per row, and each b-tree leaf page's
// share of that sum is memoised by the page's bytes: a commit changes a few
// pages, and only those are parsed again. The pages are read as SQLite reads
// them after its recovery (SQLite's file format documentation, "Database
// File Format"): the newest WAL frame of a page at or below the last valid
// commit (mxFrame, from the wal-index the recovery built), else the main
// file.
//
// A row's hash covers its rowid and its record exactly as stored (header and
// values): two states digest equal when they hold the same rows with the
// same stored records, in any page layout. A restored state's records are
// always bytes some live state wrote (a rollback restores whole pages, a WAL
// holds whole pages), so this is the equality the commit oracle needs.
// WITHOUT ROWID tables (index b-trees) hash each entry's record. Anything
// that does not parse (a malformed page, a pointer out of range, a cycle, a
// record whose header does not fit) is reported as such, and the caller
// reads the database through SQL instead, which names the damage as SQLite
// sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "explore/scenario.h"
#include "sim/guest_fs.h"

namespace snapsim::workloads {

struct TableRows {
  std::string name;
  uint64_t rows = 0;
  explore::Digest digest;  // sum of the rows' hashes
};

// A value of a row's column as stored, for the keys of per-key invariants
// (sql_app.cc): an integer or UTF-8 text; kNull for NULL; kOther for
// anything else (a real, a blob, text in UTF-16, a column past the end of
// the record), which the caller cannot name as a key.
struct RowKey {
  enum Kind : uint8_t { kInt, kText, kNull, kOther };
  Kind kind = kOther;
  int64_t i = 0;
  std::string s;
  friend bool operator==(const RowKey&, const RowKey&) = default;
  friend auto operator<=>(const RowKey& a, const RowKey& b) {
    if (a.kind != b.kind) return a.kind <=> b.kind;
    if (a.i != b.i) return a.i <=> b.i;
    return a.s.compare(b.s) <=> 0;
  }
};

// One row of a table: the hash of its rowid and record (as the digest's),
// and the values of the columns asked for.
struct KeyedRow {
  explore::Digest hash;
  std::vector<RowKey> keys;
};

// One leaf page of a table b-tree: its key (the hash of its bytes; of its
// bytes and its rows' hashes when a row spills onto overflow pages, whose
// bytes the page does not hold), and its rows when the caller did not know
// the key.
struct LeafPage {
  explore::Digest key;
  bool fresh = false;
  std::vector<KeyedRow> rows;  // only when fresh
};

// What table_pages() reads of one table.
struct TableRequest {
  std::string table;
  std::string sql;           // its CREATE TABLE as sqlite_schema holds it: any other is refused
  std::vector<int> columns;  // record indexes of the key columns; -1: the rowid
};

class PageDigests {
 public:
  // Every table of the database in `file` on `fs` whose name does not start
  // with "sqlite_", by name (bytewise, as ORDER BY name), with its rows.
  // `wal_bytes`: the WAL bytes SQLite uses (SqliteVfs::wal_bytes_used), or
  // none when no wal-index says. No value when a page does not parse, or a
  // WAL has frames but no wal-index says how many count.
  std::optional<std::vector<TableRows>> tables(sim::GuestFs& fs, const std::string& file,
                                               std::optional<uint64_t> wal_bytes);

  // The leaf pages of each requested table of the database in `file`, in
  // b-tree order, with the rows of those whose key `known` does not accept
  // (a per-key invariant's change set, sql_app.cc). No value when a page
  // does not parse, a table is missing, is not a rowid table, or its
  // CREATE TABLE differs from the request's.
  std::optional<std::vector<std::vector<LeafPage>>> table_pages(
      sim::GuestFs& fs, const std::string& file, std::optional<uint64_t> wal_bytes,
      const std::vector<TableRequest>& tables, const std::function<bool(size_t, const explore::Digest&)>& known);

  // Tests: the caller also reads every table through SQL and hands both
  // here, which checks that the two digests tell the same states apart:
  // the same tables and row counts, and each table's page digest always
  // paired with one SQL digest and the other way round. mismatch() names
  // the first disagreement (empty: none); pairs() counts what was compared.
  void set_verifying(bool on) { verifying_ = on; }
  bool verifying() const { return verifying_; }
  void verify(const std::vector<TableRows>& from_pages, const std::vector<TableRows>& via_sql);
  const std::string& mismatch() const { return mismatch_; }
  uint64_t pairs() const { return pairs_; }

 private:
  struct Leaf {
    uint64_t rows = 0;
    explore::Digest sum;
  };
  struct KeyHash {
    size_t operator()(const explore::Digest& d) const { return static_cast<size_t>(d.lo ^ (d.hi * 0x9e3779b97f4a7c15ULL)); }
  };
  friend class PageWalk;
  std::unordered_map<explore::Digest, Leaf, KeyHash> leaves_;  // by page bytes (and usable size)
  std::unordered_set<explore::Digest, KeyHash> spilled_;        // leaf pages whose rows spill, by page bytes
  bool verifying_ = false;
  std::unordered_map<explore::Digest, explore::Digest, KeyHash> page_to_sql_, sql_to_page_;
  std::string mismatch_;
  uint64_t pairs_ = 0;
};

}  // namespace snapsim::workloads
