#include "workloads/sql_app.h"

#include <fnmatch.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <functional>
#include <set>
#include <variant>

#include <fmt/format.h>
#include <xxhash.h>

namespace snapsim::workloads {

// Which client holds each database's write lock (BEGIN IMMEDIATE .. COMMIT),
// mirrored so the scheduler does not offer a client whose BEGIN could only
// find the lock taken; SQLite's own locks stay authoritative (SQLITE_BUSY
// still blocks a client).
struct Writers {
  std::map<size_t, uint32_t> holder;  // database index -> client
};

namespace {

// A typed SQL value: bound to statements, captured from rows, rendered into
// file templates, and hashed into digests.
struct Value {
  int type = SQLITE_NULL;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::string text() const {
    switch (type) {
      case SQLITE_INTEGER: return std::to_string(i);
      case SQLITE_FLOAT: return fmt::format("{}", d);
      case SQLITE_NULL: return "NULL";
      default: return s;
    }
  }
};
using Vars = std::map<std::string, Value>;

Value int_value(int64_t v) { return Value{SQLITE_INTEGER, v, 0, {}}; }
Value text_value(std::string v) { return Value{SQLITE_TEXT, 0, 0, std::move(v)}; }

Value column(sqlite3_stmt* st, int c) {
  Value v;
  v.type = sqlite3_column_type(st, c);
  switch (v.type) {
    case SQLITE_INTEGER: v.i = sqlite3_column_int64(st, c); break;
    case SQLITE_FLOAT: v.d = sqlite3_column_double(st, c); break;
    case SQLITE_NULL: break;
    default: {
      const void* p = sqlite3_column_blob(st, c);
      v.s.assign(static_cast<const char*>(p ? p : ""), sqlite3_column_bytes(st, c));
    }
  }
  return v;
}

// A [[file]] name template as a glob: every {param} becomes *.
std::string template_glob(const std::string& name) {
  std::string g;
  for (size_t i = 0; i < name.size(); ++i) {
    const size_t close = name[i] == '{' ? name.find('}', i) : std::string::npos;
    if (close != std::string::npos) {
      g += '*';
      i = close;
    } else {
      g += name[i];
    }
  }
  return g;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A database's own files: the database, its rollback journal, WAL and
// wal-index, by the suffix SQLite adds to its name.
constexpr const char* kDatabaseFileSuffixes[] = {"", "-journal", "-wal", "-shm"};

// A pragmas entry's name, lower case, with its schema prefix if any
// ("main.cache_size = 5" -> "main.cache_size").
std::string pragma_name(const std::string& p) {
  std::string name;
  for (char ch : p) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.')) break;
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return name;
}

struct Outcome {
  int rc = SQLITE_OK;  // SQLITE_OK, SQLITE_BUSY, or the failing code
  std::string error;
  std::vector<std::vector<Value>> rows;
};

bool is_corruption(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// The files outside the databases, as an invariant sees them.
struct FileView {
  sim::Machine* machine = nullptr;
  // Only the application's [recovery] may write or delete files.
  bool writable = false;
  uint64_t changes = 0;  // files the recovery wrote or deleted
};

// file_write(name, content): the recovery writes a whole file (durably:
// fsync, and its directory when the name is new) on the disk that has it,
// else disk 0. Returns 1.
void fn_file_write(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  if (!view->writable) {
    sqlite3_result_error(ctx, "file_write() is only available in [recovery]", -1);
    return;
  }
  const char* name = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const char* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
  if (!name || !*name) {
    sqlite3_result_error(ctx, "file_write(): empty file name", -1);
    return;
  }
  const std::string content = text ? std::string(text, static_cast<size_t>(sqlite3_value_bytes(argv[1]))) : "";
  uint32_t disk = 0;
  for (uint32_t d = 0; d < view->machine->disk_count(); ++d) {
    if (view->machine->fs(d).exists(name)) disk = d;
  }
  auto& fs = view->machine->fs(disk);
  const bool existed = fs.exists(name);
  Status st;
  auto ref = fs.open(name, true);
  if (!ref) st = ref.status();
  if (st.is_ok()) st = fs.truncate(*ref, 0);
  if (st.is_ok()) st = fs.write(*ref, 0, std::as_bytes(std::span(content)));
  if (st.is_ok()) st = fs.fsync(*ref);
  if (st.is_ok() && !existed) st = fs.fsync_parent(name);
  if (!st.is_ok()) {
    sqlite3_result_error(ctx, fmt::format("file_write('{}'): {}", name, st.message()).c_str(), -1);
    return;
  }
  ++view->changes;
  sqlite3_result_int(ctx, 1);
}

// file_delete(name): 1 if the file was there and is gone (durably), else 0.
void fn_file_delete(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  if (!view->writable) {
    sqlite3_result_error(ctx, "file_delete() is only available in [recovery]", -1);
    return;
  }
  const char* name = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  for (uint32_t d = 0; name && d < view->machine->disk_count(); ++d) {
    auto& fs = view->machine->fs(d);
    if (!fs.exists(name)) continue;
    Status st = fs.unlink(name);
    if (st.is_ok()) st = fs.fsync_parent(name);
    if (!st.is_ok()) {
      sqlite3_result_error(ctx, fmt::format("file_delete('{}'): {}", name, st.message()).c_str(), -1);
      return;
    }
    ++view->changes;
    sqlite3_result_int(ctx, 1);
    return;
  }
  sqlite3_result_int(ctx, 0);
}

// file_list(glob): the matching files outside the databases, as a JSON
// array of names (sorted): SELECT value FROM json_each(file_list('*.txt')).
void fn_file_list(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  const char* pattern = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  std::set<std::string> names;
  for (uint32_t d = 0; pattern && d < view->machine->disk_count(); ++d) {
    for (const auto& f : view->machine->fs(d).list()) {
      if (fnmatch(pattern, f.c_str(), 0) == 0) names.insert(f);
    }
  }
  std::string out = "[";
  for (const auto& n : names) {
    if (out.size() > 1) out += ",";
    out += "\"";
    for (char c : n) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  out += "]";
  sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
}

void fn_file_exists(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  const char* name = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  bool found = false;
  if (name) {
    for (uint32_t d = 0; d < view->machine->disk_count() && !found; ++d) {
      found = view->machine->fs(d).exists(name);
    }
  }
  sqlite3_result_int(ctx, found ? 1 : 0);
}

void fn_file_count(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  const char* pattern = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  int64_t n = 0;
  if (pattern) {
    for (uint32_t d = 0; d < view->machine->disk_count(); ++d) {
      for (const auto& f : view->machine->fs(d).list()) n += fnmatch(pattern, f.c_str(), 0) == 0;
    }
  }
  sqlite3_result_int64(ctx, n);
}

void fn_file_content(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* view = static_cast<FileView*>(sqlite3_user_data(ctx));
  const char* name = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  for (uint32_t d = 0; name && d < view->machine->disk_count(); ++d) {
    auto& fs = view->machine->fs(d);
    auto ref = fs.lookup(name);
    if (!ref) continue;
    std::string s(fs.size(*ref).value(), '\0');
    auto n = fs.read(*ref, 0, std::as_writable_bytes(std::span(s)));
    if (!n) break;
    sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return;
  }
  sqlite3_result_null(ctx);
}

class Conn {
 public:
  ~Conn() {
    if (db_) sqlite3_close_v2(db_);
  }
  static Result<std::unique_ptr<Conn>> open(const std::string& path, const std::string& vfs,
                                            sim::Machine* machine) {
    auto c = std::unique_ptr<Conn>(new Conn);
    c->view_.machine = machine;
    // NOMUTEX: a simulated client's (or an inspection's) connection is
    // only ever used by the thread that runs the simulation, so it skips
    // SQLite's per-connection mutex (about 6% of an exploration's time).
    const int rc = sqlite3_open_v2(path.c_str(), &c->db_,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs.c_str());
    if (rc != SQLITE_OK) {
      return Status::error(cow::Code::kIoError,
                           fmt::format("cannot open {}: {}", path,
                                       c->db_ ? sqlite3_errmsg(c->db_) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(c->db_, 1);
    // Hostile scripts: a runaway statement (an unbounded recursive CTE, a
    // cartesian invariant) is interrupted, and no value may exceed 16 MiB.
    sqlite3_limit(c->db_, SQLITE_LIMIT_LENGTH, 16 << 20);
    sqlite3_progress_handler(
        c->db_, 1000,
        [](void* p) -> int { return ++*static_cast<uint64_t*>(p) > kMaxVmSteps / 1000 ? 1 : 0; },
        &c->vm_budget_);
    using Fn = void (*)(sqlite3_context*, int, sqlite3_value**);
    const std::pair<const char*, Fn> functions[] = {
        {"file_exists", fn_file_exists}, {"file_count", fn_file_count}, {"file_content", fn_file_content}};
    for (const auto& [name, fn] : functions) {
      sqlite3_create_function(c->db_, name, 1, SQLITE_UTF8, &c->view_, fn, nullptr, nullptr);
    }
    sqlite3_create_function(c->db_, "file_write", 2, SQLITE_UTF8, &c->view_, fn_file_write, nullptr, nullptr);
    sqlite3_create_function(c->db_, "file_delete", 1, SQLITE_UTF8, &c->view_, fn_file_delete, nullptr, nullptr);
    sqlite3_create_function(c->db_, "file_list", 1, SQLITE_UTF8, &c->view_, fn_file_list, nullptr, nullptr);
    return c;
  }
  FileView& view() { return view_; }
  int total_changes() const { return sqlite3_total_changes(db_); }

  // Runs every statement in `sql`, binding named parameters from `vars`.
  // Rows of the statements that return rows are collected.
  // Runs every statement of `sql`. Rows are collected in Outcome::rows, or,
  // with `on_row`, handed to it one at a time and not kept.
  Outcome exec(const std::string& sql, const Vars& vars,
               const std::function<void(sqlite3_stmt*)>& on_row = nullptr) {
    vm_budget_ = 0;
    Outcome out;
    const char* tail = sql.c_str();
    while (tail && *tail) {
      sqlite3_stmt* st = nullptr;
      int rc = sqlite3_prepare_v2(db_, tail, -1, &st, &tail);
      if (rc != SQLITE_OK) return fail(rc);
      if (!st) continue;  // whitespace or comment
      for (int i = 1; i <= sqlite3_bind_parameter_count(st); ++i) {
        const char* pname = sqlite3_bind_parameter_name(st, i);
        if (!pname) {
          sqlite3_finalize(st);
          out.rc = SQLITE_MISUSE;
          out.error = "positional parameter '?' is not supported: use :name";
          return out;
        }
        auto it = vars.find(pname + 1);
        if (it == vars.end()) {
          out.error = fmt::format("parameter '{}' is never defined", pname);
          sqlite3_finalize(st);  // pname points into the statement
          out.rc = SQLITE_MISUSE;
          return out;
        }
        const Value& v = it->second;
        switch (v.type) {
          case SQLITE_INTEGER: sqlite3_bind_int64(st, i, v.i); break;
          case SQLITE_FLOAT: sqlite3_bind_double(st, i, v.d); break;
          case SQLITE_NULL: sqlite3_bind_null(st, i); break;
          default: sqlite3_bind_text(st, i, v.s.data(), static_cast<int>(v.s.size()), SQLITE_TRANSIENT);
        }
      }
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (on_row) {
          on_row(st);
          continue;
        }
        std::vector<Value> row;
        for (int c = 0; c < sqlite3_column_count(st); ++c) row.push_back(column(st, c));
        out.rows.push_back(std::move(row));
      }
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) return fail(rc);
    }
    return out;
  }

  // Prepares every statement without running it: the SQL must compile
  // against the current schema and bind only names in `known`.
  std::string check(const std::string& sql, const std::set<std::string>& known) {
    const char* tail = sql.c_str();
    while (tail && *tail) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db_, tail, -1, &st, &tail) != SQLITE_OK) return sqlite3_errmsg(db_);
      if (!st) continue;
      for (int i = 1; i <= sqlite3_bind_parameter_count(st); ++i) {
        const char* pname = sqlite3_bind_parameter_name(st, i);
        if (!pname) {
          sqlite3_finalize(st);
          return "positional parameter '?' is not supported: use :name";
        }
        if (!known.count(pname + 1)) {
          std::string err = fmt::format("parameter '{}' is never defined", pname);
          sqlite3_finalize(st);  // pname points into the statement
          return err;
        }
      }
      sqlite3_finalize(st);
    }
    return {};
  }

  bool in_transaction() const { return !sqlite3_get_autocommit(db_); }

  // Whether `sql` is one statement (a first one that prepares, and nothing
  // after it but white space).
  bool single_statement(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, &tail);
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return true;  // running it reports the error
    for (; tail && *tail; ++tail) {
      if (!std::isspace(static_cast<unsigned char>(*tail))) return false;
    }
    return true;
  }

  // The tables (lower-case names) one statement reads, from SQLite's
  // authorizer while it is prepared; an error message when it does not
  // prepare.
  Result<std::set<std::string>> tables_read(const std::string& sql) {
    // Prepared once first, so that loading the schema (a read of
    // sqlite_schema) is not counted.
    if (!single_statement(sql)) return Status::invalid_argument("more than one statement");
    std::set<std::string> tables;
    sqlite3_set_authorizer(
        db_,
        [](void* p, int action, const char* a, const char*, const char*, const char*) -> int {
          if (action == SQLITE_READ && a) static_cast<std::set<std::string>*>(p)->insert(lower(a));
          return SQLITE_OK;
        },
        &tables);
    sqlite3_stmt* st = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    sqlite3_set_authorizer(db_, nullptr, nullptr);
    if (rc != SQLITE_OK) return Status::invalid_argument(sqlite3_errmsg(db_));
    sqlite3_finalize(st);
    return tables;
  }

  // Rolls back whatever a failed statement left open.
  void reset_transaction() {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  Conn() = default;
  Outcome fail(int rc) {
    Outcome o;
    o.rc = rc;
    o.error = (rc & 0xff) == SQLITE_INTERRUPT
                  ? fmt::format("statement interrupted after {} SQLite VM steps (runaway query?)", kMaxVmSteps)
                  : std::string(sqlite3_errmsg(db_));
    return o;
  }
  static constexpr uint64_t kMaxVmSteps = 50'000'000;
  uint64_t vm_budget_ = 0;
  sqlite3* db_ = nullptr;
  FileView view_;
};

std::string db_path(const SqlDatabase& d) { return fmt::format("/{}/{}", d.disk, d.file); }

bool is_db_file(const SqlSpec& spec, uint32_t disk, const std::string& name) {
  for (const auto& d : spec.databases) {
    if (d.disk != disk) continue;
    if (name == d.file || name == d.file + "-journal" || name == d.file + "-wal" ||
        name == d.file + "-shm" || name.rfind(d.file + "-mj", 0) == 0) {
      return true;
    }
  }
  return false;
}

// Opens the connections a client (or an inspection) uses: one with every
// other database ATTACHed, or one per database.
struct Connections {
  std::vector<std::unique_ptr<Conn>> conns;  // index: database (attach: all 0)
  bool attach = true;
  Conn& of(size_t db) { return *conns[attach ? 0 : db]; }
};

Result<Connections> open_all(const SqlSpec& spec, SqliteVfs& vfs, bool configure,
                             bool force_attach = false) {
  Connections c;
  c.attach = spec.attach || force_attach;
  auto pragmas = [&](Conn& conn, const std::string& alias) -> Status {
    if (!configure) return Status::ok();
    const std::string sql = fmt::format(
        "PRAGMA {0}.journal_mode={1}; PRAGMA {0}.synchronous={2}; PRAGMA foreign_keys={3}; "
        "PRAGMA wal_autocheckpoint={4};{5}",
        alias, spec.journal_mode, spec.synchronous, spec.foreign_keys ? "ON" : "OFF",
        spec.wal_autocheckpoint,
        spec.cache_size ? fmt::format(" PRAGMA {}.cache_size={};", alias, spec.cache_size) : "");
    auto o = conn.exec(sql, {});
    if (o.rc != SQLITE_OK) {
      return Status::invalid_argument(fmt::format("setting up {}: {}", alias, o.error));
    }
    if (alias != "main") return Status::ok();  // once per connection
    for (const auto& p : spec.pragmas) {
      o = conn.exec("PRAGMA " + p, {});
      if (o.rc != SQLITE_OK) {
        return Status::invalid_argument(fmt::format("pragma '{}': {}", p, o.error));
      }
    }
    return Status::ok();
  };
  for (size_t i = 0; i < spec.databases.size(); ++i) {
    const auto& d = spec.databases[i];
    if (c.attach && i > 0) {
      auto o = c.conns[0]->exec(fmt::format("ATTACH '{}' AS \"{}\"", db_path(d), d.name), {});
      if (o.rc != SQLITE_OK) {
        return Status::error(cow::Code::kIoError, fmt::format("ATTACH {}: {}", d.file, o.error));
      }
      SNAPSIM_RETURN_IF_ERROR(pragmas(*c.conns[0], d.name));
      continue;
    }
    auto conn = Conn::open(db_path(d), vfs.name(), &vfs.machine());
    if (!conn) return conn.status();
    SNAPSIM_RETURN_IF_ERROR(pragmas(**conn, "main"));
    c.conns.push_back(std::move(*conn));
  }
  return c;
}

std::string alias_of(const SqlSpec& spec, size_t db, bool attached) {
  return attached && db > 0 ? "\"" + spec.databases[db].name + "\"" : std::string("main");
}

size_t db_index(const SqlSpec& spec, const std::string& name) {
  for (size_t i = 0; i < spec.databases.size(); ++i) {
    if (spec.databases[i].name == name) return i;
  }
  return 0;
}

// Hashes column c of the current row: type tag, then the value (text and
// blobs with their length).
void hash_column(cow::Hasher128& h, sqlite3_stmt* st, int c) {
  const int type = sqlite3_column_type(st, c);
  const char tag = static_cast<char>(type);
  h.update(&tag, 1);
  switch (type) {
    case SQLITE_INTEGER: {
      const int64_t i = sqlite3_column_int64(st, c);
      h.update(&i, sizeof i);
      break;
    }
    case SQLITE_FLOAT: {
      const double d = sqlite3_column_double(st, c);
      h.update(&d, sizeof d);
      break;
    }
    case SQLITE_NULL: break;
    default: {
      const void* p = type == SQLITE_BLOB ? sqlite3_column_blob(st, c) : sqlite3_column_text(st, c);
      const uint64_t n = static_cast<uint64_t>(sqlite3_column_bytes(st, c));
      h.update(&n, sizeof n);
      if (n) h.update(p, n);
    }
  }
}

// Digest of the logical state: every table's rows, sorted by every column,
// and every file outside the databases. Returns the failing SQLite code in
// *rc when a query fails (corruption shows up here).
// Every table of database `db` read through SQL: its rows in rowid order
// (a WITHOUT ROWID table in primary-key order, which a plain scan gives),
// hashed as they come. Sets *rc_out when a query fails.
Result<std::vector<TableRows>> sql_tables(const SqlSpec& spec, Connections& c, size_t db, int* rc_out) {
  auto fail = [&](const Outcome& o, const std::string& what) -> Status {
    if (rc_out) *rc_out = o.rc;
    return Status::error(cow::Code::kIoError, fmt::format("{}: {}", what, o.error));
  };
  Conn& conn = c.of(db);
  const std::string alias = alias_of(spec, db, c.attach);
  auto tables = conn.exec(fmt::format("SELECT name FROM {}.sqlite_schema WHERE type='table' AND "
                                      "name NOT LIKE 'sqlite_%' ORDER BY name",
                                      alias),
                          {});
  if (tables.rc != SQLITE_OK) return fail(tables, "reading the schema of " + spec.databases[db].name);
  std::vector<TableRows> out;
  for (const auto& t : tables.rows) {
    TableRows tr;
    tr.name = t[0].text();
    cow::Hasher128 rows_h;
    auto each = [&](sqlite3_stmt* st) {
      ++tr.rows;
      for (int col = 0; col < sqlite3_column_count(st); ++col) hash_column(rows_h, st, col);
    };
    auto rows = conn.exec(fmt::format("SELECT * FROM {}.\"{}\" ORDER BY rowid", alias, tr.name), {}, each);
    if (rows.rc != SQLITE_OK && rows.error.find("rowid") != std::string::npos) {
      tr.rows = 0;
      rows_h.reset();
      rows = conn.exec(fmt::format("SELECT * FROM {}.\"{}\"", alias, tr.name), {}, each);
    }
    if (rows.rc != SQLITE_OK) return fail(rows, "reading table " + tr.name);
    tr.digest = rows_h.digest();
    out.push_back(std::move(tr));
  }
  return out;
}

// Digest of the logical state: every table's rows and every file outside
// the databases. The tables come from their pages (sqlite_pages.h: a
// memoised sum of row hashes, so a state costs what changed) unless `pages`
// is null or a page does not parse; then through SQL. Returns the failing
// SQLite code in *rc when a query fails (corruption shows up here).
// Without connections (`c` null) a database whose pages do not parse makes
// it return kNeedsSql, and the caller opens them and asks again.
const char* const kNeedsSql = "the digest needs SQL connections";

Result<explore::Digest> logical_digest(const SqlSpec& spec, Connections* c, sim::Machine& m, SqliteVfs& vfs,
                                       PageDigests* pages, int* rc_out, std::string* summary,
                                       explore::Digest* store = nullptr) {
  cow::Hasher128 h;
  cow::Hasher128 store_h;  // the databases alone
  std::string sum;
  for (size_t db = 0; db < spec.databases.size(); ++db) {
    const SqlDatabase& d = spec.databases[db];
    std::optional<std::vector<TableRows>> tables;
    if (pages) tables = pages->tables(m.fs(d.disk), d.file, vfs.wal_bytes_used(d.disk, d.file));
    if (!tables || (pages && pages->verifying())) {
      if (!c) return Status::error(cow::Code::kNotFound, kNeedsSql);
      auto via_sql = sql_tables(spec, *c, db, rc_out);
      if (!via_sql) return via_sql.status();
      if (tables) {
        pages->verify(*tables, *via_sql);
      } else {
        tables = std::move(*via_sql);
      }
    }
    for (const auto& t : *tables) {
      for (cow::Hasher128* s : {&h, &store_h}) {
        s->update(t.name.data(), t.name.size() + 1).update_value(t.rows).update_value(t.digest);
      }
      sum += fmt::format("{}{} {}", sum.empty() ? "" : ", ", t.rows, t.name);
    }
  }
  size_t files = 0;
  // Each [[file]]'s name template as a glob ({...} -> *), for its check mode.
  std::vector<std::pair<std::string, const SqlFile*>> globs;
  for (const auto& sf : spec.files) {
    globs.emplace_back(template_glob(sf.name), &sf);
  }
  for (uint32_t d = 0; d < m.disk_count(); ++d) {
    auto& fs = m.fs(d);
    for (const auto& f : fs.list()) {
      if (is_db_file(spec, d, f)) continue;
      std::string mode = "exact";
      for (const auto& [g, sf] : globs) {
        if (fnmatch(g.c_str(), f.c_str(), 0) == 0) {
          mode = sf->check;
          break;
        }
      }
      if (mode == "none") continue;
      if (mode == "exists") {
        h.update(f.data(), f.size() + 1);
        ++files;
        continue;
      }
      auto ref = fs.lookup(f).value();
      std::string s(fs.size(ref).value(), '\0');
      (void)fs.read(ref, 0, std::as_writable_bytes(std::span(s)));
      const uint64_t n = s.size();
      h.update(f.data(), f.size() + 1).update_value(n).update(s.data(), s.size());
      ++files;
    }
  }
  // A workload that writes files outside its databases says how many there
  // are, none included: "4 account, no file outside the databases" explains
  // a torn state whose database committed but whose file is missing.
  if (files || !spec.files.empty()) {
    sum += files ? fmt::format(", {} file(s) outside the databases", files)
                 : std::string(", no file outside the databases");
  }
  // Only an application with files outside its databases has a separate store.
  if (store) *store = spec.files.empty() ? explore::Digest{} : store_h.digest();
  if (summary) *summary = sum;
  return h.digest();
}

// --- generators and templates -------------------------------------------

struct Generator {
  enum Kind { kInt, kChoice, kText } kind;
  int64_t lo = 0, hi = 0;
  std::vector<std::string> choices;
};

Result<Generator> parse_generator(const std::string& g) {
  const size_t open = g.find('(');
  if (open == std::string::npos || g.back() != ')') {
    return Status::invalid_argument(
        fmt::format("generator '{}' is not of the form int(lo,hi), choice(a,b,...) or text(n)", g));
  }
  const std::string fn = g.substr(0, open);
  std::vector<std::string> args;
  std::string cur;
  for (char ch : g.substr(open + 1, g.size() - open - 2)) {
    if (ch == ',') {
      args.push_back(cur);
      cur.clear();
    } else if (ch != ' ') {
      cur += ch;
    }
  }
  args.push_back(cur);
  auto num = [](const std::string& s, int64_t* v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && p == s.data() + s.size();
  };
  Generator out{};
  if (fn == "int" && args.size() == 2 && num(args[0], &out.lo) && num(args[1], &out.hi) &&
      out.lo <= out.hi) {
    out.kind = Generator::kInt;
    return out;
  }
  if (fn == "text" && args.size() == 1 && num(args[0], &out.hi) && out.hi >= 0 && out.hi <= 1 << 20) {
    out.kind = Generator::kText;
    return out;
  }
  if (fn == "choice" && !args.empty() && !args[0].empty()) {
    out.kind = Generator::kChoice;
    out.choices = args;
    return out;
  }
  return Status::invalid_argument(
      fmt::format("generator '{}' is not of the form int(lo,hi) with lo <= hi, choice(a,b,...) or "
                  "text(n)",
                  g));
}

Value draw(const Generator& g, sim::Prng& p) {
  switch (g.kind) {
    case Generator::kInt: return int_value(p.range(g.lo, g.hi));
    case Generator::kChoice: {
      const std::string& c = g.choices[p.uniform(g.choices.size())];
      int64_t v;
      auto [ptr, ec] = std::from_chars(c.data(), c.data() + c.size(), v);
      if (ec == std::errc() && ptr == c.data() + c.size()) return int_value(v);
      return text_value(c);
    }
    case Generator::kText: {
      std::string s(static_cast<size_t>(g.hi), 'a');
      for (auto& ch : s) ch = static_cast<char>('a' + p.uniform(26));
      return text_value(s);
    }
  }
  return Value{};
}

Result<std::string> render(const std::string& tmpl, const Vars& vars) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '{') {
      out += tmpl[i];
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == std::string::npos) {
      return Status::invalid_argument(fmt::format("template '{}' has an unclosed '{{'", tmpl));
    }
    const std::string key = tmpl.substr(i + 1, close - i - 1);
    auto it = vars.find(key);
    if (it == vars.end()) {
      return Status::invalid_argument(
          fmt::format("template '{}' uses '{{{}}}', which is never defined", tmpl, key));
    }
    out += it->second.text();
    i = close;
  }
  return out;
}

// Whether `name` on `fs` (disk `disk`) is one of the databases' own files
// (the database, its journal, WAL or shared memory), by the directory it
// resolves to and its last component: "./x.db" and "d/../x.db" are x.db.
bool names_a_database_file(const SqlSpec& spec, sim::GuestFs& fs, uint32_t disk, const std::string& name) {
  auto at = fs.resolve_parent(name);
  if (!at) return false;
  for (const auto& d : spec.databases) {
    if (d.disk != disk) continue;
    for (const char* suffix : kDatabaseFileSuffixes) {
      auto db = fs.resolve_parent(d.file + suffix);
      if (db && db->first == at->first && db->second == at->second) return true;
    }
  }
  return false;
}

// Writes a [[file]]; *around_sqlite when it names a database file (which
// the live run then wrote around SQLite).
Status write_file(sim::Machine& m, const SqlSpec& spec, const SqlFile& f, const Vars& vars, bool* around_sqlite) {
  auto name = render(f.name, vars);
  if (!name) return name.status();
  auto content = render(f.content, vars);
  if (!content) return content.status();
  auto& fs = m.fs(f.disk);
  {
    const sim::Machine::Observation looking(m);  // looking up the name is not the application's work
    if (names_a_database_file(spec, fs, f.disk, *name)) *around_sqlite = true;
  }
  auto ref = fs.open(*name, true);
  if (!ref && ref.status().code() == cow::Code::kFsFull) {
    return Status::invalid_argument(fmt::format(
        "file '{}': {} (a script can raise [limits] max_files, up to 1024, or [fs] disk_mb)", *name,
        ref.status().message()));
  }
  if (!ref) return ref.status();
  SNAPSIM_RETURN_IF_ERROR(fs.truncate(*ref, 0));
  Status st = fs.write(*ref, 0, std::as_bytes(std::span(*content)));
  if (st.code() == cow::Code::kFileTooBig) {
    return Status::invalid_argument(fmt::format(
        "file '{}': {} (a script can raise [limits] max_file_blocks)", *name, st.message()));
  }
  if (st.code() == cow::Code::kFsFull) {
    return Status::invalid_argument(
        fmt::format("file '{}': {} (a script can raise [fs] disk_mb)", *name, st.message()));
  }
  SNAPSIM_RETURN_IF_ERROR(st);
  if (f.fsync) SNAPSIM_RETURN_IF_ERROR(fs.fsync(*ref));
  if (f.fsync_dir) SNAPSIM_RETURN_IF_ERROR(fs.fsync_parent(*name));
  return Status::ok();
}

// --- states the live run wrote ----------------------------------------------

// The database files as SQLite reads them, as one hash: every database's
// main file (size and content). None when a database file is missing or a
// WAL has frames in use (SQLite then reads them too; `vfs`: the restored
// image's, which knows how much of its WAL the recovery found valid).
std::optional<cow::Hash128> database_files_key(const SqlSpec& spec, sim::Machine& m, const SqliteVfs* vfs) {
  cow::Hasher128 h;
  for (const auto& d : spec.databases) {
    auto& fs = m.fs(d.disk);
    if (auto w = fs.lookup(d.file + "-wal")) {
      auto size = fs.size(*w);
      uint64_t used = size ? *size : UINT64_MAX;
      if (vfs) used = vfs->wal_bytes_used(d.disk, d.file).value_or(used);
      if (used > 32) return std::nullopt;  // more than the WAL header
    }
    auto ref = fs.lookup(d.file);
    if (!ref) return std::nullopt;
    auto ch = fs.content_hash(*ref);
    if (!ch) return std::nullopt;
    h.update_value(*ch);
  }
  return h.digest();
}

// Whether every database the live run leaves after a commit passes
// PRAGMA integrity_check and foreign_key_check, so that those checks can be
// skipped on a restored image whose database files equal such a state
// bytewise (the checks are a function of those bytes). SQLite keeps a
// database well formed in normal operation, and with foreign_keys on it
// refuses a commit that leaves a violation (deferred constraints included).
// What can break that is refused here, and the checks then always run:
//  - journal_mode=off: a ROLLBACK, or a failed statement, may corrupt the
//    database (SQLite's documentation of the pragma);
//  - SQL the live run executes (setup, steps, the pre-freeze hook) that
//    names a PRAGMA (writable_schema, ignore_check_constraints,
//    foreign_keys=off, schema_version, ...) or sqlite_dbpage (raw pages);
//  - a [[pragmas]] entry outside a list known to be harmless;
//  - a [[file]] whose name could be a database, journal or WAL file
//    (written around SQLite).
bool structural_checks_trusted(const SqlSpec& spec) {
  if (spec.journal_mode == "off") return false;
  const auto risky = [&](const std::string& sql) {
    const std::string l = lower(sql);
    return l.find("pragma") != std::string::npos || l.find("sqlite_dbpage") != std::string::npos;
  };
  for (const auto& d : spec.databases) {
    if (risky(d.setup)) return false;
  }
  for (const auto& t : spec.txns) {
    for (const auto& st : t.steps) {
      if (risky(st.sql)) return false;
    }
  }
  for (const auto& sql : spec.pre_freeze) {
    if (risky(sql)) return false;
  }
  static const std::set<std::string> kHarmless = {
      "automatic_index", "busy_timeout", "cache_spill",  "cell_size_check", "locking_mode",
      "mmap_size",       "query_only",   "recursive_triggers", "secure_delete", "temp_store",
      "threads",         "user_version", "application_id",     "analysis_limit"};
  for (const auto& p : spec.pragmas) {
    const std::string name = pragma_name(p);
    if (!kHarmless.count(name.substr(name.find('.') + 1))) return false;
  }
  for (const auto& f : spec.files) {
    const std::string glob = template_glob(f.name);
    for (const auto& d : spec.databases) {
      for (const char* suffix : kDatabaseFileSuffixes) {
        const std::string name = d.file + suffix;
        if (fnmatch(glob.c_str(), name.c_str(), 0) == 0) return false;
      }
    }
  }
  return true;
}

// --- the client ------------------------------------------------------------

class SqlClient : public sim::Client {
 public:
  SqlClient(uint32_t id, const SqlSpec& spec, std::shared_ptr<SqliteVfs> vfs, sim::Machine& m,
            explore::CommitLog& log, std::shared_ptr<Writers> writers, PageDigests* pages)
      : SqlClient(id, spec, std::move(vfs), m, log, std::move(writers), pages, spec.transactions,
                  m.prng().fork("client", id)) {}
  // A client with its own plan size and data stream (reconnecting after a
  // memory-snapshot revert).
  SqlClient(uint32_t id, const SqlSpec& spec, std::shared_ptr<SqliteVfs> vfs, sim::Machine& m,
            explore::CommitLog& log, std::shared_ptr<Writers> writers, PageDigests* pages, int transactions,
            sim::Prng prng)
      : id_(id), spec_(spec), vfs_(std::move(vfs)), m_(m), log_(log), prng_(prng), transactions_(transactions),
        writers_(std::move(writers)), pages_(pages) {}

  // Record the database files after each acknowledged commit (SqlApp's
  // live states; null: not recorded).
  void set_live_files(LiveCommitFiles* f) { live_files_ = f; }

  bool can_run() const override {
    if (done()) return true;
    size_t db = 0;
    if (plan_.empty()) {
      // The next transaction starts with BEGIN on its first database.
      if (!spec_.attach) {
        db = SIZE_MAX;
        for (const auto& st : txn().steps) db = std::min(db, db_index(spec_, st.db));
      }
    } else if (pos_ < plan_.size() && plan_[pos_].kind == Item::kBegin) {
      db = plan_[pos_].db;
    } else {
      return true;
    }
    auto it = writers_->holder.find(db);
    return it == writers_->holder.end() || it->second == id_;
  }

  Status open() {
    auto c = open_all(spec_, *vfs_, true);
    if (!c) return c.status();
    conns_ = std::make_unique<Connections>(std::move(*c));
    return Status::ok();
  }

  bool done() const override { return disconnected_ || txn_ == transactions_; }

  // The client is gone: a session inside a transaction stays, with its
  // locks, until the server notices (end_dead_session); an idle one ends.
  void disconnect() override {
    disconnected_ = true;
    dead_ = !begun().empty();
  }
  bool dead_session() const override { return dead_; }
  Status end_dead_session() override {
    if (!dead_) return Status::ok();
    for (size_t db : begun()) {
      auto o = conns_->of(db).exec("ROLLBACK", {});
      if (o.rc != SQLITE_OK) return sql_error("ROLLBACK", o);
      writers_->holder.erase(db);
    }
    log_.abort(id_);
    m_.trace().add(sim::EventKind::kTxnAbort, id_, txn_, m_.clock().now_ns(),
                   "the server rolled back a dead client's transaction");
    plan_.clear();
    dead_ = false;
    return Status::ok();
  }
  void shut_down() override { conns_.reset(); }

  Result<sim::StepResult> step() override {
    m_.app_step();
    if (plan_.empty()) SNAPSIM_RETURN_IF_ERROR(start());
    Item& item = plan_[pos_];
    switch (item.kind) {
      case Item::kBegin: {
        auto o = conns_->of(item.db).exec("BEGIN IMMEDIATE", {});
        if ((o.rc & 0xff) == SQLITE_BUSY) return sim::StepResult::kBlocked;
        if (o.rc != SQLITE_OK) return sql_error("BEGIN IMMEDIATE", o);
        writers_->holder[item.db] = id_;
        if (pos_ + 1 < plan_.size() && plan_[pos_ + 1].kind != Item::kBegin) {
          log_.begin(id_, m_.clock().now_ns());
          m_.trace().add(sim::EventKind::kTxnBegin, id_, txn_, m_.clock().now_ns(), txn().name);
        }
        break;
      }
      case Item::kStep: {
        const SqlStep& s = txn().steps[item.index];
        auto o = conns_->of(db_index(spec_, s.db)).exec(s.sql, vars_);
        if ((o.rc & 0xff) == SQLITE_BUSY) return sim::StepResult::kBlocked;
        if (o.rc != SQLITE_OK && s.rollback_on_error && !is_corruption(o.rc) && (o.rc & 0xff) != SQLITE_FULL &&
            (o.rc & 0xff) != SQLITE_IOERR) {
          SNAPSIM_RETURN_IF_ERROR(business_rollback(s.sql, o));
          return sim::StepResult::kProgress;
        }
        if (o.rc != SQLITE_OK) return sql_error(s.sql, o);
        if (!s.capture.empty()) {
          if (o.rows.empty() || o.rows[0].empty()) {
            return Status::invalid_argument(fmt::format(
                "{}: transaction '{}': step '{}' returned no row to capture into '{}'", spec_.name,
                txn().name, s.sql, s.capture));
          }
          vars_[s.capture] = o.rows[0][0];
        }
        break;
      }
      case Item::kFile: {
        bool around_sqlite = false;
        SNAPSIM_RETURN_IF_ERROR(write_file(m_, spec_, spec_.files[item.index], vars_, &around_sqlite));
        // States after this one are not what SQLite alone wrote.
        if (around_sqlite && live_files_) live_files_->stop();
        break;
      }
      case Item::kCommit: {
        if (!conns_->of(item.db).in_transaction()) {
          return Status::invalid_argument(fmt::format(
              "{}: transaction '{}': a step ended the transaction before its COMMIT (ROLLBACK, "
              "COMMIT or END in the steps): snapsim begins and commits each transaction itself",
              spec_.name, txn().name));
        }
        auto o = conns_->of(item.db).exec("COMMIT", {});
        if ((o.rc & 0xff) == SQLITE_BUSY) return sim::StepResult::kBlocked;
        if (o.rc != SQLITE_OK) return sql_error("COMMIT", o);
        writers_->holder.erase(item.db);
        m_.trace().add(sim::EventKind::kTxnCommit, id_, log_.acked() + 1, m_.clock().now_ns(),
                       spec_.databases[item.db].name);
        break;
      }
    }
    if (++pos_ == plan_.size()) SNAPSIM_RETURN_IF_ERROR(finish());
    return sim::StepResult::kProgress;
  }

 private:
  struct Item {
    enum Kind { kBegin, kStep, kFile, kCommit } kind;
    size_t index = 0;  // step or file
    size_t db = 0;     // connection for begin/commit
  };

  const SqlTransaction& txn() const {
    return spec_.txns[(id_ + static_cast<size_t>(txn_)) % spec_.txns.size()];
  }

  // The databases this transaction has begun on (its open transactions).
  std::set<size_t> begun() const {
    std::set<size_t> dbs;
    if (!conns_) return dbs;
    for (const auto& it : plan_) {
      if (it.kind == Item::kBegin && conns_->of(it.db).in_transaction()) dbs.insert(it.db);
    }
    return dbs;
  }

  // on_error = "rollback": the application rolls its transaction back (every
  // connection it began), tells the client no, and goes on.
  Status business_rollback(const std::string& sql, const Outcome& why) {
    std::set<size_t> dbs;
    for (const auto& it : plan_) {
      if (it.kind == Item::kBegin) dbs.insert(it.db);
    }
    for (size_t db : dbs) {
      if (!conns_->of(db).in_transaction()) continue;
      auto o = conns_->of(db).exec("ROLLBACK", {});
      if (o.rc != SQLITE_OK) return sql_error("ROLLBACK", o);
      writers_->holder.erase(db);
    }
    log_.abort(id_);
    m_.trace().add(sim::EventKind::kTxnAbort, id_, txn_, m_.clock().now_ns(),
                   fmt::format("rolled back: {}: {}", sql, why.error));
    plan_.clear();
    ++txn_;
    return Status::ok();
  }

  Status sql_error(const std::string& sql, const Outcome& o) {
    conns_->of(0).reset_transaction();
    std::string why = o.error;
    // A full disk keeps its code, so the caller can say which limit to raise.
    cow::Code code = cow::Code::kInvalidArgument;
    if ((o.rc & 0xff) == SQLITE_FULL && !vfs_->full().is_ok()) {
      why += " (" + vfs_->full_reason() + ")";
      code = vfs_->full().code();
      if (code == cow::Code::kFileTooBig) why += " (a script can raise [limits] max_file_blocks)";
      if (code == cow::Code::kFsFull) why += " (a script can raise [fs] disk_mb or [limits] max_files)";
    }
    return Status::error(code, fmt::format("{}: transaction '{}': SQL error in '{}': {}", spec_.name,
                                           txn().name, sql, why));
  }

  Status start() {
    vars_.clear();
    vars_["client"] = int_value(id_);
    vars_["txn"] = int_value(txn_);
    for (const auto& p : txn().params) {
      auto g = parse_generator(p.generator);
      if (!g) return g.status();
      vars_[p.name] = draw(*g, prng_);
    }
    std::set<size_t> dbs;
    if (spec_.attach) {
      dbs.insert(0);
    } else {
      for (const auto& s : txn().steps) dbs.insert(db_index(spec_, s.db));
    }
    for (size_t db : dbs) plan_.push_back({Item::kBegin, 0, db});
    for (size_t i = 0; i < txn().steps.size(); ++i) plan_.push_back({Item::kStep, i, 0});
    auto mine = [&](const SqlFile& f) { return f.transaction.empty() || f.transaction == txn().name; };
    for (size_t i = 0; i < spec_.files.size(); ++i) {
      if (!spec_.files[i].after_commit && mine(spec_.files[i])) plan_.push_back({Item::kFile, i, 0});
    }
    for (size_t db : dbs) plan_.push_back({Item::kCommit, 0, db});
    for (size_t i = 0; i < spec_.files.size(); ++i) {
      if (spec_.files[i].after_commit && mine(spec_.files[i])) plan_.push_back({Item::kFile, i, 0});
    }
    pos_ = 0;
    return Status::ok();
  }

  Status finish() {
    explore::Digest store;
    const sim::Machine::Observation looking(m_);
    auto d = logical_digest(spec_, conns_.get(), m_, *vfs_, pages_, nullptr, nullptr, &store);
    if (!d) return d.status();
    if (live_files_) {
      if (auto key = database_files_key(spec_, m_, nullptr)) live_files_->add(*key);
    }
    const uint64_t commit = log_.ack(id_, *d, store);
    m_.trace().add(sim::EventKind::kTxnAck, id_, commit, m_.clock().now_ns());
    // What the client is told: its data (the parameters drawn) and the
    // client-visible values captured.
    explore::Receipt r{id_, m_.clock().now_ns(), 0, {}};
    cow::Hasher64 h;
    h.update(txn().name.data(), txn().name.size());
    for (const auto& p : txn().params) {
      const std::string v = vars_.at(p.name).text();
      h.update_value(p.name.size()).update(p.name.data(), p.name.size()).update_value(v.size()).update(v.data(), v.size());
    }
    r.content = h.digest();
    for (const auto& st : txn().steps) {
      if (st.client_visible && vars_.count(st.capture)) r.ids.emplace_back(st.capture, vars_.at(st.capture).text());
    }
    log_.receipt(commit, std::move(r));
    plan_.clear();
    ++txn_;
    return Status::ok();
  }

  uint32_t id_;
  const SqlSpec& spec_;
  std::shared_ptr<SqliteVfs> vfs_;  // declared before conns_: outlives them
  std::unique_ptr<Connections> conns_;
  sim::Machine& m_;
  explore::CommitLog& log_;
  sim::Prng prng_;
  int txn_ = 0;
  int transactions_;
  bool dead_ = false;  // disconnected inside a transaction, not yet rolled back
  std::vector<Item> plan_;
  size_t pos_ = 0;
  Vars vars_;
  std::shared_ptr<Writers> writers_;
  PageDigests* pages_;  // the app's (null: digests through SQL)
  LiveCommitFiles* live_files_ = nullptr;
};

int seed_of(sim::Machine& m) {
  // SQLite's PRNG is process-wide: reseed it from the run's Prng so journal
  // nonces and WAL salts are the same on every run with the same seed.
  const int s = static_cast<int>(m.prng().fork("sqlite-prng").next_u64() & 0x7fffffff);
  return s == 0 ? 1 : s;
}

// The seed SQLite's PRNG was last given (sqlite3Config.iPrngSeed, which
// SQLite reads again whenever it resets the PRNG, e.g. for a super-journal
// name).
int g_prng_seed = 0;

void reseed_sqlite(sim::Machine& m) {
  g_prng_seed = seed_of(m);
  sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, g_prng_seed, nullptr);
}

// Keeps SQLite's PRNG (its state and its seed) as it was when constructed:
// whatever an inspection draws or reseeds, the live clients' journal
// nonces, WAL salts and super-journal names never depend on when, or
// whether, points were inspected.
class LivePrng {
 public:
  LivePrng() : seed_(g_prng_seed) { sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SAVE); }
  ~LivePrng() {
    g_prng_seed = seed_;
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, seed_, nullptr);  // resets the state...
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_RESTORE);               // ...which this puts back
  }
  LivePrng(const LivePrng&) = delete;
  LivePrng& operator=(const LivePrng&) = delete;

 private:
  int seed_;
};

}  // namespace

// --- per-key invariants ------------------------------------------------------

// Per-key invariants checked where their keys changed. An invariant that
// holds per row of a table, each row reading only rows that carry its key
// (SqlInvariant::per_table and also), has the same answer on a state as on
// the last state checked, except for the keys of the rows that differ. The
// rows that differ come from the b-tree pages (PageDigests::table_pages):
// leaf pages are named by the hash of their bytes, so the pages of a state
// the last one did not have, and those it had that are gone, hold every row
// added, removed or changed (a row only moved between pages cancels out).
// Their key columns' values, old and new, are the keys to check again:
//   violations(state) = violations(last) - changed keys
//                       + the changed keys whose rows fail the check now.
// Everything else runs the invariant in full (its `sql`), and that state
// becomes the next base: the first state, one whose pages do not parse or
// whose key tables' CREATE TABLE changed, one that failed
// integrity_check (a damaged tree reads differently row by row than as
// a whole), a key SQLite would not compare as bound (a real, a blob, a
// NULL on the key table itself), an SQL error (the full run reports it as
// from scratch). One limit: a full run interrupted by the VM step budget
// (a database of tens of millions of rows) fails where the change set may
// not. tests/workloads/check_memo_test.cc compares every verdict with an
// inspection from scratch.
class KeyedInvariants {
 public:
  // From a connection to the initial state: each per-key invariant's tables
  // (rowid tables with no generated column), key columns (record index, or
  // the rowid for an INTEGER PRIMARY KEY) and the tables its check reads
  // (all named in its declaration). Errors name the invariant.
  Status prepare(const SqlSpec& spec, Connections& conns) {
    for (size_t i = 0; i < spec.invariants.size(); ++i) {
      const SqlInvariant& inv = spec.invariants[i];
      if (inv.per_table.empty()) continue;
      const size_t db = db_index(spec, inv.db);
      Conn& conn = conns.of(db);
      const std::string alias = alias_of(spec, db, conns.attach);
      const std::string what = fmt::format("invariant '{}'", inv.name);
      Inv k;
      k.spec_index = i;
      k.db = db;
      auto source = [&](const std::string& table, const std::string& column) -> Result<Source> {
        auto t = table_of(conn, alias, db, table, what);
        if (!t) return t.status();
        auto c = column_of(conn, alias, table, column, what);
        if (!c) return c.status();
        auto& cols = dbs_[db].requests[*t].columns;
        auto at = std::find(cols.begin(), cols.end(), *c);
        if (at == cols.end()) at = cols.insert(cols.end(), *c);
        return Source{*t, static_cast<size_t>(at - cols.begin())};
      };
      auto d = source(inv.per_table, inv.per_column);
      if (!d) return d.status();
      k.driving = *d;
      std::set<std::string> declared = {lower(inv.per_table)};
      for (const auto& [t, c] : inv.also) {
        auto a = source(t, c);
        if (!a) return a.status();
        k.also.push_back(*a);
        declared.insert(lower(t));
      }
      const std::string table = quoted(inv.per_table), column = quoted(inv.per_column);
      k.full_sql = fmt::format("SELECT {1} FROM {0} WHERE NOT ({2})", table, column, inv.check);
      k.keyed_sql = fmt::format("SELECT {1} FROM {0} WHERE {1} IN (SELECT value FROM json_each(:snapsim_keys)) AND NOT ({2})",
                                table, column, inv.check);
      auto read = conn.tables_read(k.keyed_sql);
      if (!read) return Status::invalid_argument(fmt::format("{}: check is not one SQL expression: {}", what, read.status().message()));
      for (const auto& t : *read) {
        if (!declared.count(t) && t != "json_each") {
          return Status::invalid_argument(fmt::format(
              "{}: check reads table '{}', which neither per nor also names (add \"{}.<column holding the key>\" to also)",
              what, t, t));
        }
      }
      invs_.push_back(std::move(k));
    }
    violations_.assign(invs_.size(), std::nullopt);
    return Status::ok();
  }

  bool active() const { return !invs_.empty(); }
  uint64_t incremental() const { return incremental_; }

  // Reads a state's key tables; `trusted`: its b-trees are known sound (it
  // passed integrity_check, or equals a live commit state).
  void begin(const SqlSpec& spec, sim::Machine& restored, SqliteVfs& vfs, bool trusted) {
    next_.assign(dbs_.size(), {});
    next_violations_.assign(invs_.size(), std::nullopt);
    changed_.assign(dbs_.size(), {});
    state_ok_ = trusted;
    for (size_t db = 0; db < dbs_.size() && state_ok_; ++db) {
      if (dbs_[db].requests.empty()) continue;
      const SqlDatabase& d = spec.databases[db];
      const bool have_base = base_.size() == dbs_.size();
      auto known = [&](size_t t, const explore::Digest& key) {
        return have_base && base_[db][t].count(key) != 0;
      };
      auto got = pages_.table_pages(restored.fs(d.disk), d.file, vfs.wal_bytes_used(d.disk, d.file),
                                   dbs_[db].requests, known);
      if (!got) {
        state_ok_ = false;
        break;
      }
      next_[db].resize(got->size());
      changed_[db].resize(got->size());
      for (size_t t = 0; t < got->size(); ++t) {
        Pages& now = next_[db][t];
        std::unordered_map<explore::Digest, int, cow::Hash128Hasher> delta;  // row hash: added - removed
        std::vector<const KeyedRow*> rows;
        for (auto& leaf : (*got)[t]) {
          std::shared_ptr<const std::vector<KeyedRow>> r;
          if (leaf.fresh) {
            r = std::make_shared<const std::vector<KeyedRow>>(std::move(leaf.rows));
            for (const auto& row : *r) ++delta[row.hash], rows.push_back(&row);
          } else {
            r = base_[db][t].at(leaf.key);
          }
          if (!now.emplace(leaf.key, std::move(r)).second) state_ok_ = false;  // the same page twice
        }
        if (have_base) {
          for (const auto& [key, r] : base_[db][t]) {
            if (now.count(key)) continue;
            for (const auto& row : *r) --delta[row.hash], rows.push_back(&row);
          }
        }
        // The keys of rows added or removed, not of those that only moved.
        auto& keys = changed_[db][t];
        keys.assign(dbs_[db].requests[t].columns.size(), {});
        if (!have_base) continue;  // every invariant runs in full
        for (const KeyedRow* row : rows) {
          if (delta[row->hash] == 0) continue;
          for (size_t slot = 0; slot < row->keys.size(); ++slot) keys[slot].insert(row->keys[slot]);
        }
      }
    }
  }

  // Invariant `i` of the spec on this state: true holds, false fails, none:
  // run its `sql` in full (then tell full()).
  std::optional<bool> evaluate(size_t i, Conn& conn) {
    const auto it = std::find_if(invs_.begin(), invs_.end(), [&](const Inv& k) { return k.spec_index == i; });
    if (it == invs_.end()) return std::nullopt;
    const size_t n = static_cast<size_t>(it - invs_.begin());
    const Inv& k = *it;
    if (!state_ok_) return std::nullopt;
    std::set<RowKey> keys;
    bool unknown = false;
    auto take = [&](const Source& s, bool driving) {
      for (const RowKey& key : changed_[k.db][s.table][s.slot]) {
        if (key.kind == RowKey::kOther || (driving && key.kind == RowKey::kNull)) unknown = true;
        if (key.kind == RowKey::kInt || key.kind == RowKey::kText) keys.insert(key);
      }
    };
    take(k.driving, true);
    for (const auto& a : k.also) take(a, false);
    std::set<RowKey> now;
    if (violations_[n] && !unknown) {
      now = *violations_[n];
      for (const RowKey& key : keys) now.erase(key);
      if (!keys.empty()) {
        Vars vars;
        Value v;
        v.type = SQLITE_TEXT;
        v.s = json_array(keys);
        vars["snapsim_keys"] = std::move(v);
        auto o = conn.exec(k.keyed_sql, vars);
        if (o.rc != SQLITE_OK || !collect(o, &now)) return std::nullopt;
      }
      ++incremental_;
    } else {
      auto o = conn.exec(k.full_sql, {});
      if (o.rc != SQLITE_OK) return std::nullopt;
      if (!collect(o, &now)) {
        // A violating row with a key no set can hold: its answer is right,
        // but the next state runs in full too.
        return false;
      }
    }
    const bool holds = now.empty();
    next_violations_[n] = std::move(now);
    return holds;
  }

  // The state checked becomes the base (or, if it could not be read, the
  // next state runs in full).
  void finish() {
    if (!state_ok_) {
      base_.clear();
      violations_.assign(invs_.size(), std::nullopt);
      return;
    }
    base_ = std::move(next_);
    violations_ = std::move(next_violations_);
  }

 private:
  using Pages = std::unordered_map<explore::Digest, std::shared_ptr<const std::vector<KeyedRow>>, cow::Hash128Hasher>;
  struct Source {
    size_t table = 0;  // index into the database's requests
    size_t slot = 0;   // index into that request's columns
  };
  struct Inv {
    size_t spec_index = 0, db = 0;
    Source driving;
    std::vector<Source> also;
    std::string full_sql, keyed_sql;
  };
  struct Db {
    std::vector<TableRequest> requests;
  };

  static std::string quoted(const std::string& name) { return "\"" + name + "\""; }

  // The request for `table` of database `db` (added on first use): a rowid
  // table with no generated column, and its CREATE TABLE.
  Result<size_t> table_of(Conn& conn, const std::string& alias, size_t db, const std::string& table,
                          const std::string& what) {
    if (dbs_.size() <= db) dbs_.resize(db + 1);
    auto& reqs = dbs_[db].requests;
    for (size_t t = 0; t < reqs.size(); ++t) {
      if (lower(reqs[t].table) == lower(table)) return t;
    }
    auto o = conn.exec(fmt::format("SELECT name, sql FROM {}.sqlite_schema WHERE type = 'table' AND name = '{}' COLLATE NOCASE",
                                   alias, table),
                       {});
    if (o.rc != SQLITE_OK || o.rows.size() != 1) {
      return Status::invalid_argument(fmt::format("{}: no table '{}'", what, table));
    }
    TableRequest r;
    r.table = o.rows[0][0].text();
    r.sql = o.rows[0][1].text();
    auto wr = conn.exec(fmt::format("SELECT wr FROM pragma_table_list WHERE schema = '{}' AND name = '{}'",
                                    alias == "main" ? "main" : alias.substr(1, alias.size() - 2), r.table),
                        {});
    if (wr.rc != SQLITE_OK || wr.rows.size() != 1 || wr.rows[0][0].i != 0) {
      return Status::invalid_argument(fmt::format("{}: table '{}' is WITHOUT ROWID; per-key invariants need a rowid table", what, table));
    }
    auto cols = conn.exec(fmt::format("PRAGMA {}.table_xinfo(\"{}\")", alias, r.table), {});
    if (cols.rc != SQLITE_OK) return Status::invalid_argument(fmt::format("{}: table '{}': {}", what, table, cols.error));
    for (const auto& c : cols.rows) {
      if (c.size() >= 7 && c[6].i != 0) {
        return Status::invalid_argument(fmt::format(
            "{}: table '{}' has a generated column ('{}'); per-key invariants need stored columns", what, table, c[1].text()));
      }
    }
    reqs.push_back(std::move(r));
    return reqs.size() - 1;
  }

  // The record index of `column` of `table`, or -1 when it is the rowid
  // (an INTEGER PRIMARY KEY, which a scan of the table, NOT INDEXED, reads
  // with OP_Rowid).
  static Result<int> column_of(Conn& conn, const std::string& alias, const std::string& table,
                               const std::string& column, const std::string& what) {
    auto cols = conn.exec(fmt::format("PRAGMA {}.table_xinfo(\"{}\")", alias, table), {});
    for (const auto& c : cols.rows) {
      if (c.size() < 2 || lower(c[1].text()) != lower(column)) continue;
      auto plan = conn.exec(fmt::format("EXPLAIN SELECT \"{}\" FROM {}.\"{}\" NOT INDEXED", column, alias, table), {});
      for (const auto& op : plan.rows) {
        if (op.size() > 1 && op[1].text() == "Rowid") return -1;
      }
      return static_cast<int>(c[0].i);
    }
    return Status::invalid_argument(fmt::format("{}: table '{}' has no column '{}'", what, table, column));
  }

  // The rows' keys into *out; false when one is not an integer or text.
  static bool collect(const Outcome& o, std::set<RowKey>* out) {
    bool ok = true;
    for (const auto& row : o.rows) {
      RowKey k;
      if (row.empty()) continue;
      if (row[0].type == SQLITE_INTEGER) {
        k.kind = RowKey::kInt;
        k.i = row[0].i;
      } else if (row[0].type == SQLITE_TEXT) {
        k.kind = RowKey::kText;
        k.s = row[0].s;
      } else {
        ok = false;
        continue;
      }
      out->insert(std::move(k));
    }
    return ok;
  }

  static std::string json_array(const std::set<RowKey>& keys) {
    std::string j = "[";
    for (const RowKey& k : keys) {
      if (j.size() > 1) j += ',';
      if (k.kind == RowKey::kInt) {
        j += std::to_string(k.i);
        continue;
      }
      j += '"';
      for (unsigned char c : k.s) {
        if (c == '"' || c == '\\') {
          j += '\\';
          j += static_cast<char>(c);
        } else if (c < 0x20) {
          j += fmt::format("\\u{:04x}", c);
        } else {
          j += static_cast<char>(c);
        }
      }
      j += '"';
    }
    return j + "]";
  }

  std::vector<Db> dbs_;
  std::vector<Inv> invs_;
  PageDigests pages_;  // which leaf pages spill
  // The base: the last state checked, its key tables' leaf pages (rows
  // shared with the states after it) and each invariant's violating keys.
  std::vector<std::vector<Pages>> base_;
  std::vector<std::optional<std::set<RowKey>>> violations_;
  // The state being checked.
  bool state_ok_ = false;
  std::vector<std::vector<Pages>> next_;
  std::vector<std::vector<std::vector<std::set<RowKey>>>> changed_;  // [db][table][slot]
  std::vector<std::optional<std::set<RowKey>>> next_violations_;
  uint64_t incremental_ = 0;
};

Status check_generator(const std::string& generator) { return parse_generator(generator).status(); }

namespace {
std::pair<std::string, std::string> split_column(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}
}  // namespace

SqlInvariant per_key_invariant(std::string name, const std::string& per, const std::vector<std::string>& also,
                               std::string check, std::string db) {
  SqlInvariant inv;
  inv.name = std::move(name);
  inv.db = std::move(db);
  std::tie(inv.per_table, inv.per_column) = split_column(per);
  for (const auto& a : also) inv.also.push_back(split_column(a));
  inv.check = std::move(check);
  inv.sql = fmt::format("SELECT NOT EXISTS (SELECT 1 FROM \"{}\" WHERE NOT ({}))", inv.per_table, inv.check);
  return inv;
}

uint64_t SqlApp::keyed_incremental_evaluations() const { return keyed_ ? keyed_->incremental() : 0; }

Result<std::string> draw_param(const std::string& generator, sim::Prng& prng) {
  auto g = parse_generator(generator);
  if (!g) return g.status();
  return draw(*g, prng).text();
}

Status validate_spec(const SqlSpec& spec) {
  static const std::set<std::string> kModes = {"delete", "truncate", "persist", "memory", "wal", "off"};
  static const std::set<std::string> kSync = {"off", "normal", "full", "extra"};
  if (!kModes.count(spec.journal_mode)) {
    return Status::invalid_argument(fmt::format(
        "journal_mode '{}' is not one of delete, truncate, persist, memory, wal, off", spec.journal_mode));
  }
  if (!kSync.count(spec.synchronous)) {
    return Status::invalid_argument(fmt::format(
        "synchronous '{}' is not one of off, normal, full, extra", spec.synchronous));
  }
  for (const auto& p : spec.pragmas) {
    // The settings snapsim knows have their own keys (and reach every
    // database and the inspection); one statement per entry.
    static const std::set<std::string> kOwnKeys = {"journal_mode", "synchronous", "foreign_keys",
                                                    "wal_autocheckpoint", "page_size", "cache_size"};
    const std::string name = pragma_name(p);
    const std::string leaf = name.substr(name.find('.') + 1);  // npos + 1 == 0: no schema prefix
    if (name.empty() || p.find(';') != std::string::npos) {
      return Status::invalid_argument(fmt::format(
          "pragma '{}' is not of the form \"name = value\" or \"name(value)\" (one per entry, no ';')", p));
    }
    if (kOwnKeys.count(leaf)) {
      return Status::invalid_argument(
          fmt::format("pragma '{}': set {} with its own [sqlite] key", p, leaf));
    }
  }
  if (!sim::parse_fs_mode(spec.fs_mode)) {
    return Status::invalid_argument(fmt::format("[fs] mode '{}' is not ext4 or nojournal", spec.fs_mode));
  }
  if (spec.fs_data != "ordered" && spec.fs_data != "writeback") {
    return Status::invalid_argument(fmt::format("[fs] data '{}' is not ordered or writeback", spec.fs_data));
  }
  if (spec.databases.empty()) return Status::invalid_argument("no database is defined");
  if (spec.txns.empty()) return Status::invalid_argument("no [[transaction]] is defined");
  if (spec.group != "atomic" && spec.group != "sequential") {
    return Status::invalid_argument(
        fmt::format("group '{}' is not atomic or sequential", spec.group));
  }
  auto check_db = [&](const std::string& name, const std::string& where) -> Status {
    if (name.empty()) return Status::ok();
    for (const auto& d : spec.databases) {
      if (d.name == name) return Status::ok();
    }
    return Status::invalid_argument(fmt::format("{} names database '{}', which is not defined", where, name));
  };
  std::set<std::string> files;
  for (const auto& d : spec.databases) {
    if (d.disk >= spec.disks) {
      return Status::invalid_argument(
          fmt::format("database '{}' is on disk {} but there are {} disk(s)", d.name, d.disk, spec.disks));
    }
    if (d.file.empty() || d.file.size() > 30 || d.file.find('/') != std::string::npos) {
      return Status::invalid_argument(
          fmt::format("database file name '{}' must be 1 to 30 characters without '/'", d.file));
    }
    if (!files.insert(fmt::format("{}/{}", d.disk, d.file)).second) {
      return Status::invalid_argument(fmt::format("database file '{}' is defined twice", d.file));
    }
  }
  for (const auto& t : spec.txns) {
    if (t.steps.empty()) {
      return Status::invalid_argument(fmt::format("transaction '{}' has no steps", t.name));
    }
    for (const auto& p : t.params) {
      auto g = parse_generator(p.generator);
      if (!g) {
        return Status::invalid_argument(
            fmt::format("transaction '{}' parameter '{}': {}", t.name, p.name, g.status().message()));
      }
    }
    for (const auto& s : t.steps) SNAPSIM_RETURN_IF_ERROR(check_db(s.db, "transaction '" + t.name + "'"));
  }
  for (const auto& i : spec.invariants) {
    SNAPSIM_RETURN_IF_ERROR(check_db(i.db, "invariant '" + i.name + "'"));
    if (i.per_table.empty() && i.per_column.empty()) continue;
    auto name_ok = [](const std::string& n) {
      return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
      });
    };
    std::vector<std::pair<std::string, std::string>> names = {{i.per_table, i.per_column}};
    names.insert(names.end(), i.also.begin(), i.also.end());
    for (const auto& [t, c] : names) {
      if (!name_ok(t) || !name_ok(c)) {
        return Status::invalid_argument(fmt::format(
            "invariant '{}': '{}.{}' is not of the form table.column (plain names)", i.name, t, c));
      }
    }
    if (i.check.empty()) return Status::invalid_argument(fmt::format("invariant '{}': per needs a check", i.name));
    if (i.check.find("file_") != std::string::npos) {
      return Status::invalid_argument(fmt::format(
          "invariant '{}': a per-key check cannot read files (file_*); write it as sql", i.name));
    }
  }
  for (const auto& f : spec.files) {
    if (f.disk >= spec.disks) {
      return Status::invalid_argument(fmt::format("file '{}' is on disk {} but there are {} disk(s)",
                                                  f.name, f.disk, spec.disks));
    }
  }
  if (spec.clients < 1 || spec.transactions < 0) {
    return Status::invalid_argument("clients must be at least 1 and transactions at least 0");
  }
  // A bound on the work one run may ask for (every commit is followed by a
  // digest of the whole database, and every block write is a snapshot point).
  if (static_cast<int64_t>(spec.clients) * spec.transactions > 200'000) {
    return Status::invalid_argument(fmt::format(
        "{} clients x {} transactions is more than the 200000 transactions one run may hold; "
        "use fewer clients or transactions",
        spec.clients, spec.transactions));
  }
  return Status::ok();
}

SqlApp::SqlApp(SqlSpec spec, Params params)
    : spec_(std::move(spec)),
      params_(std::move(params)),
      checks_see_files_(!spec_.files.empty() ||
                        std::any_of(spec_.invariants.begin(), spec_.invariants.end(),
                                    [](const SqlInvariant& i) { return i.sql.find("file_") != std::string::npos; })),
      trust_live_states_(structural_checks_trusted(spec_)) {}

sim::MachineConfig SqlApp::machine_config() const {
  sim::MachineConfig c;
  c.disks = spec_.disks;
  c.fs.inodes = std::max<uint32_t>(16, spec_.max_files + 2);  // inode 0 and the root
  c.fs.max_file_blocks = spec_.max_file_blocks;
  c.fs.mode = sim::parse_fs_mode(spec_.fs_mode).value();  // validated with the spec
  c.fs.ordered_data = spec_.fs_data == "ordered";
  c.fs.disk_bytes = static_cast<uint64_t>(spec_.disk_mb) << 20;
  c.sequential_group = spec_.group == "sequential";
  return c;
}

namespace {
Result<VfsOptions> vfs_options(const SqlSpec& spec) {
  VfsOptions o;
  o.sector_size = spec.sector_size;
  auto flags = parse_device_flags(spec.device);
  if (!flags) return flags.status();
  o.device_characteristics = *flags;
  return o;
}
}  // namespace

Status SqlApp::setup(sim::Machine& m) {
  SNAPSIM_RETURN_IF_ERROR(validate_spec(spec_));
  auto vo = vfs_options(spec_);
  if (!vo) return vo.status();
  reseed_sqlite(m);
  SqliteVfs vfs(m, *vo);
  for (const auto& d : spec_.databases) {
    auto conn = Conn::open(db_path(d), vfs.name(), &m);
    if (!conn) return conn.status();
    const std::string sql = fmt::format("PRAGMA page_size={}; PRAGMA journal_mode={}; PRAGMA synchronous={};",
                                        spec_.page_size, spec_.journal_mode, spec_.synchronous);
    auto o = (*conn)->exec(sql, {});
    if (o.rc != SQLITE_OK) return Status::invalid_argument(fmt::format("{}: {}", spec_.name, o.error));
    if (!d.setup.empty()) {
      o = (*conn)->exec(d.setup, {});
      if (o.rc != SQLITE_OK) {
        return Status::invalid_argument(
            fmt::format("{}: setup SQL of database '{}' failed: {}", spec_.name, d.name, o.error));
      }
    }
  }
  // Every invariant must hold on the initial state: a script whose invariant
  // fails, errors or returns no row is rejected before anything runs.
  auto conns = open_all(spec_, vfs, true, true);
  if (!conns) return conns.status();
  for (const auto& inv : spec_.invariants) {
    // A per-key check is one expression: its derived sql one statement.
    if (!inv.per_table.empty() && !conns->of(db_index(spec_, inv.db)).single_statement(inv.sql)) {
      return Status::invalid_argument(
          fmt::format("{}: invariant '{}': check is not one SQL expression", spec_.name, inv.name));
    }
    auto o = conns->of(db_index(spec_, inv.db)).exec(inv.sql, {});
    if (o.rc != SQLITE_OK) {
      return Status::invalid_argument(
          fmt::format("{}: invariant '{}' fails to run: {}", spec_.name, inv.name, o.error));
    }
    if (o.rows.size() != 1 || o.rows[0].empty()) {
      return Status::invalid_argument(fmt::format(
          "{}: invariant '{}' must return exactly one row, returned {}", spec_.name, inv.name, o.rows.size()));
    }
    if (o.rows[0][0].type != SQLITE_INTEGER || o.rows[0][0].i == 0) {
      return Status::invalid_argument(fmt::format(
          "{}: invariant '{}' is false on the initial state (returned {})", spec_.name, inv.name,
          o.rows[0][0].text()));
    }
  }
  {
    // Reading the schema to prepare per-key invariants is not the
    // application's work: it leaves the simulated clock and the page cache
    // as they were.
    const sim::Machine::Observation looking(m);
    auto keyed = std::make_shared<KeyedInvariants>();
    if (Status st = keyed->prepare(spec_, *conns); !st.is_ok()) {
      return Status::invalid_argument(fmt::format("{}: {}", spec_.name, st.message()));
    }
    keyed_ = keyed->active() ? std::move(keyed) : nullptr;
  }
  // The live run keeps a sound database sound, but the setup SQL runs with
  // foreign keys off and may leave what the structural checks reject: then
  // no live state is trusted (structural_checks_trusted).
  trust_live_states_ = structural_checks_trusted(spec_);
  const sim::Machine::Observation looking(m);  // not the application's work either
  for (size_t db = 0; db < spec_.databases.size() && trust_live_states_; ++db) {
    const std::string alias = alias_of(spec_, db, conns->attach);
    auto ic = conns->of(db).exec(fmt::format("PRAGMA {}.integrity_check", alias), {});
    trust_live_states_ = ic.rc == SQLITE_OK && ic.rows.size() == 1 && ic.rows[0][0].text() == "ok";
    if (trust_live_states_ && spec_.foreign_keys) {
      auto fk = conns->of(db).exec(fmt::format("PRAGMA {}.foreign_key_check", alias), {});
      trust_live_states_ = fk.rc == SQLITE_OK && fk.rows.empty();
    }
  }
  trust_live_states_ = trust_live_states_ || forced_trust_;
  // The recovery and the pre-freeze hook must compile too (and use no
  // parameters).
  for (const auto& sql : spec_.recovery) {
    const std::string err = conns->of(0).check(sql, {});
    if (!err.empty()) return Status::invalid_argument(fmt::format("{}: [recovery] '{}': {}", spec_.name, sql, err));
  }
  for (const auto* list : {&spec_.pre_freeze, &spec_.post_thaw}) {
    for (const auto& sql : *list) {
      const std::string err = conns->of(0).check(sql, {});
      if (!err.empty()) {
        return Status::invalid_argument(fmt::format("{}: [quiesce] {} '{}': {}", spec_.name,
                                                    list == &spec_.pre_freeze ? "pre_freeze" : "post_thaw", sql, err));
      }
    }
  }
  // Every step must compile against the set-up schema and use only defined
  // parameters; every file template only defined names.
  for (const auto& t : spec_.txns) {
    std::set<std::string> known = {"client", "txn"};
    for (const auto& p : t.params) known.insert(p.name);
    for (size_t i = 0; i < t.steps.size(); ++i) {
      const std::string err = conns->of(db_index(spec_, t.steps[i].db)).check(t.steps[i].sql, known);
      if (!err.empty()) {
        return Status::invalid_argument(fmt::format("{}: transaction '{}' step {}: {}", spec_.name,
                                                    t.name, i + 1, err));
      }
      if (!t.steps[i].capture.empty()) known.insert(t.steps[i].capture);
    }
    Vars dummy;
    for (const auto& k : known) dummy[k] = int_value(0);
    for (const auto& f : spec_.files) {
      for (const auto* tmpl : {&f.name, &f.content}) {
        auto r = render(*tmpl, dummy);
        if (!r) {
          return Status::invalid_argument(fmt::format("{}: file '{}' with transaction '{}': {}",
                                                      spec_.name, f.name, t.name, r.status().message()));
        }
      }
    }
  }
  return Status::ok();
}

Result<explore::Digest> SqlApp::digest(sim::Machine& m) {
  auto d = digests(m);
  if (!d) return d.status();
  return d->first;
}

Result<std::pair<explore::Digest, explore::Digest>> SqlApp::digests(sim::Machine& m) {
  auto vo = vfs_options(spec_);
  if (!vo) return vo.status();
  SqliteVfs vfs(m, *vo);
  explore::Digest store;
  {
    // From the pages alone, the run is only looked at.
    const sim::Machine::Observation looking(m);
    auto d = logical_digest(spec_, nullptr, m, vfs, page_digests(), nullptr, nullptr, &store);
    if (d || d.status().message() != kNeedsSql) {
      if (!d) return d.status();
      return std::pair<explore::Digest, explore::Digest>{*d, store};
    }
  }
  // Through SQL: opening the databases may create files (a WAL, a
  // wal-index), so this is the guest's own work.
  auto conns = open_all(spec_, vfs, false, true);
  if (!conns) return conns.status();
  auto d = logical_digest(spec_, &*conns, m, vfs, page_digests(), nullptr, nullptr, &store);
  if (!d) return d.status();
  return std::pair<explore::Digest, explore::Digest>{*d, store};
}

Result<std::vector<std::unique_ptr<sim::Client>>> SqlApp::make_clients(sim::Machine& m,
                                                                      explore::CommitLog& log) {
  auto vo = vfs_options(spec_);
  if (!vo) return vo.status();
  reseed_sqlite(m);
  auto vfs = std::make_shared<SqliteVfs>(m, *vo);
  live_vfs_ = vfs;
  auto writers = std::make_shared<Writers>();
  live_writers_ = writers;
  std::vector<std::unique_ptr<sim::Client>> out;
  for (int c = 0; c < spec_.clients; ++c) {
    auto client = std::make_unique<SqlClient>(static_cast<uint32_t>(c), spec_, vfs, m, log, writers, page_digests());
    if (trust_live_states_) client->set_live_files(live_files_.get());
    SNAPSIM_RETURN_IF_ERROR(client->open());
    out.push_back(std::move(client));
  }
  return out;
}

Result<std::vector<std::unique_ptr<sim::Client>>> SqlApp::make_revert_clients(sim::Machine& m,
                                                                              explore::CommitLog& log,
                                                                              uint32_t first_id,
                                                                              const std::vector<uint32_t>& txns,
                                                                              sim::Prng prng) {
  if (!live_vfs_ || !live_writers_) return Status::invalid_argument("a revert needs the clients' VFS (make_clients first)");
  std::vector<std::unique_ptr<sim::Client>> out;
  for (size_t i = 0; i < txns.size(); ++i) {
    const uint32_t id = first_id + static_cast<uint32_t>(i);
    auto client = std::make_unique<SqlClient>(id, spec_, live_vfs_, m, log, live_writers_, page_digests(),
                                              static_cast<int>(txns[i]), prng.fork("client", id));
    if (trust_live_states_) client->set_live_files(live_files_.get());
    SNAPSIM_RETURN_IF_ERROR(client->open());
    out.push_back(std::move(client));
  }
  return out;
}

namespace {

// The pre-freeze hook's statements, one per step on its own connection.
// SQLITE_BUSY blocks it (retried after another client progresses); any
// other error is the hook failing (the snapshot software's failure policy
// decides what follows).
class SqlHook : public sim::Client {
 public:
  SqlHook(const SqlSpec& spec, std::shared_ptr<SqliteVfs> vfs, sim::Machine& m)
      : spec_(spec), vfs_(std::move(vfs)), m_(m) {}
  Status open() {
    auto c = open_all(spec_, *vfs_, true, true);
    if (!c) return c.status();
    conns_ = std::make_unique<Connections>(std::move(*c));
    return Status::ok();
  }
  bool done() const override { return next_ == spec_.pre_freeze.size(); }
  Result<sim::StepResult> step() override {
    m_.app_step();
    const std::string& sql = spec_.pre_freeze[next_];
    auto o = conns_->of(0).exec(sql, {});
    if ((o.rc & 0xff) == SQLITE_BUSY || (o.rc & 0xff) == SQLITE_LOCKED) return sim::StepResult::kBlocked;
    if (o.rc != SQLITE_OK) {
      return Status::invalid_argument(fmt::format("pre_freeze '{}' failed: {}", sql, o.error));
    }
    m_.trace().add(sim::EventKind::kStep, 0, next_, m_.clock().now_ns(), "pre_freeze: " + sql);
    ++next_;
    return sim::StepResult::kProgress;
  }

 private:
  const SqlSpec& spec_;
  std::shared_ptr<SqliteVfs> vfs_;
  sim::Machine& m_;
  std::unique_ptr<Connections> conns_;
  size_t next_ = 0;
};

}  // namespace

std::optional<explore::HookSpec> SqlApp::hook_spec() const {
  if (!spec_.has_hook) return std::nullopt;
  return explore::HookSpec{spec_.hook_drain, spec_.hook_timeout_ms, spec_.hook_crash_consistent};
}

Result<std::unique_ptr<sim::Client>> SqlApp::make_hook(sim::Machine& m) {
  if (spec_.pre_freeze.empty()) return std::unique_ptr<sim::Client>();
  if (!live_vfs_) return Status::invalid_argument("the hook needs the clients' VFS (make_clients first)");
  auto h = std::make_unique<SqlHook>(spec_, live_vfs_, m);
  SNAPSIM_RETURN_IF_ERROR(h->open());
  return std::unique_ptr<sim::Client>(std::move(h));
}

namespace {

// The checks of a recovered image: integrity_check (and foreign_key_check),
// the invariants, and the logical digest.
// A failed first statement on database `db`: SQLite could not open it
// (unrecoverable) or found it damaged (corrupt).
void record_failure(const SqlSpec& spec, size_t db, const Outcome& o, explore::AppState* out) {
  const int primary = o.rc & 0xff;
  const std::string what = fmt::format("{}: {}", spec.databases[db].file, o.error);
  out->opened = !(primary == SQLITE_NOTADB || primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR);
  (out->opened ? out->integrity_error : out->open_error) = what;
}

// `structure_known`: the database files equal a state the live run wrote
// (SqlApp::inspect), so integrity_check and foreign_key_check would pass.
explore::AppState check_recovered(const SqlSpec& spec_, Connections& conns, sim::Machine& restored,
                                  SqliteVfs& vfs, PageDigests* pages, bool structure_known,
                                  KeyedInvariants* keyed) {
  explore::AppState out;
  out.opened = true;
  for (size_t db = 0; db < spec_.databases.size() && !structure_known; ++db) {
    const std::string alias = alias_of(spec_, db, conns.attach);
    auto o = conns.of(db).exec(fmt::format("PRAGMA {}.integrity_check", alias), {});
    if (o.rc != SQLITE_OK) {
      record_failure(spec_, db, o, &out);
      return out;
    }
    if (out.integrity_error.empty() && !(o.rows.size() == 1 && o.rows[0][0].text() == "ok")) {
      out.integrity_error = fmt::format("{}: integrity_check: {}", spec_.databases[db].file,
                                        o.rows.empty() ? "no result" : o.rows[0][0].text());
    }
    if (!spec_.foreign_keys) continue;
    auto fk = conns.of(db).exec(fmt::format("PRAGMA {}.foreign_key_check", alias), {});
    if (out.integrity_error.empty() && fk.rc == SQLITE_OK && !fk.rows.empty()) {
      out.integrity_error = fmt::format("{}: foreign_key_check: row {} of {} references a missing "
                                        "row of {} ({} violation(s))",
                                        spec_.databases[db].file, fk.rows[0][1].text(),
                                        fk.rows[0][0].text(), fk.rows[0][2].text(), fk.rows.size());
    }
  }
  // Per-key invariants where their keys changed, on sound b-trees only.
  if (keyed) keyed->begin(spec_, restored, vfs, out.integrity_error.empty());
  for (size_t i = 0; i < spec_.invariants.size(); ++i) {
    const SqlInvariant& inv = spec_.invariants[i];
    Conn& conn = conns.of(db_index(spec_, inv.db));
    if (const std::optional<bool> holds = keyed ? keyed->evaluate(i, conn) : std::nullopt) {
      if (!*holds) out.invariant_failures.push_back(fmt::format("invariant '{}' is false", inv.name));
      continue;
    }
    auto o = conn.exec(inv.sql, {});
    if (o.rc != SQLITE_OK) {
      if (is_corruption(o.rc) && out.integrity_error.empty()) out.integrity_error = o.error;
      out.invariant_failures.push_back(fmt::format("invariant '{}' fails to run: {}", inv.name, o.error));
    } else if (o.rows.size() != 1 || o.rows[0].empty() || o.rows[0][0].type != SQLITE_INTEGER ||
               o.rows[0][0].i == 0) {
      out.invariant_failures.push_back(fmt::format("invariant '{}' is false", inv.name));
    }
  }
  if (keyed) keyed->finish();
  int rc = SQLITE_OK;
  std::string summary;
  auto d = logical_digest(spec_, &conns, restored, vfs, pages, &rc, &summary, &out.store_digest);
  if (!d) {
    if (out.integrity_error.empty()) out.integrity_error = d.status().message();
    return out;
  }
  out.digest = *d;
  out.summary = summary;
  return out;
}

}  // namespace

explore::AppState SqlApp::inspect(sim::Machine& restored, explore::CheckMemo* memo) {
  // A point may be inspected while the run that took it goes on
  // (explorer.cc, streaming): leave SQLite's process-wide PRNG as the live
  // clients had it.
  const LivePrng live_prng;
  explore::AppState out;
  auto vo = vfs_options(spec_);
  if (!vo) {
    out.open_error = vo.status().message();
    return out;
  }
  reseed_sqlite(restored);
  // What recovery will find: hot journals and WALs, before SQLite opens them.
  std::string evidence;
  for (const auto& d : spec_.databases) {
    auto& fs = restored.fs(d.disk);
    // A rollback journal counts only if SQLite acts on it (writes below);
    // a WAL with frames is replayed into the rebuilt wal-index.
    auto ref = fs.lookup(d.file + "-wal");
    if (!ref) continue;
    const uint64_t size = fs.size(*ref).value();
    if (size > 32) {
      evidence += fmt::format("{}{}-wal ({} bytes)", evidence.empty() ? "" : ", ", d.file, size);
    }
  }
  SqliteVfs vfs(restored, *vo);
  const VfsCounters before = vfs.counters();  // ATTACH already reads: count from here
  auto conns = open_all(spec_, vfs, false, true);
  if (!conns) {
    out.open_error = conns.status().message();
    return out;
  }
  // Recovery: the first read of each database takes a shared lock, and with
  // it SQLite rolls back a hot journal (and its super-journal's siblings) or
  // rebuilds the wal-index from the WAL, as the application's first query
  // would after a reboot.
  for (size_t db = 0; db < spec_.databases.size(); ++db) {
    const std::string alias = alias_of(spec_, db, conns->attach);
    auto o = conns->of(db).exec(fmt::format("PRAGMA {}.schema_version", alias), {});
    if (o.rc != SQLITE_OK) {
      record_failure(spec_, db, o, &out);
      return out;
    }
  }
  out.opened = true;
  const VfsCounters after = vfs.counters();
  const bool wrote = after.writes + after.truncates + after.deletes >
                     before.writes + before.truncates + before.deletes;
  // The application's own recovery ([recovery]), after SQLite's: it may
  // regenerate missing files or delete orphans. It repaired the image if it
  // changed any row or file.
  std::string app_recovery;
  if (!spec_.recovery.empty()) {
    Conn& c = conns->of(0);
    c.view().writable = true;
    c.view().changes = 0;
    const int rows_before = c.total_changes();
    for (const auto& sql : spec_.recovery) {
      auto o = c.exec(sql, {});
      if (o.rc != SQLITE_OK) {
        c.view().writable = false;
        out.opened = false;
        out.open_error = fmt::format("the application's recovery failed: {}: {}", sql, o.error);
        return out;
      }
    }
    c.view().writable = false;
    const int rows = c.total_changes() - rows_before;
    if (rows > 0 || c.view().changes > 0) {
      app_recovery = fmt::format("the application's recovery repaired {} row(s) and {} file(s)", rows,
                                 c.view().changes);
    }
  }
  auto with_recovery = [&](explore::AppState s) {
    if (!evidence.empty() || wrote) {
      s.recovered = true;
      s.recovery_detail =
          wrote ? fmt::format("SQLite rolled back a hot journal{}",
                              evidence.empty() ? "" : " and replayed " + evidence)
                : fmt::format("SQLite replayed {}", evidence);
    }
    if (!app_recovery.empty()) {
      s.recovered = true;
      s.recovery_detail += (s.recovery_detail.empty() ? "" : "; ") + app_recovery;
    }
    return s;
  };
  // Everything below reads only the recovered files: check each recovered
  // state once per exploration. Two kinds of bytes no check can see are left
  // out of the key: of a rollback journal that is not hot (and none is once
  // recovery ran: it deletes, truncates or zeroes the header of the ones it
  // plays back) SQLite reads only the first byte (pager.c, hasHotJournal);
  // of a WAL it reads only the header and the frames up to the last valid
  // commit, which its recovery recorded in the wal-index (mxFrame).
  // tests/workloads/check_memo_test.cc checks that the memo never changes a
  // result.
  // A rollback journal left after recovery with a zero first byte (or
  // empty) is not hot, and SQLite never reads more of it; unless a check
  // can see files (checks_see_files_), it is invisible to every check, its
  // existence too.
  const std::optional<explore::Digest> recovered_files =
      restored.visible_files([&](uint32_t disk, const std::string& name, uint64_t size) -> uint64_t {
        for (const auto& d : spec_.databases) {
          if (d.disk != disk) continue;
          if (name == d.file + "-journal") {
            if (checks_see_files_) return 1;
            std::byte first{1};
            auto ref = restored.fs(disk).lookup(name);
            auto n = ref ? restored.fs(disk).read(*ref, 0, std::span(&first, 1)) : cow::Result<size_t>(size_t{0});
            return ref && n && (*n == 0 || first == std::byte{0}) ? sim::Machine::kLeaveOut : 1;
          }
          if (name == d.file + "-wal") return vfs.wal_bytes_used(disk, d.file).value_or(size);
        }
        return size;
      });
  if (memo && recovered_files) {
    if (const explore::AppState* hit = memo->find(*recovered_files)) return with_recovery(*hit);
  }
  // Without the caller's memo (inspection from scratch), no page memo either.
  std::optional<PageDigests> own_pages;
  if (!memo && !digest_via_sql_) own_pages.emplace();
  // SQLite's structural checks are skipped where their answer is known: the
  // database files equal, bytewise, a state the live run wrote and
  // acknowledged (structural_checks_trusted says when that implies they
  // pass). Only with the caller's memo: an inspection from scratch checks
  // everything, and tests/workloads/check_memo_test.cc compares the two.
  bool structure_known = false;
  if (memo && trust_live_states_ && live_files_->size() > 0) {
    const auto key = database_files_key(spec_, restored, &vfs);
    structure_known = key && live_files_->contains(*key);
    structural_skipped_ += structure_known;
  }
  explore::AppState checked = check_recovered(spec_, *conns, restored, vfs,
                                              memo ? page_digests() : own_pages ? &*own_pages : nullptr,
                                              structure_known, memo && keyed_ && keyed_->active() ? keyed_.get() : nullptr);
  if (memo && recovered_files) memo->store(*recovered_files, checked);
  return with_recovery(std::move(checked));
}

}  // namespace snapsim::workloads
