#include "host/process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <xxhash.h>

#include "explore/inspector.h"
#include "host/command.h"
#include "host/fuse_fs.h"
#include "host/replay.h"
#include "workloads/script.h"
#include "workloads/script_loader.h"
#include "workloads/sql_app.h"

namespace snapsim::host {

using cow::Result;
using cow::Status;
using explore::AppState;
using explore::Digest;

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kCommitTag = 0x50524f4345535321ULL;  // "PROCESS!": digests of commit counts
Digest commit_digest(uint64_t k) { return Digest{k, kCommitTag}; }

// Where restored images are exported for checks: $TMPDIR when set, else
// /dev/shm (memory: a check's export is written and removed at once, and a
// disk file system pays for every file it just deleted, e.g. ext4 scanning
// its recently deleted inodes at each create: 25 s against 6 s for 160
// PostgreSQL clusters), else /tmp.
std::string temp_base() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t) return t;
  if (::access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  return "/tmp";
}

// A private directory under temp_base(), removed with the object by the
// process that made it (forked inspection workers leave it alone).
class TempDir {
 public:
  static Result<TempDir> make(const std::string& what) {
    std::string tmpl = fmt::format("{}/snapsim-{}-XXXXXX", temp_base(), what);
    if (!::mkdtemp(tmpl.data())) {
      return Status::error(cow::Code::kIoError,
                           fmt::format("cannot make a temporary directory {}: {}", tmpl, std::strerror(errno)));
    }
    ::chmod(tmpl.c_str(), 0755);  // commands may run as another user
    TempDir d;
    d.path_ = tmpl;
    d.owner_ = ::getpid();
    return d;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)), owner_(o.owner_) { o.path_.clear(); }
  TempDir& operator=(TempDir&& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(owner_, o.owner_);
    return *this;
  }
  ~TempDir() {
    if (!path_.empty() && owner_ == ::getpid()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  pid_t owner_ = 0;
};

Status write_files(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [name, content] : files) {
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) return Status::error(cow::Code::kIoError, fmt::format("cannot write {}", p.string()));
    ::chmod(p.c_str(), 0755);
  }
  return Status::ok();
}

// {name} replaced from vars; an unknown name is an error naming it.
Result<std::string> render(const std::string& tmpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    // "{{" and "}}" are literal braces ("awk '{{print $1}}'").
    if ((tmpl[i] == '{' || tmpl[i] == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == tmpl[i]) {
      out += tmpl[i++];
      continue;
    }
    if (tmpl[i] != '{') {
      out += tmpl[i];
      continue;
    }
    const size_t close = tmpl.find('}', i);
    const std::string key = close == std::string::npos ? "" : tmpl.substr(i + 1, close - i - 1);
    bool ident = !key.empty();
    for (char c : key) ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ident) {  // not a template: shell braces such as ${VAR} or {a,b} stay
      out += tmpl[i];
      continue;
    }
    auto it = vars.find(key);
    if (it == vars.end()) {
      return Status::invalid_argument(fmt::format("'{{{}}}' in '{}' is not a parameter of the transaction", key, tmpl));
    }
    out += it->second;
    i = close;
  }
  return out;
}

class ProcessLoader : public workloads::ScriptLoader {
 public:
  using ScriptLoader::ScriptLoader;

  Result<ProcessSpec> load(toml::table& root, const std::vector<std::string>& overrides) {
    static const std::map<std::string, std::string> kShort = {
        {"clients", "clients.count"}, {"transactions", "clients.transactions"}, {"seed", "process.seed"}};
    static const std::map<std::string, char> kScalars = {
        {"name", 's'},         {"clients.count", 'i'}, {"clients.transactions", 'i'}, {"process.seed", 'i'},
        {"process.user", 's'}, {"process.timeout_ms", 'i'}, {"check.timeout_ms", 'i'}, {"fs.mode", 's'},
        {"fs.data", 's'},      {"fs.disk_mb", 'i'}, {"fs.inodes", 'i'}};
    ProcessSpec s;
    // [process] vars: the script's own settings, {name} in every command,
    // each overridable by -p name=value.
    if (const toml::table* p = root.get_as<toml::table>("process")) {
      if (const toml::node* vn = p->get("vars")) {
        const toml::table* vt = vn->as_table();
        if (!vt) return fail(vn, "'process.vars' must be a table of name = \"value\"");
        for (const auto& [k, v] : *vt) {
          const std::string key(k.str());
          if (key == "client" || key == "txn" || kShort.count(key)) {
            return fail(&v, fmt::format("'process.vars.{}' is a reserved name", key));
          }
          if (v.is_string()) {
            s.vars[key] = v.as_string()->get();
          } else if (v.is_integer()) {
            s.vars[key] = std::to_string(v.as_integer()->get());
          } else if (v.is_boolean()) {
            s.vars[key] = v.as_boolean()->get() ? "true" : "false";
          } else {
            return fail(&v, fmt::format("'process.vars.{}' must be a string, integer or boolean", key));
          }
        }
      }
    }
    for (const auto& o : overrides) {
      const auto eq = o.find('=');
      if (eq != std::string::npos && s.vars.count(o.substr(0, eq))) {
        s.vars[o.substr(0, eq)] = o.substr(eq + 1);
        continue;
      }
      SNAPSIM_RETURN_IF_ERROR(apply_override(root, o, kShort, kScalars,
                                             "a setting such as clients, transactions, seed, fs.mode, "
                                             "fs.disk_mb, check.timeout_ms, or a name in [process] vars"));
    }
    s.path = path_;
    s.dir = fs::path(path_).parent_path().string();
    if (s.dir.empty()) s.dir = ".";
    SNAPSIM_RETURN_IF_ERROR(
        known_keys(root, "the script", {"name", "process", "clients", "transaction", "check", "fs", "quiesce"}));
    if (const toml::node* qn = root.get("quiesce")) {
      const toml::table* q = qn->as_table();
      if (!q) return fail(qn, "[quiesce] must be a table");
      SNAPSIM_RETURN_IF_ERROR(
          known_keys(*q, "[quiesce]", {"pre_freeze", "post_thaw", "drain", "timeout_ms", "on_failure"}));
      s.has_hook = true;
      for (const char* key : {"pre_freeze", "post_thaw"}) {
        auto* list = std::string(key) == "pre_freeze" ? &s.pre_freeze : &s.post_thaw;
        if (const toml::node* e = q->get(key)) {
          const toml::array* a = e->as_array();
          if (!a) return fail(e, fmt::format("'quiesce.{}' must be an array of commands", key));
          for (const auto& x : *a) {
            if (!x.is_string()) return fail(&x, fmt::format("'quiesce.{}' must be an array of commands", key));
            list->push_back(x.as_string()->get());
          }
        }
      }
      bool drain = false;
      SNAPSIM_RETURN_IF_ERROR(get_bool(*q, "drain", "quiesce", &drain));
      if (!drain) {
        return fail(q, "a process workload's hook needs 'quiesce.drain = true': a hook cannot run inside a "
                       "recorded command, only between them");
      }
      int64_t t = static_cast<int64_t>(s.hook_timeout_ms);
      SNAPSIM_RETURN_IF_ERROR(get_int(*q, "timeout_ms", "quiesce", 0, 86400000, &t));
      s.hook_timeout_ms = static_cast<uint64_t>(t);
      std::string policy = "fail";
      SNAPSIM_RETURN_IF_ERROR(get_string(*q, "on_failure", "quiesce", &policy));
      if (policy != "fail" && policy != "crash_consistent") {
        return fail(q->get("on_failure"),
                    fmt::format("'quiesce.on_failure' must be fail or crash_consistent, got '{}'", policy));
      }
      s.hook_crash_consistent = policy == "crash_consistent";
    }
    SNAPSIM_RETURN_IF_ERROR(get_string(root, "name", "the script", &s.name, true));
    const toml::table* p = root.get_as<toml::table>("process");
    if (!p) return fail(&root, "[process] must be a table");
    SNAPSIM_RETURN_IF_ERROR(known_keys(*p, "[process]", {"setup", "server", "ready", "stop", "files", "user", "seed",
                                                        "timeout_ms", "ready_timeout_ms", "vars"}));
    SNAPSIM_RETURN_IF_ERROR(get_string(*p, "setup", "process", &s.setup));
    SNAPSIM_RETURN_IF_ERROR(get_string(*p, "server", "process", &s.server));
    SNAPSIM_RETURN_IF_ERROR(get_string(*p, "ready", "process", &s.ready));
    SNAPSIM_RETURN_IF_ERROR(get_string(*p, "stop", "process", &s.stop));
    SNAPSIM_RETURN_IF_ERROR(get_string(*p, "user", "process", &s.user));
    int64_t v = 1;
    SNAPSIM_RETURN_IF_ERROR(get_int(*p, "seed", "process", 0, INT64_MAX, &v));
    s.seed = static_cast<uint64_t>(v);
    v = s.timeout_ms;
    SNAPSIM_RETURN_IF_ERROR(get_int(*p, "timeout_ms", "process", 1, 86400000, &v));
    s.timeout_ms = static_cast<uint32_t>(v);
    v = s.ready_timeout_ms;
    SNAPSIM_RETURN_IF_ERROR(get_int(*p, "ready_timeout_ms", "process", 1, 3600000, &v));
    s.ready_timeout_ms = static_cast<uint32_t>(v);
    if (s.server.empty() && (!s.ready.empty() || !s.stop.empty())) {
      return fail(p, "'process.ready' and 'process.stop' need 'process.server'");
    }
    if (const toml::node* f = p->get("files")) {
      const toml::array* a = f->as_array();
      if (!a) return fail(f, "'process.files' must be an array of file names");
      for (const auto& e : *a) {
        if (!e.is_string()) return fail(&e, "'process.files' must be an array of file names");
        const std::string name = e.as_string()->get();
        if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos) {
          return fail(&e, fmt::format("'{}' in process.files must be a relative path next to the script", name));
        }
        s.files.push_back(name);
      }
    }
    if (const toml::table* c = root.get_as<toml::table>("clients")) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*c, "[clients]", {"count", "transactions"}));
      v = 1;
      SNAPSIM_RETURN_IF_ERROR(get_int(*c, "count", "clients", 1, 64, &v));
      s.clients = static_cast<uint32_t>(v);
      v = 1;
      SNAPSIM_RETURN_IF_ERROR(get_int(*c, "transactions", "clients", 0, 100000, &v));
      s.transactions = static_cast<uint32_t>(v);
    }
    std::vector<const toml::table*> txns;
    SNAPSIM_RETURN_IF_ERROR(table_array(root, "transaction", &txns));
    if (txns.empty() && s.transactions > 0) return fail(&root, "a process script needs at least one [[transaction]]");
    for (const toml::table* t : txns) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*t, "[[transaction]]", {"name", "params", "run"}));
      ProcessTxn x;
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "name", "transaction", &x.name));
      if (x.name.empty()) x.name = fmt::format("txn{}", s.txns.size());
      SNAPSIM_RETURN_IF_ERROR(get_string(*t, "run", "transaction", &x.run, true));
      std::map<std::string, std::string> vars = s.vars;
      vars["client"] = vars["txn"] = "0";
      if (const toml::node* pn = t->get("params")) {
        const toml::table* pt = pn->as_table();
        if (!pt) return fail(pn, "'transaction.params' must be a table of name = \"generator\"");
        for (const auto& [k, g] : *pt) {
          if (!g.is_string()) return fail(&g, fmt::format("parameter '{}' must be a generator string", k.str()));
          const std::string gen = g.as_string()->get();
          if (Status st = workloads::check_generator(gen); !st.is_ok()) {
            return fail(&g, fmt::format("parameter '{}': {}", k.str(), st.message()));
          }
          x.params.emplace_back(std::string(k.str()), gen);
          vars[std::string(k.str())] = "0";
        }
      }
      if (auto r = render(x.run, vars); !r) return fail(t->get("run"), fmt::format("transaction '{}': {}", x.name, r.status().message()));
      s.txns.push_back(std::move(x));
    }
    const toml::table* c = root.get_as<toml::table>("check");
    if (!c) return fail(&root, "a process script needs a [check] table with 'run'");
    SNAPSIM_RETURN_IF_ERROR(known_keys(*c, "[check]", {"run", "committed", "recover", "timeout_ms"}));
    SNAPSIM_RETURN_IF_ERROR(get_string(*c, "recover", "check", &s.check_recover));
    SNAPSIM_RETURN_IF_ERROR(get_string(*c, "run", "check", &s.check_run, true));
    SNAPSIM_RETURN_IF_ERROR(get_string(*c, "committed", "check", &s.check_committed));
    v = s.check_timeout_ms;
    SNAPSIM_RETURN_IF_ERROR(get_int(*c, "timeout_ms", "check", 1, 3600000, &v));
    s.check_timeout_ms = static_cast<uint32_t>(v);
    if (const toml::table* f = root.get_as<toml::table>("fs")) {
      SNAPSIM_RETURN_IF_ERROR(known_keys(*f, "[fs]", {"mode", "data", "disk_mb", "inodes"}));
      SNAPSIM_RETURN_IF_ERROR(get_string(*f, "mode", "fs", &s.fs_mode));
      SNAPSIM_RETURN_IF_ERROR(get_string(*f, "data", "fs", &s.fs_data));
      v = s.disk_mb;
      SNAPSIM_RETURN_IF_ERROR(get_int(*f, "disk_mb", "fs", 16, 65536, &v));
      s.disk_mb = static_cast<uint32_t>(v);
      v = s.inodes;
      SNAPSIM_RETURN_IF_ERROR(get_int(*f, "inodes", "fs", 16, 1 << 22, &v));
      s.inodes = static_cast<uint32_t>(v);
      if (!sim::parse_fs_mode(s.fs_mode)) {
        return fail(f->get("mode"), fmt::format("'fs.mode' must be ext4 or nojournal, got '{}'", s.fs_mode));
      }
      if (s.fs_data != "ordered" && s.fs_data != "writeback") {
        return fail(f->get("data"), fmt::format("'fs.data' must be ordered or writeback, got '{}'", s.fs_data));
      }
    }
    // The script's vars in every command ({name}); transactions also get
    // their parameters, {client} and {txn} when they run.
    for (std::string* cmd :
         {&s.setup, &s.server, &s.ready, &s.stop, &s.check_run, &s.check_committed, &s.check_recover}) {
      auto r = render(*cmd, s.vars);
      if (!r) return fail(p, r.status().message());
      *cmd = *r;
    }
    for (auto* list : {&s.pre_freeze, &s.post_thaw}) {
      for (auto& cmd : *list) {
        auto r = render(cmd, s.vars);
        if (!r) return fail(p, r.status().message());
        cmd = *r;
      }
    }
    return s;
  }
};

sim::MachineConfig config_of(const Recording& r) {
  sim::MachineConfig c;
  c.disks = 1;
  c.fs.mode = sim::parse_fs_mode(r.fs_mode).value();
  c.fs.ordered_data = r.fs_data != "writeback";
  c.fs.disk_bytes = static_cast<uint64_t>(r.disk_mb) << 20;
  c.fs.inodes = r.inodes;
  c.fs.max_file_blocks = 0;
  return c;
}

// What the check said about one directory.
struct CheckOutcome {
  AppState state;
};

const char* const kVerdictLine = "verdict:";

std::atomic<uint64_t> g_checks_run{0};

// Paths, types, modes and contents of a host directory tree, hashed: did
// the application's recovery change the image?
uint64_t tree_hash(const std::string& dir) {
  XXH64_state_t* h = XXH64_createState();
  XXH64_reset(h, 0);
  std::error_code ec;
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  std::string buf;
  for (const auto& p : paths) {
    const std::string rel = p.lexically_relative(dir).string();
    XXH64_update(h, rel.data(), rel.size() + 1);
    struct stat st{};
    if (::lstat(p.c_str(), &st) != 0) continue;
    XXH64_update(h, &st.st_mode, sizeof st.st_mode);
    if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      buf = ss.str();
      XXH64_update(h, buf.data(), buf.size());
    } else if (S_ISLNK(st.st_mode)) {
      const std::string t = fs::read_symlink(p, ec).string();
      XXH64_update(h, t.data(), t.size());
    }
  }
  const uint64_t out = XXH64_digest(h);
  XXH64_freeState(h);
  return out;
}

// Runs the recovery, the check (and `committed`) in `dir`; fills an AppState.
AppState judge_directory(const Recording& rec, const std::string& dir, const std::string& files_dir,
                         const std::string& run_dir) {
  AppState s;
  s.opened = true;
  s.digest_known = false;
  Command c;
  c.cwd = dir;
  c.env = {{"SNAPSIM_DIR", dir}, {"SNAPSIM_FILES", files_dir}, {"SNAPSIM_RUN", run_dir}};
  c.timeout_ms = rec.check_timeout_ms;
  c.user = rec.user;
  if (!rec.check_recover.empty()) {
    const uint64_t before = tree_hash(dir);
    c.command = rec.check_recover;
    g_checks_run.fetch_add(1);
    auto r = run_command(c);
    if (!r || r->timed_out || r->exit_status != 0) {
      s.opened = false;
      s.open_error = !r ? "the application's recovery could not start: " + r.status().message()
                        : fmt::format("the application's recovery failed ({}){}", describe_exit(*r, rec.check_timeout_ms),
                                      r->last_line().empty() ? "" : ": " + r->last_line());
      return s;
    }
    if (tree_hash(dir) != before) {
      s.recovered = true;
      s.recovery_detail = "the application's recovery repaired the image" +
                          (r->last_line().empty() ? std::string() : ": " + r->last_line());
    }
  }
  c.command = rec.check_run;
  g_checks_run.fetch_add(1);
  auto r = run_command(c);
  if (!r) {
    s.opened = false;
    s.open_error = "the check could not start: " + r.status().message();
    return s;
  }
  const std::string last = r->last_line();
  if (r->timed_out) {
    s.opened = false;
    s.open_error = fmt::format("the check timed out after {} ms{}", rec.check_timeout_ms,
                               last.empty() ? "" : " (last output: " + last + ")");
    return s;
  }
  if (last.rfind(kVerdictLine, 0) == 0) {
    std::string rest = last.substr(std::strlen(kVerdictLine));
    const size_t b = rest.find_first_not_of(' ');
    rest = b == std::string::npos ? "" : rest.substr(b);
    const size_t sp = rest.find(' ');
    const std::string name = rest.substr(0, sp);
    const std::string detail = sp == std::string::npos ? "" : rest.substr(rest.find_first_not_of(' ', sp));
    auto v = explore::parse_verdict(name);
    if (!v) {
      s.invariant_failures.push_back(fmt::format("the check named an unknown verdict '{}' ({})", name, last));
    } else if (*v == explore::Verdict::kUnrecoverable) {
      s.opened = false;
      s.open_error = detail.empty() ? "the check says the data cannot be opened" : detail;
      return s;
    } else if (*v == explore::Verdict::kRecovered) {
      s.recovered = true;
      s.recovery_detail = detail.empty() ? (s.recovery_detail.empty() ? "the check's recovery ran" : s.recovery_detail)
                                         : detail;
    } else if (*v == explore::Verdict::kCorrupt) {
      s.integrity_error = detail.empty() ? "the check says the data is corrupt" : detail;
    } else if (*v == explore::Verdict::kInvariantViolation) {
      s.invariant_failures.push_back(detail.empty() ? "the check says an invariant fails" : detail);
    } else if (*v != explore::Verdict::kConsistent) {
      s.reported = static_cast<int>(*v);
      s.reported_detail = detail;
    }
  } else if (r->exit_status != 0) {
    s.invariant_failures.push_back(
        fmt::format("the check failed ({}){}", describe_exit(*r, rec.check_timeout_ms), last.empty() ? "" : ": " + last));
  }
  s.summary = last;
  // A "committed: N" line in the check's output is the count, without a
  // second command.
  for (size_t end = r->output.size(); end > 0;) {
    const size_t begin = r->output.rfind('\n', end - 1);
    const size_t from = begin == std::string::npos ? 0 : begin + 1;
    std::string_view line(r->output.data() + from, end - from);
    end = begin == std::string::npos ? 0 : begin;
    constexpr std::string_view kCommitted = "committed:";
    if (line.substr(0, kCommitted.size()) != kCommitted) continue;
    line.remove_prefix(kCommitted.size());
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), n);
    if (ec != std::errc() || p != line.data() + line.size()) {
      s.invariant_failures.push_back(fmt::format("the check printed 'committed: {}', not a count of transactions", line));
      return s;
    }
    s.digest = commit_digest(n);
    s.digest_known = true;
    if (s.summary.rfind(kVerdictLine, 0) != 0 || s.summary.empty()) s.summary = fmt::format("{} transaction(s) committed", n);
    return s;
  }
  if (!rec.check_committed.empty()) {
    c.command = rec.check_committed;
    g_checks_run.fetch_add(1);
    auto k = run_command(c);
    const std::string line = k ? k->last_line() : "";
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), n);
    if (k && !k->timed_out && k->exit_status == 0 && ec == std::errc() && p == line.data() + line.size()) {
      s.digest = commit_digest(n);
      s.digest_known = true;
      s.summary = fmt::format("{} transaction(s) committed", n);
    } else {
      s.invariant_failures.push_back(fmt::format(
          "the committed command {}", !k ? "could not start: " + k.status().message()
                                         : k->exit_status != 0 || k->timed_out
                                               ? fmt::format("failed ({}){}", describe_exit(*k, rec.check_timeout_ms),
                                                             line.empty() ? "" : ": " + line)
                                               : fmt::format("printed '{}', not a count of transactions", line)));
    }
  }
  return s;
}

// Shared by the clients of one execution: where the replay is.
struct Sequencer {
  std::shared_ptr<const Recording> rec;
  OpReplayer replayer;
  size_t cursor = 0;
  std::vector<uint32_t> owner;  // per op: the client that replays it
  std::vector<size_t> last;     // per client: its last op
  Sequencer(std::shared_ptr<const Recording> r, sim::GuestFs* fs, uint32_t root)
      : rec(std::move(r)), replayer(fs, root) {}
};

class ReplayClient : public sim::Client {
 public:
  ReplayClient(uint32_t id, std::shared_ptr<Sequencer> seq, sim::Machine& m, explore::CommitLog& log)
      : id_(id), seq_(std::move(seq)), m_(m), log_(log) {}

  bool done() const override {
    return seq_->cursor >= seq_->rec->ops.size() || id_ >= seq_->last.size() || seq_->cursor > seq_->last[id_];
  }
  bool can_run() const override { return !done() && seq_->owner[seq_->cursor] == id_; }

  Result<sim::StepResult> step() override {
    if (!can_run()) return sim::StepResult::kBlocked;
    const auto& ops = seq_->rec->ops;
    // Requests that change nothing go with the next one: a step is one change.
    while (seq_->cursor < ops.size() && seq_->owner[seq_->cursor] == id_) {
      const Op& op = ops[seq_->cursor];
      const size_t index = seq_->cursor++;
      switch (op.kind) {
        case OpKind::kTxnBegin:
          log_.begin(id_, m_.clock().now_ns());
          m_.trace().add(sim::EventKind::kTxnBegin, id_, op.offset, m_.clock().now_ns(), op.name);
          return sim::StepResult::kProgress;
        case OpKind::kTxnEnd:
          if (op.status == 0) {
            const uint64_t k = log_.ack(id_, commit_digest(log_.acked() + 1));
            m_.trace().add(sim::EventKind::kTxnAck, id_, k, m_.clock().now_ns());
          } else {
            log_.abort(id_);
            m_.trace().add(sim::EventKind::kTxnAbort, id_, 0, m_.clock().now_ns(), op.name2);
          }
          return sim::StepResult::kProgress;
        default:
          if (is_marker(op.kind) || !OpReplayer::applies(op.kind)) continue;
          SNAPSIM_RETURN_IF_ERROR(seq_->replayer.apply(op, index));
          if (op.kind == OpKind::kLookup) continue;  // maps an inode, changes nothing
          return sim::StepResult::kProgress;
      }
    }
    return sim::StepResult::kProgress;
  }

 private:
  uint32_t id_;
  std::shared_ptr<Sequencer> seq_;
  sim::Machine& m_;
  explore::CommitLog& log_;
};

// A hook replayed on a fork of the live run after the drain, one
// state-changing request per step, through the hook-end at `end` (past the
// requests: nothing to do); a hook whose command failed fails there. Either
// a recorded segment with its own replayer (a copy of the run's), or a hook
// that ran in the live server: the main run's own requests (the server's
// work, then the hook's) from where the run's sequencer is.
class HookReplay : public sim::Client {
 public:
  HookReplay(const std::vector<Op>& seg, OpReplayer replayer, sim::Machine& m)
      : ops_(seg), own_(std::move(replayer)), replayer_(&*own_), cursor_(&pos_),
        end_(seg.empty() ? 0 : seg.size() - 1), m_(m), finished_(seg.empty()) {}
  HookReplay(std::shared_ptr<Sequencer> seq, size_t end, sim::Machine& m)
      : ops_(seq->rec->ops), seq_(seq), replayer_(&seq->replayer), cursor_(&seq->cursor), end_(end), m_(m),
        finished_(end >= seq->rec->ops.size()) {}
  bool done() const override { return finished_; }
  Result<sim::StepResult> step() override {
    while (!finished_ && *cursor_ < ops_.size()) {
      const size_t index = (*cursor_)++;
      const Op& op = ops_[index];
      if (index >= end_) {
        finished_ = true;
        if (op.kind == OpKind::kHookEnd && op.status != 0) {
          return Status::invalid_argument(fmt::format("the pre_freeze command failed (exit status {}){}", op.status,
                                                      op.name2.empty() ? "" : ": " + op.name2));
        }
        return sim::StepResult::kProgress;
      }
      if (is_marker(op.kind) || !OpReplayer::applies(op.kind)) continue;
      SNAPSIM_RETURN_IF_ERROR(replayer_->apply(op, index));
      if (op.kind == OpKind::kLookup) continue;
      m_.trace().add(sim::EventKind::kStep, 0, index, m_.clock().now_ns(), "pre_freeze");
      return sim::StepResult::kProgress;
    }
    finished_ = true;
    return sim::StepResult::kProgress;
  }

 private:
  const std::vector<Op>& ops_;
  std::shared_ptr<Sequencer> seq_;  // keeps the run's sequencer (inline hooks)
  std::optional<OpReplayer> own_;   // a segment's own replayer
  OpReplayer* replayer_;
  size_t pos_ = 0;
  size_t* cursor_;
  size_t end_;
  sim::Machine& m_;
  bool finished_;
};

class ProcessWorkload : public workloads::Workload {
 public:
  ProcessWorkload(std::shared_ptr<const Recording> rec, workloads::Params params)
      : rec_(std::move(rec)), params_(std::move(params)) {
    const auto& ops = rec_->ops;
    const size_t n = ops.size();
    setup_end_ = n;
    for (size_t i = 0; i < n; ++i) {
      if (ops[i].kind == OpKind::kTxnBegin) {
        setup_end_ = i;
        break;
      }
    }
    // For the hook at any point, in O(1): transactions ended before each op,
    // and the next op that begins a hook, a transaction or the server's stop.
    ended_before_.assign(n + 1, 0);
    for (size_t i = 0; i < n; ++i) ended_before_[i + 1] = ended_before_[i] + (ops[i].kind == OpKind::kTxnEnd);
    next_boundary_.assign(n + 1, n);
    next_hook_end_.assign(n + 1, n);
    for (size_t i = n; i-- > 0;) {
      next_hook_end_[i] = ops[i].kind == OpKind::kHookEnd ? i : next_hook_end_[i + 1];
      const OpKind k = ops[i].kind;
      const bool boundary = k == OpKind::kHookBegin || k == OpKind::kTxnBegin || k == OpKind::kServerStop ||
                            k == OpKind::kServerStart;
      next_boundary_[i] = boundary ? i : next_boundary_[i + 1];
      inline_hook_ = inline_hook_ || k == OpKind::kHookBegin;
    }
    // The shipped files, made here, in the process that explores (forked
    // inspection workers share them and never outlive it).
    if (auto d = TempDir::make("files")) {
      if (Status st = write_files(d->path(), rec_->files); st.is_ok()) {
        files_ = std::make_shared<TempDir>(std::move(*d));
      } else {
        files_error_ = st.message();
      }
    } else {
      files_error_ = d.status().message();
    }
  }
  std::string name() const override { return rec_->workload; }
  const workloads::Params& params() const override { return params_; }
  const std::shared_ptr<const Recording>& recording() const { return rec_; }

  sim::MachineConfig machine_config() const override { return config_of(*rec_); }

  Status setup(sim::Machine& m) override {
    live_ = std::make_shared<Sequencer>(rec_, &m.fs(0), kRecordedRoot);
    auto& seq = *live_;
    for (; seq.cursor < setup_end_; ++seq.cursor) {
      const Op& op = rec_->ops[seq.cursor];
      if (is_marker(op.kind) || !OpReplayer::applies(op.kind)) continue;
      SNAPSIM_RETURN_IF_ERROR(seq.replayer.apply(op, seq.cursor));
    }
    // Who replays what: a transaction's requests are its client's; those
    // between transactions (a server's own work) go with the next one, and
    // those after the last with the last.
    const size_t n = rec_->ops.size();
    seq.owner.assign(n, 0);
    seq.last.assign(rec_->clients, 0);
    std::vector<bool> any(rec_->clients, false);
    std::vector<int64_t> next_begin(n, -1);
    int64_t nb = -1, last_client = 0;
    for (size_t i = n; i-- > setup_end_;) {
      if (rec_->ops[i].kind == OpKind::kTxnBegin) {
        nb = rec_->ops[i].ino;
        if (last_client == 0 && nb >= 0) last_client = nb;
      }
      next_begin[i] = nb;
    }
    for (size_t i = n; i-- > setup_end_;) {
      if (rec_->ops[i].kind == OpKind::kTxnBegin) {
        last_client = rec_->ops[i].ino;
        break;
      }
    }
    int64_t in = -1;
    for (size_t i = setup_end_; i < n; ++i) {
      const Op& op = rec_->ops[i];
      if (op.kind == OpKind::kTxnBegin) in = op.ino;
      seq.owner[i] = static_cast<uint32_t>(in >= 0 ? in : next_begin[i] >= 0 ? next_begin[i] : last_client);
      if (op.kind == OpKind::kTxnEnd) in = -1;
    }
    for (size_t i = setup_end_; i < rec_->ops.size(); ++i) {
      const uint32_t o = seq.owner[i];
      if (o < rec_->clients) {
        seq.last[o] = i;
        any[o] = true;
      }
    }
    for (uint32_t c = 0; c < rec_->clients; ++c) {
      if (!any[c]) seq.last[c] = 0;
    }
    clients_with_work_ = any;
    return Status::ok();
  }

  Result<Digest> digest(sim::Machine&) override { return commit_digest(0); }

  uint64_t planned_transactions() const override { return ended_before_.empty() ? 0 : ended_before_.back(); }

  std::optional<explore::HookSpec> hook_spec() const override {
    if (!rec_->has_hook) return std::nullopt;
    return explore::HookSpec{true, rec_->hook_timeout_ms, rec_->hook_crash_consistent};
  }

  // On a fork of the live run, after the drain: the hook segment of the
  // transactions ended so far, replayed from where this run's replay is.
  Result<std::unique_ptr<sim::Client>> make_hook(sim::Machine& m) override {
    auto seq = current_.lock();
    if (!seq) return Status::invalid_argument("process workload: the hook needs the run's clients");
    const size_t at = std::min(seq->cursor, rec_->ops.size());
    if (inline_hook_) {
      // The hook ran in the live server: the requests up to the next
      // hook-end, if a hook begins before the next transaction (else the
      // last hook's work is already in the image).
      const size_t n = rec_->ops.size();
      const size_t b = next_boundary_[at], e = next_hook_end_[at];
      size_t end = n;
      if (e < n && e < b) {
        end = e;  // inside a hook: it finishes
      } else if (b < n && rec_->ops[b].kind == OpKind::kHookBegin) {
        end = next_hook_end_[b];
      }
      return std::unique_ptr<sim::Client>(std::make_unique<HookReplay>(seq, end, m));
    }
    const size_t ended = ended_before_[at];
    if (ended >= rec_->hook_segments.size()) {
      return Status::invalid_argument(fmt::format("the recording has no hook segment after {} transaction(s)", ended));
    }
    return std::unique_ptr<sim::Client>(
        std::make_unique<HookReplay>(rec_->hook_segments[ended], seq->replayer, m));
  }

  Result<std::vector<std::unique_ptr<sim::Client>>> make_clients(sim::Machine& m, explore::CommitLog& log) override {
    if (!live_) return Status::invalid_argument("process workload: make_clients before setup");
    live_->replayer.set_fs(&m.fs(0));
    current_ = live_;
    std::vector<std::unique_ptr<sim::Client>> out;
    for (uint32_t c = 0; c < rec_->clients; ++c) {
      if (!clients_with_work_[c]) continue;
      out.push_back(std::make_unique<ReplayClient>(c, live_, m, log));
    }
    live_.reset();
    return out;
  }

  AppState inspect(sim::Machine& restored, explore::CheckMemo*) override {
    AppState s;
    if (!files_) {
      s.open_error = files_error_;
      return s;
    }
    auto img = TempDir::make("image");
    if (!img) {
      s.open_error = img.status().message();
      return s;
    }
    if (Status st = explore::export_tree(restored.fs(0), img->path(), nullptr); !st.is_ok()) {
      s.open_error = "cannot export the image for the check: " + st.message();
      return s;
    }
    auto run = TempDir::make("run");
    if (!run) {
      s.open_error = run.status().message();
      return s;
    }
    ::chmod(run->path().c_str(), 0777);
    return judge_directory(*rec_, img->path(), files_->path(), run->path());
  }

 private:
  static constexpr uint32_t kRecordedRoot = 1;
  std::shared_ptr<const Recording> rec_;
  workloads::Params params_;
  size_t setup_end_ = 0;
  std::shared_ptr<Sequencer> live_;
  std::weak_ptr<Sequencer> current_;  // the clients' sequencer of the run under way
  std::vector<bool> clients_with_work_;
  std::vector<size_t> ended_before_;   // per op index: transactions ended before it
  std::vector<size_t> next_boundary_;  // per op index: the next hook-begin, txn-begin or server start/stop
  std::vector<size_t> next_hook_end_;  // per op index: the next hook-end
  bool inline_hook_ = false;           // the hook ran in the live server (kHookBegin markers)
  std::shared_ptr<TempDir> files_;
  std::string files_error_;
};

Result<workloads::Params> params_of(const Recording& rec) {
  std::vector<workloads::ParamSpec> shown;
  for (const auto& [k, v] : rec.params) {
    shown.push_back({k, workloads::ParamKind::kText, v, "", 0, 0, {}, k == "clients" || k == "transactions"});
  }
  return workloads::Params::resolve(rec.workload, shown, {});
}

}  // namespace

bool is_process_script(const std::string& text) {
  auto root = workloads::parse_toml(text, "");
  return root && root->get("process") != nullptr;
}

Result<ProcessSpec> parse_process_script(const std::string& text, const std::string& path,
                                         const std::vector<std::string>& overrides) {
  auto root = workloads::parse_toml(text, path);
  if (!root) return root.status();
  try {
    return ProcessLoader(path).load(*root, overrides);
  } catch (const std::exception& e) {
    return Status::invalid_argument(fmt::format("{}: {}", path, e.what()));
  }
}

Result<Recording> record_process(const ProcessSpec& spec, const std::function<void(const std::string&)>& progress) {
  const std::string& where = spec.path;
  Recording rec;
  rec.workload = spec.name;
  rec.params = {{"clients", std::to_string(spec.clients)},
                {"transactions", std::to_string(spec.transactions)},
                {"seed", std::to_string(spec.seed)}};
  for (const auto& [k, v] : spec.vars) rec.params[k] = v;
  rec.fs_mode = spec.fs_mode;
  rec.fs_data = spec.fs_data;
  rec.disk_mb = spec.disk_mb;
  rec.inodes = spec.inodes;
  rec.clients = spec.clients;
  rec.check_run = spec.check_run;
  rec.check_committed = spec.check_committed;
  rec.check_recover = spec.check_recover;
  rec.has_hook = spec.has_hook;
  rec.hook_timeout_ms = spec.hook_timeout_ms;
  rec.hook_crash_consistent = spec.hook_crash_consistent;
  rec.pre_freeze = spec.pre_freeze;
  rec.check_timeout_ms = spec.check_timeout_ms;
  rec.user = spec.user;
  for (const auto& f : spec.files) {
    const fs::path p = fs::path(spec.dir) / f;
    std::ifstream in(p, std::ios::binary);
    std::error_code ec;
    if (!in || fs::is_directory(p, ec)) {
      return Status::invalid_argument(
          fmt::format("{}: process.files names '{}', but {} is not a readable file", where, f, p.string()));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    rec.files.emplace_back(f, ss.str());
  }

  auto tmp = TempDir::make("record");
  if (!tmp) return tmp.status();
  const std::string mnt = tmp->path() + "/mnt";
  const std::string files = tmp->path() + "/files";
  const std::string run_dir = tmp->path() + "/run";  // sockets and pid files, outside the guest
  std::error_code ec;
  fs::create_directories(mnt, ec);
  fs::create_directories(files, ec);
  fs::create_directories(run_dir, ec);
  ::chmod(run_dir.c_str(), 0777);
  ::chmod(mnt.c_str(), 0755);
  ::chmod(files.c_str(), 0755);
  SNAPSIM_RETURN_IF_ERROR(write_files(files, rec.files));

  const sim::MachineConfig config = [&] {
    sim::MachineConfig c = config_of(rec);
    c.writeback = sim::Writeback::kLazy;
    return c;
  }();
  const uint64_t pool_blocks = (static_cast<uint64_t>(spec.disk_mb) << 20) / 4096 + 4096;
  auto pool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = pool_blocks});
  if (!pool) return pool.status();
  auto machine = sim::Machine::boot_fresh(&*pool, config, sim::Prng(spec.seed).fork("record"));
  if (!machine) return machine.status();
  sim::Machine& m = **machine;
  if (m.fs(0).root().ino != 1) return Status::invalid_argument("the guest's root is not inode 1");

  // The program's user owns the mount's root, as its own directory would be.
  if (!spec.user.empty()) {
    Command probe;
    probe.command = "id -u; id -g";
    probe.cwd = "/";
    probe.user = spec.user;
    auto r = run_command(probe);
    if (!r) return Status::invalid_argument(fmt::format("{}: process.user: {}", where, r.status().message()));
    unsigned uid = 0, gid = 0;
    if (r->exit_status != 0 || std::sscanf(r->output.c_str(), "%u\n%u", &uid, &gid) != 2) {
      return Status::invalid_argument(fmt::format("{}: cannot run commands as user '{}': {}", where, spec.user, r->last_line()));
    }
    Op op;
    op.kind = OpKind::kSetattr;
    op.ino = 1;
    op.flags = kSetUid | kSetGid;
    op.uid = uid;
    op.gid = gid;
    sim::SetAttr a;
    a.uid = uid;
    a.gid = gid;
    SNAPSIM_RETURN_IF_ERROR(m.fs(0).setattr(m.fs(0).root(), a));
    rec.ops.push_back(op);
  }

  auto mount = FuseMount::mount(m, mnt, &rec.ops);
  if (!mount) return Status::invalid_argument(fmt::format("{}: {}", where, mount.status().message()));
  FuseMount& fm = **mount;
  auto marker = [&](OpKind kind, int32_t status, uint32_t client, uint64_t txn, std::string name, std::string text) {
    Op op;
    op.kind = kind;
    op.status = status;
    op.ino = client;
    op.offset = txn;
    op.name = std::move(name);
    op.name2 = std::move(text);
    fm.locked([&] { rec.ops.push_back(std::move(op)); });
  };
  auto command = [&](const std::string& cmd, std::vector<std::pair<std::string, std::string>> env, uint32_t timeout) {
    Command c;
    c.command = cmd;
    c.cwd = mnt;
    c.env = {{"SNAPSIM_DIR", mnt}, {"SNAPSIM_FILES", files}, {"SNAPSIM_RUN", run_dir}};
    for (auto& e : env) c.env.push_back(std::move(e));
    c.timeout_ms = timeout;
    c.user = spec.user;
    return run_command(c);
  };
  auto failed = [&](const std::string& what, const CommandResult& r, uint32_t timeout) {
    const std::string last = r.last_line();
    return Status::invalid_argument(fmt::format("{}: {} failed ({}){}", where, what, describe_exit(r, timeout),
                                                last.empty() ? "" : ": " + last));
  };

  if (!spec.setup.empty()) {
    if (progress) progress("setup: " + spec.setup);
    marker(OpKind::kSetupBegin, 0, 0, 0, {}, spec.setup);
    const uint32_t open_before = fm.open_files();
    auto r = command(spec.setup, {}, spec.timeout_ms);
    if (!r) return r.status();
    fm.wait_released(2000, open_before);
    marker(OpKind::kSetupEnd, r->exit_status, 0, 0, {}, r->last_line());
    if (r->exit_status != 0 || r->timed_out) return failed("the setup command", *r, spec.timeout_ms);
  }

  std::optional<Background> server;
  if (!spec.server.empty()) {
    if (progress) progress("server: " + spec.server);
    marker(OpKind::kServerStart, 0, 0, 0, {}, spec.server);
    Command c;
    c.command = spec.server;
    c.cwd = mnt;
    c.env = {{"SNAPSIM_DIR", mnt}, {"SNAPSIM_FILES", files}, {"SNAPSIM_RUN", run_dir}};
    c.user = spec.user;
    auto b = Background::start(c);
    if (!b) return b.status();
    server = std::move(*b);
    if (!spec.ready.empty()) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(spec.ready_timeout_ms);
      std::string last;
      for (;;) {
        auto r = command(spec.ready, {}, spec.timeout_ms);
        if (!r) return r.status();
        if (r->exit_status == 0) break;
        last = r->last_line();
        if (!server->running()) {
          return Status::invalid_argument(fmt::format("{}: the server exited before it was ready{}", where,
                                                      last.empty() ? "" : " (ready: " + last + ")"));
        }
        if (std::chrono::steady_clock::now() > until) {
          return Status::invalid_argument(fmt::format("{}: the server was not ready within {} ms{}", where,
                                                      spec.ready_timeout_ms, last.empty() ? "" : " (ready: " + last + ")"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  // Setup is durable before exploring (the explorer syncs it too).
  fm.locked([&] {
    Op op;
    op.kind = OpKind::kSyncAll;
    op.status = sim::errno_of(m.fs(0).sync_all());
    rec.ops.push_back(op);
  });

  // The check must pass on the image before any transaction.
  {
    auto img = TempDir::make("image");
    if (!img) return img.status();
    Status st;
    fm.locked([&] { st = explore::export_tree(m.fs(0), img->path(), nullptr); });
    SNAPSIM_RETURN_IF_ERROR(st);
    const AppState s = judge_directory(rec, img->path(), files, run_dir);
    std::string problem = !s.opened                     ? s.open_error
                          : !s.integrity_error.empty()  ? s.integrity_error
                          : !s.invariant_failures.empty() ? s.invariant_failures.front()
                          : s.reported >= 0             ? s.reported_detail
                                                        : "";
    if (problem.empty() && s.digest_known && !(s.digest == commit_digest(0))) {
      problem = fmt::format("the committed command counts {} transaction(s) before any ran", s.digest.lo);
    }
    if (!problem.empty()) {
      return Status::invalid_argument(
          fmt::format("{}: the check fails on the image before any transaction: {}", where, problem));
    }
  }

  // The hook: its commands run on a copy of the guest as it is now (the
  // recording so far replayed onto a fresh guest), recorded as this
  // moment's segment; the main run never sees them.
  const std::string hook_mnt = tmp->path() + "/hook";
  auto hook_segment = [&]() -> Status {
    if (!spec.has_hook) return Status::ok();
    if (server) {
      // With a server the hook must talk to it: its commands run on the
      // live mount, beside the live server, and are part of the main run.
      marker(OpKind::kHookBegin, 0, 0, 0, {}, spec.pre_freeze.empty() ? "" : spec.pre_freeze.front());
      int status = 0;
      std::string last;
      for (const auto& cmd : spec.pre_freeze) {
        if (progress) progress("pre_freeze: " + cmd);
        const uint32_t open_before = fm.open_files();
        auto r = command(cmd, {}, spec.timeout_ms);
        if (!r) return r.status();
        fm.wait_released(2000, open_before);
        if (r->exit_status == 127 || r->exit_status == 126) return failed("the pre_freeze command '" + cmd + "'", *r, spec.timeout_ms);
        if (r->exit_status != 0) {
          status = r->exit_status;
          last = r->last_line();
          break;
        }
      }
      marker(OpKind::kHookEnd, status, 0, 0, {}, last);
      return Status::ok();
    }
    std::vector<Op> so_far;
    fm.locked([&] { so_far = rec.ops; });
    auto cpool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = pool_blocks});
    if (!cpool) return cpool.status();
    auto copy = sim::Machine::boot_fresh(&*cpool, config, sim::Prng(spec.seed).fork("record"));
    if (!copy) return copy.status();
    OpReplayer replayer(&(*copy)->fs(0), 1);
    for (size_t i = 0; i < so_far.size(); ++i) {
      if (is_marker(so_far[i].kind) || !OpReplayer::applies(so_far[i].kind)) continue;
      SNAPSIM_RETURN_IF_ERROR(replayer.apply(so_far[i], i));
    }
    std::error_code mk;
    fs::create_directories(hook_mnt, mk);
    ::chmod(hook_mnt.c_str(), 0755);
    std::vector<Op> seg;
    int status = 0;
    std::string last;
    {
      auto hm = FuseMount::mount(**copy, hook_mnt, &seg);
      if (!hm) return Status::invalid_argument(fmt::format("{}: the hook's copy: {}", where, hm.status().message()));
      for (const auto& cmd : spec.pre_freeze) {
        Command c;
        c.command = cmd;
        c.cwd = hook_mnt;
        c.env = {{"SNAPSIM_DIR", hook_mnt}, {"SNAPSIM_FILES", files}, {"SNAPSIM_RUN", run_dir}};
        c.timeout_ms = spec.timeout_ms;
        c.user = spec.user;
        auto r = run_command(c);
        if (!r) return r.status();
        (*hm)->wait_released(2000, 0);
        if (r->exit_status == 127 || r->exit_status == 126) return failed("the pre_freeze command '" + cmd + "'", *r, spec.timeout_ms);
        if (r->exit_status != 0) {
          status = r->exit_status;
          last = r->last_line();
          break;
        }
      }
    }
    Op end;
    end.kind = OpKind::kHookEnd;
    end.status = status;
    end.name2 = last;
    seg.push_back(std::move(end));
    rec.hook_segments.push_back(std::move(seg));
    return Status::ok();
  };
  SNAPSIM_RETURN_IF_ERROR(hook_segment());

  // The transactions, one at a time, in an order drawn from the seed.
  const sim::Prng base(spec.seed);
  sim::Prng order = base.fork("process-schedule");
  std::vector<uint32_t> done(spec.clients, 0);
  const uint64_t total = static_cast<uint64_t>(spec.clients) * spec.transactions;
  for (uint64_t n = 0; n < total; ++n) {
    std::vector<uint32_t> ready;
    for (uint32_t c = 0; c < spec.clients; ++c) {
      if (done[c] < spec.transactions) ready.push_back(c);
    }
    const uint32_t client = ready[ready.size() == 1 ? 0 : order.uniform(ready.size())];
    const uint32_t k = done[client]++;
    const ProcessTxn& t = spec.txns[(client + k) % spec.txns.size()];
    sim::Prng draws = base.fork("process-params", client * 1000003ULL + k);
    std::map<std::string, std::string> vars = spec.vars;
    vars["client"] = std::to_string(client);
    vars["txn"] = std::to_string(k);
    for (const auto& [name, gen] : t.params) {
      auto v = workloads::draw_param(gen, draws);
      if (!v) return v.status();
      vars[name] = *v;
    }
    auto cmd = render(t.run, vars);
    if (!cmd) return Status::invalid_argument(fmt::format("{}: {}", where, cmd.status().message()));
    if (progress) progress(fmt::format("client {} transaction {} ({}): {}", client, k, t.name, *cmd));
    marker(OpKind::kTxnBegin, 0, client, k, t.name, *cmd);
    const uint32_t open_before = fm.open_files();
    auto r = command(*cmd, {{"SNAPSIM_CLIENT", std::to_string(client)}, {"SNAPSIM_TXN", std::to_string(k)}},
                     spec.timeout_ms);
    if (!r) return r.status();
    fm.wait_released(2000, open_before);
    marker(OpKind::kTxnEnd, r->exit_status, client, k, t.name, r->last_line());
    if (r->exit_status == 127 || r->exit_status == 126) {
      return failed(fmt::format("transaction '{}' (client {})", t.name, client), *r, spec.timeout_ms);
    }
    SNAPSIM_RETURN_IF_ERROR(hook_segment());
  }

  if (server) {
    if (!spec.stop.empty()) {
      auto r = command(spec.stop, {}, spec.timeout_ms);
      if (!r) return r.status();
    }
    const int st = server->stop(spec.timeout_ms);
    fm.wait_released(2000);
    marker(OpKind::kServerStop, st, 0, 0, {}, {});
  }
  mount->reset();
  return rec;
}

std::unique_ptr<workloads::Workload> make_process_workload(std::shared_ptr<const Recording> recording) {
  auto params = params_of(*recording);
  return std::make_unique<ProcessWorkload>(std::move(recording), params ? std::move(*params) : workloads::Params{});
}

Result<std::unique_ptr<workloads::Workload>> load_trace(const std::string& path, const std::vector<std::string>& overrides) {
  auto rec = read_trace(path);
  if (!rec) return rec.status();
  // Replay commands repeat the recorded parameters; any other value would
  // need a new recording.
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    const std::string key = o.substr(0, eq);
    auto it = rec->params.find(key);
    if (eq == std::string::npos || it == rec->params.end() || it->second != o.substr(eq + 1)) {
      return Status::invalid_argument(fmt::format(
          "{}: a recording's parameters are fixed (-p {} given{}): run its script again to record with others", path,
          o, it == rec->params.end() ? "" : ", recorded with " + key + "=" + it->second));
    }
  }
  if (!sim::parse_fs_mode(rec->fs_mode)) {
    return Status::invalid_argument(fmt::format("{}: unknown file-system mode '{}'", path, rec->fs_mode));
  }
  if (rec->clients == 0 || rec->clients > 64) {
    return Status::invalid_argument(fmt::format("{}: {} clients (1 to 64)", path, rec->clients));
  }
  for (const auto& op : rec->ops) {
    if (op.kind == OpKind::kTxnBegin && op.ino >= rec->clients) {
      return Status::invalid_argument(fmt::format("{}: a transaction of client {} but only {} client(s)", path, op.ino,
                                                  rec->clients));
    }
  }
  return make_process_workload(std::make_shared<const Recording>(std::move(*rec)));
}

uint64_t checks_run() { return g_checks_run.load(); }

bool is_workload_file(const std::string& name) { return workloads::is_script_path(name) || is_trace_path(name); }

Result<std::unique_ptr<workloads::Workload>> load_workload(const std::string& name,
                                                           const std::vector<std::string>& overrides,
                                                           const std::function<void(const std::string&)>& progress) {
  if (is_trace_path(name)) return load_trace(name, overrides);
  if (workloads::is_script_path(name)) {
    auto text = workloads::read_script_file(name);
    if (!text) return text.status();
    if (is_process_script(*text)) {
      auto spec = parse_process_script(*text, name, overrides);
      if (!spec) return spec.status();
      auto rec = record_process(*spec, progress);
      if (!rec) return rec.status();
      return make_process_workload(std::make_shared<const Recording>(std::move(*rec)));
    }
  }
  return workloads::load_workload(name, overrides);
}

std::shared_ptr<const Recording> recording_of(const workloads::Workload& w) {
  const auto* p = dynamic_cast<const ProcessWorkload*>(&w);
  return p ? p->recording() : nullptr;
}

}  // namespace snapsim::host
