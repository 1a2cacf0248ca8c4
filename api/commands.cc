#include "api/commands.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <sstream>
#include <cstdlib>
#include <thread>
#include <chrono>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "checkers/suite.h"
#include "explore/shrinker.h"
#include "reports/atomic_file.h"
#include "cowbench/cow_bench_report.h"
#include "cowbench/cow_bench.h"
#include "reports/html_report.h"
#include "reports/junit.h"
#include "reports/results_db.h"
#include "reports/json_report.h"
#include "reports/matrix.h"
#include <sqlite3.h>

#include "host/fuse_fs.h"
#include "host/process.h"
#include "host/trace.h"
#include "workloads/registry.h"
#include "workloads/script.h"

namespace snapsim::api {

namespace {

struct Config {
  explore::ExploreOptions options;
  bool progress = false;  // --progress: progress lines even when stderr is not a terminal
  std::string shard;  // "K/N" when sharded
  std::string schedules_text;
  std::vector<explore::Verdict> fail_on;
  std::vector<explore::ClientOutcome> fail_on_client;  // memory model outcomes
};

int bad_input(const std::string& message) {
  fmt::print(stderr, "snapsim: {}\n", message);
  return kExitBadInput;
}

// A failed run: its message (after `prefix`), and, when its code says the
// COW pool filled up (a setting, not a bug in the workload), which flag to
// raise.
int bad_input(const cow::Status& st, const std::string& prefix = {}) {
  const std::string& m = st.message();
  const std::string text = prefix.empty() || m.starts_with(prefix + ": ") ? m : prefix + ": " + m;
  return bad_input(st.code() == cow::Code::kOutOfSpace ? text + " (raise --pool-blocks)" : text);
}

// Validates the shared flags; returns an error message or empty.
std::string make_config(const RunFlags& f, Config* c) {
  auto model = explore::parse_model(f.model);
  if (!model) return "--model: " + model.status().message();
  c->options.model = *model;
  // Power loss quiesces nothing: the crash model explores level none, and
  // the default list of levels means just that there.
  const bool crash = *model == explore::Model::kCrash, memory = *model == explore::Model::kMemory;
  auto levels =
      explore::parse_quiesce_list((crash || memory) && f.quiesce == RunFlags{}.quiesce ? "none" : f.quiesce);
  if (!levels) return "--quiesce: " + levels.status().message();
  if (crash && (levels->size() != 1 || levels->front() != explore::Quiesce::kNone)) {
    return "--model crash (power loss) has no quiesce level: use --quiesce none";
  }
  if (memory && (levels->size() != 1 || levels->front() != explore::Quiesce::kNone)) {
    return "--model memory (a memory snapshot reverted to) has no quiesce level: use --quiesce none";
  }
  if (!memory && (f.revert_after_ms || f.keepalive_ms != RunFlags{}.keepalive_ms)) {
    return "--revert-after-ms and --keepalive-ms are for --model memory";
  }
  c->options.revert_after_ms = f.revert_after_ms;
  c->options.keepalive_ms = f.keepalive_ms;
  c->options.levels = *levels;
  if (f.crash_states < 1 || f.crash_states > 4096) return "--crash-states must be from 1 to 4096";
  c->options.crash_states = f.crash_states;
  if (f.sector_size < 512 || f.sector_size > 4096 || (f.sector_size & (f.sector_size - 1))) {
    return fmt::format("--sector-size must be 512, 1024, 2048 or 4096, got {}", f.sector_size);
  }
  c->options.sector_size = f.sector_size;
  auto wb = sim::parse_writeback(f.writeback);
  if (!wb) return "--writeback: " + wb.status().message();
  c->options.writeback = *wb;
  c->options.seed = f.seed;
  if (!f.fs_data.empty()) {
    if (f.fs_data != "ordered" && f.fs_data != "writeback") {
      return fmt::format("--fs-data: unknown mode '{}' (expected ordered or writeback)", f.fs_data);
    }
    c->options.ordered_data = f.fs_data == "ordered";
  }
  if (!f.fs.empty()) {
    auto mode = sim::parse_fs_mode(f.fs);
    if (!mode) return "--fs: " + mode.status().message();
    c->options.fs_mode = *mode;
  }
  c->options.pool_blocks = f.pool_blocks;
  c->options.max_points = f.max_points;
  c->progress = f.progress;
  if (f.max_memory.empty()) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    c->options.max_memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page / 4 * 3 : 0;
  } else if (f.max_memory == "0") {
    c->options.max_memory_bytes = 0;
  } else {
    auto sz = cowbench::parse_size(f.max_memory);
    if (!sz || *sz < (16u << 20)) {
      return fmt::format("--max-memory must be a size of at least 16m (as 512m, 4g) or 0 for no limit, got '{}'",
                         f.max_memory);
    }
    c->options.max_memory_bytes = *sz;
  }
  if (f.pool_blocks == 0 || f.pool_blocks >= UINT32_MAX) {
    return fmt::format("--pool-blocks must be from 1 to {}", UINT32_MAX - 1);
  }
  if (f.schedules == "all") {
    c->options.all_schedules = true;
  } else {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(f.schedules.data(), f.schedules.data() + f.schedules.size(), n);
    if (ec != std::errc() || p != f.schedules.data() + f.schedules.size() || n == 0 || n > 100000) {
      return fmt::format("--schedules must be a number from 1 to 100000 or 'all', got '{}'",
                         f.schedules);
    }
    c->options.schedules = n;
  }
  c->schedules_text = f.schedules;
  c->options.jobs = f.jobs ? f.jobs : std::max(1u, std::thread::hardware_concurrency());
  if (c->options.jobs > 256) return "--jobs must be from 1 to 256";
  // Shards: explicit --shard K/N, else the batch engine's environment.
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  auto number = [](const std::string& s, int64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  int64_t index = 0, count = 1;
  if (!f.shard.empty()) {
    const auto slash = f.shard.find('/');
    int64_t k = 0;
    if (slash == std::string::npos || !number(f.shard.substr(0, slash), &k) ||
        !number(f.shard.substr(slash + 1), &count) || count < 1 || k < 1 || k > count) {
      return fmt::format("--shard must be K/N with 1 <= K <= N, got '{}'", f.shard);
    }
    index = k - 1;
  } else if (auto jci = env("JOB_COMPLETION_INDEX")) {
    if (f.shard_count == 0) {
      return "JOB_COMPLETION_INDEX is set: give the number of completions with --shard-count N";
    }
    count = f.shard_count;
    if (!number(*jci, &index) || index < 0 || index >= count) {
      return fmt::format("JOB_COMPLETION_INDEX '{}' is not an index below --shard-count {}", *jci, count);
    }
  } else if (auto id = env("SLURM_ARRAY_TASK_ID")) {
    auto cnt = env("SLURM_ARRAY_TASK_COUNT");
    int64_t min = 0;
    if (auto m = env("SLURM_ARRAY_TASK_MIN"); m && !number(*m, &min)) min = 0;
    if (!cnt || !number(*cnt, &count) || count < 1 || !number(*id, &index) || index - min < 0 ||
        index - min >= count) {
      return fmt::format("SLURM_ARRAY_TASK_ID '{}' with SLURM_ARRAY_TASK_COUNT '{}' is not a valid shard",
                         *id, cnt ? *cnt : "unset");
    }
    index -= min;
  } else if (f.shard_count > 0) {
    return "--shard-count is only used with JOB_COMPLETION_INDEX; use --shard K/N";
  }
  c->options.shard_index = static_cast<uint32_t>(index);
  c->options.shard_count = static_cast<uint32_t>(count);
  if (count > 1) c->shard = fmt::format("{}/{}", index + 1, count);
  c->options.record_points = !f.db.empty() || !f.html.empty();
  if (!f.fail_on.empty()) {
    std::stringstream ss(f.fail_on);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (auto o = explore::parse_client_outcome(item)) {
        c->fail_on_client.push_back(*o);
        continue;
      }
      auto v = explore::parse_verdict(item);
      if (!v) {
        return fmt::format(
            "--fail-on: unknown verdict '{}' (expected consistent, recovered, lost_committed, "
            "torn_transaction, invariant_violation, corrupt, unrecoverable, or with --model memory "
            "reverted_acknowledged, reissued_identifier, blocked_session)",
            item);
      }
      c->fail_on.push_back(*v);
    }
  }
  return {};
}

bool stderr_is_tty() { return ::isatty(2) == 1; }

// Progress on stderr (wall clock: this is the user interface, not the
// simulation): on a terminal one line rewritten in place once a run has
// taken a second; otherwise (a CI log) a plain line every 10 s once a run has
// taken 10 s, or every 2 s with --progress. Each says points judged, points
// per second and, when the total is known, an estimate of the time left.
class ProgressLine {
 public:
  ProgressLine(std::string label, bool always, std::string group = "schedule", std::string unit = "points judged")
      : label_(std::move(label)), group_(std::move(group)), unit_(std::move(unit)),
        start_(std::chrono::steady_clock::now()), tty_(stderr_is_tty()),
        every_(tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(always ? 2000 : 10000)),
        first_(tty_ ? std::chrono::milliseconds(1000) : every_), last_(start_) {}
  ~ProgressLine() {
    if (shown_ && tty_) fmt::print(stderr, "\r\033[K");
  }
  void update(uint32_t schedule, uint32_t schedules, uint64_t judged, uint64_t schedule_end) {
    const auto now = std::chrono::steady_clock::now();
    if (schedule != schedule_) {
      schedule_ = schedule;
      schedule_start_ = judged;
    }
    if (now - start_ < first_ || now - last_ < every_) return;
    last_ = now;
    shown_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(judged) / secs : 0;
    // The fraction done: schedules done plus this schedule's share of its points.
    double done = -1;
    const uint64_t in_schedule = schedule_end > schedule_start_ ? schedule_end - schedule_start_ : 0;
    const double within = in_schedule ? static_cast<double>(judged - schedule_start_) / in_schedule : 0;
    if (schedules > 0) done = (schedule + within) / schedules;
    std::string eta;
    if (done > 0.001) {
      const double left = secs * (1 - done) / done;
      eta = left >= 90 ? fmt::format(", about {:.0f} min left", left / 60) : fmt::format(", about {:.0f} s left", left);
    }
    std::string bar;
    if (tty_ && schedules > 0) {
      const int filled = static_cast<int>(20.0 * std::clamp(done, 0.0, 1.0));
      bar = "[" + std::string(filled, '#') + std::string(20 - filled, '.') + "] ";
    }
    const std::string text =
        fmt::format("{}{}: {} {}{}, {} {}, {:.0f}/s{}", bar, label_, group_, schedule + 1,
                    schedules ? fmt::format("/{}", schedules) : std::string(), judged, unit_, rate, eta);
    if (tty_) {
      fmt::print(stderr, "\r{}\033[K", text);
    } else {
      fmt::print(stderr, "progress: {}\n", text);
    }
    std::fflush(stderr);
  }

 private:
  std::string label_, group_, unit_;
  std::chrono::steady_clock::time_point start_;
  bool tty_;
  std::chrono::milliseconds every_, first_;
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
  uint32_t schedule_ = UINT32_MAX;
  uint64_t schedule_start_ = 0;
};

// "k=v" items as given, the last of each key winning, in first-given order.
std::vector<std::pair<std::string, std::string>> named_overrides(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& kv) { return kv.first == k; });
    if (it != out.end()) {
      it->second = v;
    } else {
      out.emplace_back(k, v);
    }
  }
  return out;
}

cow::Result<std::vector<reports::RunRecord>> explore_workload(workloads::Workload& w,
                                                              const Config& c,
                                                              const std::string& source = {},
                                                              const std::vector<std::string>& overrides = {}) {
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o = c.options;
  ProgressLine progress(w.name(), c.progress);
  o.progress = [&progress](uint32_t s, uint32_t n, uint64_t points, uint64_t end) {
    progress.update(s, n, points, end);
  };
  auto r = explore::explore(w, suite, o);
  if (!r) return r.status();
  const reports::RunSettings settings{w.name(), source, w.params().all(), named_overrides(overrides),
                                      c.schedules_text, c.shard};
  return reports::make_run_records(settings, c.options, *r);
}

int finish(const std::vector<reports::RunRecord>& runs, const RunFlags& f, const Config& c) {
  // Every results file a run can write: its flag's value and its writer.
  // A new format is one line here (and its flag in main.cc).
  using Writer = std::function<cow::Status(const std::string& path)>;
  auto text = [&](auto render) -> Writer {
    return [&runs, render](const std::string& path) { return reports::write_file_atomically(path, render(runs)); };
  };
  const std::pair<const std::string&, Writer> writers[] = {
      {f.json, text([](const auto& rs) { return reports::to_json(rs); })},
      {f.junit, text([&c](const auto& rs) { return reports::to_junit(rs, c.fail_on, c.fail_on_client); })},
      {f.html, text([](const auto& rs) { return reports::to_html(rs, "snapsim report"); })},
      {f.db, [&](const std::string& path) { return reports::write_results_db(path, runs, c.shard); }},
  };
  for (const auto& [path, write] : writers) {
    if (path.empty()) continue;
    auto st = write(path);
    if (!st.is_ok()) return bad_input(st.message());
  }
  fmt::print("{}", reports::render_matrix(runs, ::isatty(1) == 1));
  for (const auto& r : runs) {
    for (auto v : c.fail_on) {
      if (r.level.verdicts[static_cast<size_t>(v)] > 0) return kExitFailOn;
    }
    for (auto o : c.fail_on_client) {
      if (r.level.client && r.level.client->points[static_cast<size_t>(o)] > 0) return kExitFailOn;
    }
  }
  return kExitOk;
}

}  // namespace

int list_workloads() {
  for (const auto& w : workloads::builtin_workloads()) {
    fmt::print("{}\n  {}\n", w.name, w.description);
    for (const auto& p : w.params) {
      std::string domain;
      switch (p.kind) {
        case workloads::ParamKind::kInt: domain = fmt::format("{}..{}", p.min, p.max); break;
        case workloads::ParamKind::kChoice: domain = fmt::format("{}", fmt::join(p.choices, "|")); break;
        case workloads::ParamKind::kBool: domain = "true|false"; break;
        case workloads::ParamKind::kText: domain = "text"; break;
      }
      fmt::print("    -p {:<22} {} ({})\n", p.name + "=" + p.default_value, p.help, domain);
    }
  }
  return kExitOk;
}

uint64_t failures_of(const explore::LevelResult& l) { return explore::failure_count(l.verdicts); }

// --shrink: explore::shrink() over the workload's shrinkable parameters
// (clients, then invoices or transactions, then lines), each trial judged
// at the levels where the run failed. Prints the shrunk configuration and
// its replay.
void shrink(const std::string& name, const std::vector<std::string>& shrinkable,
            const std::vector<reports::RunRecord>& runs, const RunFlags& f, const Config& c) {
  std::vector<explore::Quiesce> failing;
  for (const auto& r : runs) {
    if (failures_of(r.level) > 0) failing.push_back(r.level.level);
  }
  if (failing.empty()) return;
  std::map<std::string, std::string> params = runs.front().params;
  for (const auto& p : f.params) {
    const auto eq = p.find('=');
    if (eq != std::string::npos) params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  Config probe = c;
  probe.options.levels = failing;
  probe.options.record_points = false;
  probe.options.progress = nullptr;
  std::optional<std::vector<reports::RunRecord>> best;  // of the last failing trial
  auto fails = [&](const explore::ParamMap& ps) {
    std::vector<std::string> overrides;
    for (const auto& [k, v] : ps) overrides.push_back(k + "=" + v);
    auto w = host::load_workload(name, overrides);
    if (!w) return false;
    auto r = explore_workload(**w, probe, host::is_workload_file(name) ? name : "");
    if (!r) return false;
    for (const auto& rec : *r) {
      if (failures_of(rec.level) > 0) {
        best = *r;
        return true;
      }
    }
    return false;
  };
  const explore::Shrunk shrunk = explore::shrink(params, shrinkable, fails);
  if (!shrunk.fails || !best) return;
  params = shrunk.params;
  for (const auto& rec : *best) {
    if (failures_of(rec.level) == 0 || !rec.level.first_failure) continue;
    std::string shown;
    for (const auto& key : shrinkable) shown += fmt::format(" {}={}", key, params.at(key));
    const auto& ff = *rec.level.first_failure;
    fmt::print("\nshrunk {} to{}: still fails under {}: {} at point {}: {}\n  replay: {}\n", name,
               shown, explore::quiesce_name(rec.level.level), explore::verdict_name(ff.verdict), ff.point,
               ff.detail, rec.replay);
  }
}

int run_workloads(const std::vector<std::string>& names, const RunFlags& f) {
  Config c;
  if (auto e = make_config(f, &c); !e.empty()) return bad_input(e);
  std::vector<std::unique_ptr<workloads::Workload>> ws;
  auto recording_progress = [&](const std::string& line) {
    if (::isatty(2)) fmt::print(stderr, "recording: {}\n", line);
  };
  std::vector<std::string> script_of = names;
  for (const auto& name : names) {
    auto w = host::load_workload(name, f.params, recording_progress);
    if (!w) return bad_input(w.status().message());
    ws.push_back(std::move(*w));
  }
  if (!f.save_trace.empty()) {
    std::shared_ptr<const host::Recording> rec;
    for (size_t i = 0; i < ws.size(); ++i) {
      auto r = host::recording_of(*ws[i]);
      if (!r) continue;
      if (rec) return bad_input("--save-trace: more than one process workload given; save one at a time");
      rec = r;
      script_of[i] = f.save_trace;  // replays read the saved recording
    }
    if (!rec) return bad_input("--save-trace: no process workload given (only a [process] script has a recording)");
    if (!host::is_trace_path(f.save_trace)) return bad_input("--save-trace: the file name must end in .trace");
    if (cow::Status st = reports::write_file_atomically(f.save_trace, host::encode_trace(*rec)); !st.is_ok()) {
      return bad_input(st.message());
    }
  }
  std::vector<reports::RunRecord> runs;
  std::vector<std::vector<reports::RunRecord>> per_workload;
  for (size_t i = 0; i < ws.size(); ++i) {
    auto& w = ws[i];
    auto r = explore_workload(*w, c, host::is_workload_file(names[i]) ? script_of[i] : "", f.params);
    if (!r) return bad_input(r.status(), w->name());
    runs.insert(runs.end(), r->begin(), r->end());
    per_workload.push_back(*r);
  }
  const int rc = finish(runs, f, c);
  if (f.shrink) {
    for (size_t i = 0; i < names.size(); ++i) shrink(names[i], ws[i]->params().shrinkable(), per_workload[i], f, c);
  }
  return rc;
}

int run_suite(const RunFlags& f) {
  Config c;
  if (auto e = make_config(f, &c); !e.empty()) return bad_input(e);
  const auto entries = workloads::builtin_suite();
  std::vector<std::string> levels;
  for (auto q : c.options.levels) levels.push_back(explore::quiesce_name(q));
  fmt::print("snapsim built-in suite: {} configurations, seed {}, writeback {}, {} schedule(s), "
             "{}\n\n",
             entries.size(), c.options.seed, sim::writeback_name(c.options.writeback),
             c.schedules_text,
             c.options.model == explore::Model::kCrash
                 ? fmt::format("model crash (power loss, {} images per flush)", c.options.crash_states)
             : c.options.model == explore::Model::kMemory
                 ? std::string("model memory (a memory snapshot reverted to at every step boundary)")
                 : fmt::format("quiesce {}", fmt::join(levels, ",")));
  std::vector<reports::RunRecord> runs;
  size_t done = 0;
  for (const auto& [name, overrides] : entries) {
    if (stderr_is_tty()) {
      fmt::print(stderr, "\r[{}/{}] {} {}\033[K", ++done, entries.size(), name,
                 fmt::join(overrides, " "));
    }
    auto w = workloads::make_workload(name, overrides);
    if (!w) return bad_input(w.status().message());
    auto r = explore_workload(**w, c, {}, overrides);
    if (!r) return bad_input(r.status(), name);
    runs.insert(runs.end(), r->begin(), r->end());
  }
  if (stderr_is_tty()) fmt::print(stderr, "\r\033[K");
  return finish(runs, f, c);
}

int replay(const std::string& name, const RunFlags& f) {
  Config c;
  if (auto e = make_config(f, &c); !e.empty()) return bad_input(e);
  if (!f.point) return bad_input("replay needs --point P");
  if (c.options.levels.size() != 1) return bad_input("replay needs exactly one --quiesce level");
  auto w = host::load_workload(name, f.params);
  if (!w) return bad_input(w.status().message());
  c.options.only_point = std::make_pair(c.options.levels.front(), *f.point);
  c.options.export_dir = f.export_dir;
  auto suite = checkers::CheckerSuite::standard();
  auto r = explore::explore(**w, suite, c.options);
  if (!r) return bad_input(r.status(), name);
  const auto& p = *r->replayed;
  fmt::print("{} point {} (quiesce {}, schedule {}): {}\n", name, p.point,
             explore::quiesce_name(p.level), p.schedule, explore::verdict_name(p.judgement.verdict));
  if (!p.judgement.detail.empty()) fmt::print("  detail: {}\n", p.judgement.detail);
  fmt::print("  commits acknowledged {}, issued {}; trace position {}\n", p.acked, p.issued,
             p.trace_pos);
  if (!p.note.empty()) fmt::print("  {}\n", p.note);
  if (!p.client_outcomes.empty()) {
    fmt::print("  after reverting to this moment (the clients lived on, then reconnected):\n");
    for (const auto& l : p.client_outcomes) fmt::print("    {}\n", l);
  }
  if (!p.state.summary.empty()) fmt::print("  restored state: {}\n", p.state.summary);
  if (p.in_flight.empty()) {
    fmt::print("  no transaction was in flight at the snapshot\n");
  } else {
    for (const auto& t : p.in_flight) fmt::print("  in flight at the snapshot: {}\n", t);
  }
  if (!p.state.recovery_detail.empty()) fmt::print("  recovery: {}\n", p.state.recovery_detail);
  for (const auto& inv : p.state.invariant_failures) fmt::print("  invariant failed: {}\n", inv);
  fmt::print("  files in the restored image:\n");
  for (const auto& file : p.files) fmt::print("    {}\n", file);
  if (!p.exported.empty()) {
    fmt::print("  exported (as restored, before recovery) to {}:\n", f.export_dir);
    for (const auto& e : p.exported) fmt::print("    {}\n", e);
  }
  fmt::print("  the last events before the snapshot:\n");
  for (const auto& e : p.trace_before) fmt::print("    {}\n", e);
  return kExitOk;
}

namespace {
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}
}  // namespace

int cow_bench(const CowBenchFlags& f) {
  // Axes first: every bad value is reported before anything runs.
  std::vector<uint32_t> snaps;
  for (const auto& s : split_list(f.snapshots)) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 3 || std::stoi(s) > 256) {
      return bad_input(fmt::format("--snapshots: '{}' is not a count from 0 to 256", s));
    }
    snaps.push_back(static_cast<uint32_t>(std::stoi(s)));
  }
  std::vector<cow::WritePolicy> policies;
  for (const auto& p : split_list(f.policy)) {
    auto pol = cow::parse_policy(p);
    if (!pol) return bad_input("--policy: " + pol.status().message());
    policies.push_back(*pol);
  }
  std::vector<uint32_t> sizes;
  for (const auto& b : split_list(f.block_size)) {
    auto sz = cowbench::parse_size(b);
    if (!sz) return bad_input("--block-size: " + sz.status().message());
    if (*sz < 512 || *sz > (1u << 20) || (*sz & (*sz - 1))) {
      return bad_input(fmt::format("--block-size: '{}' is not a power of two from 512 to 1m", b));
    }
    sizes.push_back(static_cast<uint32_t>(*sz));
  }
  std::vector<cow::DeviceProfile> devices;
  for (const auto& d : split_list(f.device)) {
    auto dev = cow::find_device(d);
    if (!dev) return bad_input("--device: " + dev.status().message());
    devices.push_back(*dev);
  }
  if (snaps.empty() || policies.empty() || sizes.empty() || devices.empty()) {
    return bad_input("--snapshots, --policy, --block-size and --device need at least one value");
  }
  if (f.ios <= 0 || f.ios > 100'000'000) return bad_input(fmt::format("--ios must be from 1 to 100000000, got {}", f.ios));
  if (f.fsync_every < 0) return bad_input(fmt::format("--fsync-every must not be negative, got {}", f.fsync_every));
  if (f.every < 0 || f.keep < 0) return bad_input("--every and --keep must not be negative");
  if (f.keep > 256) return bad_input("--keep must be at most 256");
  if (f.keep > 0 && f.every == 0) return bad_input("--keep needs --every K");
  if (f.every > 0 && f.keep == 0) return bad_input("--every needs --keep R");
  uint64_t pool_bytes = 0;
  if (!f.pool_size.empty()) {
    auto p = cowbench::parse_size(f.pool_size);
    if (!p) return bad_input("--pool-size: " + p.status().message());
    if (*p == 0) return bad_input("--pool-size must be positive");
    pool_bytes = *p;
  }
  std::vector<cowbench::IoOp> ops;
  uint64_t volume_bytes = 0;
  cowbench::CowBenchRun run;
  if (!f.workload.empty()) {
    auto w = host::load_workload(f.workload, f.params);
    if (!w) return bad_input(w.status().message());
    auto stream = cowbench::record_block_stream(**w, f.seed, &volume_bytes);
    if (!stream) return bad_input(stream.status(), f.workload);
    ops = std::move(*stream);
    run.source = fmt::format("block writes of workload {} ({} writes)", (*w)->name(), ops.size());
  } else {
    auto io = cowbench::parse_size(f.io_size);
    if (!io) return bad_input("--io-size: " + io.status().message());
    auto vol = cowbench::parse_size(f.volume_size);
    if (!vol) return bad_input("--volume-size: " + vol.status().message());
    if (*vol == 0) return bad_input("--volume-size must be positive");
    if (*io > UINT32_MAX) return bad_input("--io-size is too large");
    if (pool_bytes && pool_bytes < *vol) {
      return bad_input(fmt::format("the pattern's volume ({} bytes) is larger than the pool ({} bytes)", *vol, pool_bytes));
    }
    cowbench::PatternSpec spec{f.pattern, static_cast<uint32_t>(*io), static_cast<uint64_t>(f.ios),
                          static_cast<uint64_t>(f.fsync_every), *vol};
    auto p = cowbench::make_pattern(spec, f.seed);
    if (!p) return bad_input(p.status().message());
    ops = std::move(*p);
    volume_bytes = *vol;
    run.source = fmt::format("{} {} x {} on a {} volume{}", f.pattern, f.io_size, f.ios, f.volume_size,
                             f.fsync_every ? fmt::format(", flush every {} writes", f.fsync_every) : "");
  }
  const size_t total = policies.size() * sizes.size() * devices.size() * (f.every ? 1 : snaps.size());
  ProgressLine progress("cow-bench", false, "configuration", "I/Os of it");
  size_t done = 0;
  for (auto pol : policies) {
    for (auto bs : sizes) {
      for (const auto& dev : devices) {
        for (size_t si = 0; si < (f.every ? 1 : snaps.size()); ++si) {
          cowbench::CowBenchConfig cfg{pol, bs, f.every ? 0 : snaps[si], dev, static_cast<uint64_t>(f.every),
                                  static_cast<uint64_t>(f.keep)};
          cowbench::CowBenchOptions o;
          o.pool_bytes = pool_bytes;
          o.seed = f.seed;
          o.fill_touched_only = !f.workload.empty();
          o.progress = [&](uint64_t d, uint64_t t) {
            progress.update(static_cast<uint32_t>(done), static_cast<uint32_t>(total), d, t);
          };
          auto r = cowbench::run_cow_bench(cfg, ops, volume_bytes, o);
          if (!r) return bad_input(r.status());
          run.results.push_back(std::move(*r));
          ++done;
        }
      }
    }
  }
  if (!f.json.empty()) {
    auto st = reports::write_file_atomically(f.json, cowbench::cow_bench_json(run));
    if (!st.is_ok()) return bad_input(st.message());
  }
  if (!f.html.empty()) {
    auto st = reports::write_file_atomically(f.html, cowbench::cow_bench_html(run));
    if (!st.is_ok()) return bad_input(st.message());
  }
  fmt::print("{}", cowbench::cow_bench_table(run));
  return kExitOk;
}

std::string version_line(const std::string& version, const std::string& revision) {
  return fmt::format("snapsim {} (git {}, SQLite {}, libfuse {})", version, revision, sqlite3_libversion(),
                     host::fuse_version());
}

int show_trace(const std::string& path) {
  auto rec = host::read_trace(path);
  if (!rec) return bad_input(rec.status().message());
  fmt::print("# {} (trace format {}): {} client(s), recorded on {} data={} {} MiB; {} request(s) and markers\n",
             rec->workload, host::kTraceVersion, rec->clients, rec->fs_mode, rec->fs_data, rec->disk_mb,
             rec->ops.size());
  for (const auto& [k, v] : rec->params) fmt::print("# param {}={}\n", k, v);
  fmt::print("# check: {}\n", rec->check_run);
  if (!rec->check_committed.empty()) fmt::print("# committed: {}\n", rec->check_committed);
  for (const auto& [name, content] : rec->files) fmt::print("# file {} ({} bytes)\n", name, content.size());
  for (size_t i = 0; i < rec->ops.size(); ++i) fmt::print("{}\n", host::describe_op(rec->ops[i], i));
  return 0;
}

int merge(const std::string& out, const std::vector<std::string>& inputs, const RunFlags& f) {
  std::vector<std::vector<reports::RunRecord>> shards;
  for (const auto& in : inputs) {
    auto r = reports::read_results_db(in);
    if (!r) return bad_input(r.status().message());
    shards.push_back(std::move(*r));
  }
  auto merged = reports::merge_runs(shards);
  if (!merged) return bad_input(merged.status().message());
  auto st = reports::write_results_db(out, *merged, "merged");
  if (!st.is_ok()) return bad_input(st.message());
  if (!f.json.empty()) {
    auto js = reports::write_file_atomically(f.json, reports::to_json(*merged));
    if (!js.is_ok()) return bad_input(js.message());
  }
  fmt::print("{}", reports::render_matrix(*merged, ::isatty(1) == 1));
  return kExitOk;
}

}  // namespace snapsim::api
