#include "workloads/script.h"

#include "workloads/registry.h"
#include "workloads/script_loader.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace snapsim::workloads {

namespace {

class Loader : public ScriptLoader {
 public:
  explicit Loader(std::string path) : ScriptLoader(std::move(path)) {}

  Status apply_override(toml::table& root, const std::string& item) const {
    static const std::map<std::string, std::string> kShort = {
        {"journal_mode", "sqlite.journal_mode"}, {"synchronous", "sqlite.synchronous"},
        {"page_size", "sqlite.page_size"},       {"sector_size", "sqlite.sector_size"},
        {"device", "sqlite.device"},             {"attach", "sqlite.attach"},
        {"clients", "clients.count"},            {"transactions", "clients.transactions"},
        {"group", "disks.group"},                {"disks", "disks.count"},
        {"cache_size", "sqlite.cache_size"}};
    static const std::map<std::string, char> kScalars = {
        {"name", 's'},           {"sqlite.journal_mode", 's'}, {"sqlite.synchronous", 's'},
        {"sqlite.page_size", 'i'}, {"sqlite.sector_size", 'i'}, {"sqlite.device", 's'},
        {"sqlite.attach", 'b'},  {"sqlite.foreign_keys", 'b'}, {"sqlite.wal_autocheckpoint", 'i'}, {"sqlite.cache_size", 'i'}, {"clients.count", 'i'},      {"clients.transactions", 'i'},
        {"disks.count", 'i'},    {"disks.group", 's'},        {"limits.max_files", 'i'},
        {"limits.max_file_blocks", 'i'}, {"setup.sql", 's'}, {"fs.mode", 's'}, {"fs.data", 's'},
        {"fs.disk_mb", 'i'}, {"quiesce.drain", 'b'}, {"quiesce.timeout_ms", 'i'},
        {"quiesce.on_failure", 's'}};
    return ScriptLoader::apply_override(
        root, item, kShort, kScalars,
        "a scalar setting such as journal_mode, synchronous, clients, transactions, sqlite.page_size, "
        "disks.group");
  }

  Result<SqlSpec> load(toml::table& root, const std::vector<std::string>& overrides) {
    for (const auto& o : overrides) SNAPSIM_RETURN_IF_ERROR(apply_override(root, o));
    SNAPSIM_RETURN_IF_ERROR(known_keys(root, "the script",
                                       {"name", "description", "sqlite", "setup", "database",
                                        "disks", "clients", "transaction", "invariant", "file", "fs",
                                        "limits", "quiesce", "recovery", "memory"}));
    SqlSpec s;
    SNAPSIM_RETURN_IF_ERROR(get_string(root, "name", "the script", &s.name, true));
    if (s.name.empty() || s.name.find(' ') != std::string::npos) {
      return fail(root.get("name"), "'name' must be a non-empty word");
    }
    std::string description;
    SNAPSIM_RETURN_IF_ERROR(get_string(root, "description", "the script", &description));

    if (const toml::node* n = root.get("sqlite")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[sqlite] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[sqlite]", {"journal_mode", "synchronous", "page_size",
                                                          "sector_size", "device", "attach",
                                                          "foreign_keys", "wal_autocheckpoint",
                                                          "cache_size", "pragmas"}));
      int64_t cache = s.cache_size;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "cache_size", "sqlite", -1000000, 1000000, &cache));
      s.cache_size = static_cast<int>(cache);
      if (const toml::node* pn = t->get("pragmas")) {
        const toml::array* a = pn->as_array();
        if (!a) return fail(pn, "'sqlite.pragmas' must be an array of strings");
        for (const auto& e : *a) {
          if (!e.is_string()) return fail(&e, "'sqlite.pragmas' must be an array of strings");
          s.pragmas.push_back(*e.value<std::string>());
        }
      }
      int64_t ckpt = s.wal_autocheckpoint;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "wal_autocheckpoint", "sqlite", 0, 1000000, &ckpt));
      s.wal_autocheckpoint = static_cast<int>(ckpt);
      SNAPSIM_RETURN_IF_ERROR(get_bool(*t, "foreign_keys", "sqlite", &s.foreign_keys));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "journal_mode", "sqlite", &s.journal_mode));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "synchronous", "sqlite", &s.synchronous));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "device", "sqlite", &s.device));
      SNAPSIM_RETURN_IF_ERROR(get_bool(*t, "attach", "sqlite", &s.attach));
      int64_t v = s.page_size;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "page_size", "sqlite", 512, 65536, &v));
      if (v & (v - 1)) return fail(t->get("page_size"), "'sqlite.page_size' must be a power of two");
      s.page_size = static_cast<int>(v);
      v = s.sector_size;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "sector_size", "sqlite", 512, 65536, &v));
      if (v & (v - 1)) return fail(t->get("sector_size"), "'sqlite.sector_size' must be a power of two");
      s.sector_size = static_cast<int>(v);
      auto flags = parse_device_flags(s.device);
      if (!flags) return fail(t->get("device"), flags.status().message());
    }
    if (const toml::node* n = root.get("disks")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[disks] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[disks]", {"count", "group"}));
      int64_t v = s.disks;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "count", "disks", 1, 8, &v));
      s.disks = static_cast<uint32_t>(v);
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "group", "disks", &s.group));
    }
    if (const toml::node* n = root.get("recovery")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[recovery] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[recovery]", {"sql"}));
      const toml::node* q = t->get("sql");
      if (!q) return fail(t, "[recovery] needs 'sql' (a statement or an array of them)");
      if (q->is_string()) {
        s.recovery.push_back(q->as_string()->get());
      } else if (const toml::array* a = q->as_array()) {
        for (const auto& x : *a) {
          if (!x.is_string()) return fail(&x, "'recovery.sql' must be SQL text or an array of SQL texts");
          s.recovery.push_back(x.as_string()->get());
        }
      } else {
        return fail(q, "'recovery.sql' must be SQL text or an array of SQL texts");
      }
    }
    if (const toml::node* n = root.get("quiesce")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[quiesce] must be a table");
      SNAPSIM_RETURN_IF_ERROR(
          known_keys(*t, "[quiesce]", {"pre_freeze", "post_thaw", "drain", "timeout_ms", "on_failure"}));
      s.has_hook = true;
      for (const char* key : {"pre_freeze", "post_thaw"}) {
        auto* list = std::string(key) == "pre_freeze" ? &s.pre_freeze : &s.post_thaw;
        if (const toml::node* e = t->get(key)) {
          const toml::array* a = e->as_array();
          if (!a) return fail(e, fmt::format("'quiesce.{}' must be an array of SQL statements", key));
          for (const auto& x : *a) {
            if (!x.is_string()) return fail(&x, fmt::format("'quiesce.{}' must be an array of SQL statements", key));
            list->push_back(x.as_string()->get());
          }
        }
      }
      SNAPSIM_RETURN_IF_ERROR(get_bool(*t, "drain", "quiesce", &s.hook_drain));
      int64_t v = static_cast<int64_t>(s.hook_timeout_ms);
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "timeout_ms", "quiesce", 0, 86400000, &v));
      s.hook_timeout_ms = static_cast<uint64_t>(v);
      std::string policy = "fail";
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "on_failure", "quiesce", &policy));
      if (policy != "fail" && policy != "crash_consistent") {
        return fail(t->get("on_failure"),
                    fmt::format("'quiesce.on_failure' must be fail or crash_consistent, got '{}'", policy));
      }
      s.hook_crash_consistent = policy == "crash_consistent";
    }
    if (const toml::node* n = root.get("memory")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[memory] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[memory]", {"lock_wait_tolerance_ms", "reverted_acknowledged"}));
      int64_t v = static_cast<int64_t>(s.lock_wait_tolerance_ms);
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "lock_wait_tolerance_ms", "memory", 0, 86400000, &v));
      s.lock_wait_tolerance_ms = static_cast<uint64_t>(v);
      std::string reverted = "tolerated";
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "reverted_acknowledged", "memory", &reverted));
      if (reverted != "tolerated" && reverted != "failure") {
        return fail(t->get("reverted_acknowledged"),
                    fmt::format("'memory.reverted_acknowledged' must be tolerated or failure, got '{}'", reverted));
      }
      s.reverted_is_failure = reverted == "failure";
    }
    if (const toml::node* n = root.get("limits")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[limits] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[limits]", {"max_files", "max_file_blocks"}));
      int64_t v = s.max_files;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "max_files", "limits", 4, 1024, &v));
      s.max_files = static_cast<uint32_t>(v);
      v = s.max_file_blocks;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "max_file_blocks", "limits", 16, 1 << 20, &v));
      s.max_file_blocks = static_cast<uint32_t>(v);
    }
    if (const toml::node* n = root.get("fs")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[fs] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[fs]", {"mode", "data", "disk_mb"}));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "mode", "fs", &s.fs_mode));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "data", "fs", &s.fs_data));
      int64_t v = s.disk_mb;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "disk_mb", "fs", 16, 65536, &v));
      s.disk_mb = static_cast<uint32_t>(v);
    }
    if (const toml::node* n = root.get("clients")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[clients] must be a table");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[clients]", {"count", "transactions"}));
      int64_t v = s.clients;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "count", "clients", 1, 64, &v));
      s.clients = static_cast<int>(v);
      v = s.transactions;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "transactions", "clients", 0, 100000, &v));
      s.transactions = static_cast<int>(v);
    }
    // Databases: [[database]], or a single one from [setup].
    std::vector<const toml::table*> dbs;
    SNAPSIM_RETURN_IF_ERROR(table_array(root, "database", &dbs));
    if (const toml::node* n = root.get("setup")) {
      const toml::table* t = n->as_table();
      if (!t) return fail(n, "[setup] must be a table");
      if (!dbs.empty()) return fail(n, "use either [setup] or [[database]] setup, not both");
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[setup]", {"sql"}));
      SqlDatabase d{"main", s.name + ".db", 0, ""};
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "sql", "setup", &d.setup));
      s.databases.push_back(d);
    }
    for (const toml::table* t : dbs) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[[database]]", {"name", "file", "disk", "setup"}));
      SqlDatabase d;
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "name", "database", &d.name, true));
      d.file = d.name + ".db";
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "file", "database", &d.file));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "setup", "database", &d.setup));
      int64_t disk = 0;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "disk", "database", 0, 7, &disk));
      d.disk = static_cast<uint32_t>(disk);
      s.databases.push_back(d);
    }
    if (s.databases.empty()) {
      s.databases.push_back(SqlDatabase{"main", s.name + ".db", 0, ""});
    }
    std::vector<const toml::table*> txns;
    SNAPSIM_RETURN_IF_ERROR(table_array(root, "transaction", &txns));
    if (txns.empty()) return fail(&root, "the script needs at least one [[transaction]]");
    for (const toml::table* t : txns) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[[transaction]]", {"name", "params", "steps"}));
      SqlTransaction tx;
      tx.name = fmt::format("transaction{}", s.txns.size() + 1);
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "name", "transaction", &tx.name));
      const std::string where = fmt::format("transaction '{}'", tx.name);
      if (const toml::node* p = t->get("params")) {
        const toml::table* pt = p->as_table();
        if (!pt) return fail(p, where + ": 'params' must be a table of name = \"generator\"");
        for (const auto& [k, v] : *pt) {
          if (!v.is_string()) {
            return fail(&v, fmt::format("{}: parameter '{}' must be a generator string such as "
                                        "\"int(1,10)\"",
                                        where, k.str()));
          }
          tx.params.push_back({std::string(k.str()), v.as_string()->get()});
        }
      }
      const toml::node* steps = t->get("steps");
      if (!steps) return fail(t, where + " needs 'steps'");
      const toml::array* sa = steps->as_array();
      if (!sa || sa->empty()) return fail(steps, where + ": 'steps' must be a non-empty array");
      for (const auto& e : *sa) {
        SqlStep st;
        if (e.is_string()) {
          st.sql = e.as_string()->get();
        } else if (const toml::table* et = e.as_table()) {
          SNAPSIM_RETURN_IF_ERROR(
              known_keys(*et, where + " step", {"sql", "db", "capture", "client_visible", "on_error"}));
          SNAPSIM_RETURN_IF_ERROR(get_string(*et, "sql", "step", &st.sql, true));
          SNAPSIM_RETURN_IF_ERROR(get_string(*et, "db", "step", &st.db));
          SNAPSIM_RETURN_IF_ERROR(get_string(*et, "capture", "step", &st.capture));
          SNAPSIM_RETURN_IF_ERROR(get_bool(*et, "client_visible", "step", &st.client_visible));
          if (st.client_visible && st.capture.empty()) {
            return fail(et->get("client_visible"), where + ": 'client_visible' marks a captured value: give 'capture'");
          }
          std::string on_error = "fail";
          SNAPSIM_RETURN_IF_ERROR(get_string(*et, "on_error", "step", &on_error));
          if (on_error != "fail" && on_error != "rollback") {
            return fail(et->get("on_error"), fmt::format("'step.on_error' must be fail or rollback, got '{}'", on_error));
          }
          st.rollback_on_error = on_error == "rollback";
        } else {
          return fail(&e, where + ": each step must be an SQL string or { sql = ..., db = ..., capture = ... }");
        }
        if (st.sql.find_first_not_of(" \t\r\n") == std::string::npos) {
          return fail(&e, where + ": a step has empty SQL");
        }
        tx.steps.push_back(st);
      }
      s.txns.push_back(tx);
    }
    std::vector<const toml::table*> invs;
    SNAPSIM_RETURN_IF_ERROR(table_array(root, "invariant", &invs));
    for (const toml::table* t : invs) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[[invariant]]", {"name", "sql", "db", "per", "also", "check"}));
      SqlInvariant inv;
      inv.name = fmt::format("invariant{}", s.invariants.size() + 1);
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "name", "invariant", &inv.name));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "db", "invariant", &inv.db));
      if (t->get("per") || t->get("check") || t->get("also")) {
        // A per-key invariant: checked only where its keys changed.
        if (t->get("sql")) return fail(t, fmt::format("invariant '{}': give either sql, or per and check", inv.name));
        std::string per, check;
        SNAPSIM_RETURN_IF_ERROR(get_string(*t, "per", "invariant", &per, true));
        SNAPSIM_RETURN_IF_ERROR(get_string(*t, "check", "invariant", &check, true));
        std::vector<std::string> also;
        if (const toml::node* a = t->get("also")) {
          const toml::array* arr = a->as_array();
          if (!arr) return fail(a, "'invariant.also' must be an array of \"table.column\" names");
          for (const auto& x : *arr) {
            if (!x.is_string()) return fail(&x, "'invariant.also' must be an array of \"table.column\" names");
            also.push_back(x.as_string()->get());
          }
        }
        s.invariants.push_back(per_key_invariant(inv.name, per, also, check, inv.db));
        continue;
      }
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "sql", "invariant", &inv.sql, true));
      s.invariants.push_back(inv);
    }
    std::vector<const toml::table*> files;
    SNAPSIM_RETURN_IF_ERROR(table_array(root, "file", &files));
    for (const toml::table* t : files) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(
          *t, "[[file]]", {"name", "content", "when", "disk", "fsync", "fsync_dir", "transaction", "check"}));
      SqlFile f;
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "name", "file", &f.name, true));
      SNAPSIM_RETURN_IF_ERROR(get_bool(*t, "fsync_dir", "file", &f.fsync_dir));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "transaction", "file", &f.transaction));
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "check", "file", &f.check));
      if (f.check != "exact" && f.check != "exists" && f.check != "none") {
        return fail(t->get("check"), fmt::format("'file.check' must be exact, exists or none, got '{}'", f.check));
      }
      if (!f.transaction.empty()) {
        bool known = false;
        for (const auto& tx : s.txns) known = known || tx.name == f.transaction;
        if (!known) {
          return fail(t->get("transaction"),
                      fmt::format("'file.transaction' names '{}', which is no [[transaction]]", f.transaction));
        }
      }
      f.content = "{txn}\n";
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "content", "file", &f.content));
      std::string when = "after_commit";
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "when", "file", &when));
      if (when != "after_commit" && when != "before_commit") {
        return fail(t->get("when"), fmt::format("'file.when' must be before_commit or after_commit, got '{}'", when));
      }
      f.after_commit = when == "after_commit";
      int64_t disk = 0;
      SNAPSIM_RETURN_IF_ERROR(get_int(*t, "disk", "file", 0, 7, &disk));
      f.disk = static_cast<uint32_t>(disk);
      SNAPSIM_RETURN_IF_ERROR(get_bool(*t, "fsync", "file", &f.fsync));
      s.files.push_back(f);
    }
    auto st = validate_spec(s);
    if (!st.is_ok()) return Status::invalid_argument(fmt::format("{}: {}", path_, st.message()));
    return s;
  }

};

}  // namespace

bool is_script_path(const std::string& name) {
  return name.size() > 5 && name.compare(name.size() - 5, 5, ".toml") == 0;
}

Result<toml::table> parse_toml(const std::string& text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::string what(e.description());
    return Status::invalid_argument(
        fmt::format("{}:{}:{}: TOML syntax error: {}", path, e.source().begin.line,
                    e.source().begin.column, what));
  }
}

Result<std::string> read_script_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status::invalid_argument(fmt::format("workload script '{}' is a directory, not a file", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(fmt::format("cannot read workload script '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (4u << 20)) {
    return Status::invalid_argument(fmt::format("{}: script is larger than 4 MiB", path));
  }
  return ss.str();
}

Result<SqlSpec> parse_script(const std::string& text, const std::string& path,
                             const std::vector<std::string>& overrides) {
  auto root = parse_toml(text, path);
  if (!root) return root.status();
  try {
    return Loader(path).load(*root, overrides);
  } catch (const std::exception& e) {
    return Status::invalid_argument(fmt::format("{}: {}", path, e.what()));
  }
}

Result<std::unique_ptr<Workload>> load_script(const std::string& path,
                                              const std::vector<std::string>& overrides) {
  auto text = read_script_file(path);
  if (!text) return text.status();
  auto spec = parse_script(*text, path, overrides);
  if (!spec) return spec.status();
  std::vector<ParamSpec> none;
  auto params = Params::resolve(spec->name, none, {});
  if (!params) return params.status();
  // Record the resolved settings so reports and replays show them.
  std::vector<ParamSpec> shown = {
      {"journal_mode", ParamKind::kText, spec->journal_mode, "", 0, 0, {}},
      {"synchronous", ParamKind::kText, spec->synchronous, "", 0, 0, {}},
      {"clients", ParamKind::kText, std::to_string(spec->clients), "", 0, 0, {}, true},
      {"transactions", ParamKind::kText, std::to_string(spec->transactions), "", 0, 0, {}, true},
  };
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    shown.push_back({o.substr(0, eq), ParamKind::kText, o.substr(eq + 1), "", 0, 0, {}});
  }
  auto resolved = Params::resolve(spec->name, shown, {});
  if (!resolved) return resolved.status();
  return std::unique_ptr<Workload>(std::make_unique<SqlApp>(std::move(*spec), std::move(*resolved)));
}

Result<std::unique_ptr<Workload>> load_workload(const std::string& name,
                                                const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!is_script_path(name) && std::filesystem::is_directory(name, ec)) {
    return Status::invalid_argument(fmt::format(
        "'{}' is a directory: give a built-in workload name or a script file ending in .toml", name));
  }
  return is_script_path(name) ? load_script(name, overrides) : make_workload(name, overrides);
}

}  // namespace snapsim::workloads
