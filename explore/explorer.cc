#include "explore/explorer.h"

#include <algorithm>
#include <chrono>
#include <cassert>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "explore/failure_model.h"
#include "explore/fork_wire.h"
#include "explore/inspector.h"

namespace snapsim::explore {

const char* quiesce_name(Quiesce q) {
  switch (q) {
    case Quiesce::kNone: return "none";
    case Quiesce::kFsfreeze: return "fsfreeze";
    case Quiesce::kApp: return "app";
    case Quiesce::kHook: return "hook";
  }
  return "?";
}

cow::Result<Quiesce> parse_quiesce(const std::string& name) {
  if (name == "none") return Quiesce::kNone;
  if (name == "fsfreeze") return Quiesce::kFsfreeze;
  if (name == "app") return Quiesce::kApp;
  if (name == "hook") return Quiesce::kHook;
  return Status::invalid_argument(
      fmt::format("unknown quiesce level '{}' (expected none, fsfreeze, app or hook)", name));
}

std::vector<bool> choose_points(const std::deque<Point>& points, const std::deque<Event>& events, uint64_t max) {
  const size_t n = points.size();
  std::vector<bool> chosen(n, max == 0 || n <= max);
  if (max == 0 || n <= max) return chosen;
  // A point is where durability is decided if the event just before it, or
  // the one it precedes, is a FLUSH, a FUA write, a sync, a rename or an
  // acknowledgement.
  auto decisive = [&](size_t pos) {
    if (pos >= events.size()) return false;
    const Event& e = events[pos];
    switch (e.kind) {
      case EventKind::kFlush:
      case EventKind::kTxnAck: return true;
      case EventKind::kBlockWrite: return (e.b >> 63) != 0;
      case EventKind::kFileOp:
        return e.text.rfind("fsync", 0) == 0 || e.text.rfind("fdatasync", 0) == 0 ||
               e.text.rfind("syncfs", 0) == 0 || e.text.rfind("rename", 0) == 0;
      default: return false;
    }
  };
  std::vector<size_t> first, rest;
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = points[i].trace_pos;
    const bool key = i == 0 || i + 1 == n || (pos > 0 && decisive(pos - 1)) || decisive(pos);
    (key ? first : rest).push_back(i);
  }
  // k of a list, evenly spaced (the middle of each of k equal slices).
  auto spread = [&](const std::vector<size_t>& from, uint64_t k) {
    for (uint64_t j = 0; j < k && j < from.size(); ++j) chosen[from[(2 * j + 1) * from.size() / (2 * k)]] = true;
  };
  if (first.size() >= max) {
    spread(first, max);
  } else {
    for (size_t i : first) chosen[i] = true;
    spread(rest, max - first.size());
  }
  return chosen;
}

cow::Result<std::vector<Quiesce>> parse_quiesce_list(const std::string& list) {
  std::vector<Quiesce> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto q = parse_quiesce(item);
    if (!q) return q.status();
    if (std::find(out.begin(), out.end(), *q) != out.end()) {
      return Status::invalid_argument(fmt::format("quiesce level '{}' is listed twice", item));
    }
    out.push_back(*q);
  }
  if (out.empty()) return Status::invalid_argument("empty quiesce list");
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// What a hook run on a fork of the live run reports back (explorer.cc
// hook_point()): how it ended and, for an image, every block of it that
// differs from the disks at the fork, and the commits the fork made.
struct HookOutcome {
  enum Kind { kFrozen = 0, kFailed = 1, kCrashConsistent = 2 };
  int kind = kFrozen;
  uint64_t time_ns = 0, acked = 0, issued = 0;
  double freeze_ms = 0, wait_ms = 0;
  std::vector<Digest> digests, store_digests;  // commits after the fork's first
  DiskBlocks blocks;  // per disk: (lba, data)
  std::string error;  // the fork itself failed
};

nlohmann::json to_json(const HookOutcome& o) {
  nlohmann::json j;
  j["kind"] = o.kind;
  j["time_ns"] = o.time_ns;
  j["acked"] = o.acked;
  j["issued"] = o.issued;
  j["freeze_ms"] = o.freeze_ms;
  j["wait_ms"] = o.wait_ms;
  j["digests"] = digests_json(o.digests);
  j["store_digests"] = digests_json(o.store_digests);
  j["blocks"] = blocks_json(o.blocks);
  j["error"] = o.error;
  return j;
}

HookOutcome from_json(const nlohmann::json& j) {
  HookOutcome o;
  o.kind = j.at("kind").get<int>();
  o.time_ns = j.at("time_ns").get<uint64_t>();
  o.acked = j.at("acked").get<uint64_t>();
  o.issued = j.at("issued").get<uint64_t>();
  o.freeze_ms = j.at("freeze_ms").get<double>();
  o.wait_ms = j.at("wait_ms").get<double>();
  o.digests = digests_from_json(j.at("digests"));
  o.store_digests = digests_from_json(j.at("store_digests"));
  o.blocks = blocks_from_json(j.at("blocks"));
  o.error = j.at("error").get<std::string>();
  return o;
}

// This process's resident memory, from /proc/self/statm (0 if unknown).
uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

struct LevelState {
  bool wanted = false;
  std::deque<Point> points;  // a deque: a million points grow without a copy of them all
  ImageSet images;  // distinct content hashes
  double freeze_sum_ms = 0;
  HookStats hook;
};

// Everything one execution needs; destroyed (pool and all) after judging.
// The failure model takes the points through the RunView this implements.
class Execution : public RunView {
 public:
  Execution(Scenario& scenario, const ExploreOptions& o, uint32_t schedule, Probes* probes)
      : scenario_(scenario), options_(o), schedule_(schedule), model_(make_failure_model(o.model)),
        probes_(probes) {}

  Status run(ChoiceSource& choices, std::array<LevelState, kQuiesceCount>& levels) {
    levels_ = &levels;
    auto pool = cow::Pool::create(
        cow::PoolOptions{.block_size = options_.block_size, .capacity_blocks = options_.pool_blocks});
    if (!pool) return pool.status();
    pool_ = std::make_unique<cow::Pool>(std::move(*pool));
    const MachineConfig config = machine_config();
    // A baseline's write log sees every block write from mkfs on, as
    // dm-log-writes does when the file system is made on the logged device.
    std::function<void(const BlockWriteRecord&)> boot_log;
    if (options_.baseline.begin) options_.baseline.begin();
    if (options_.baseline.write_log) {
      boot_log = [this](const BlockWriteRecord& w) {
        ++writes_logged_;
        options_.baseline.write_log(w);
      };
    }
    // Each seeded schedule is its own world: its own interleaving and its
    // own writeback moments and order, client data and SQLite nonces (the
    // machine stream is forked by schedule). Enumerating every interleaving
    // keeps one world, so that a replayed prefix of choices reaches the
    // same state.
    const uint64_t world = options_.all_schedules ? 0 : schedule_;
    auto m = Machine::boot_fresh(pool_.get(), config, Prng(options_.seed).fork("machine", world), boot_log);
    if (!m) return m.status();
    machine_ = std::move(*m);
    Machine& mc = *machine_;
    mc.trace().add(EventKind::kNote, 0, 0, 0, "setup");
    SNAPSIM_RETURN_IF_ERROR(scenario_.setup(mc));
    SNAPSIM_RETURN_IF_ERROR(mc.sync_all());
    auto d0 = scenario_.digests(mc);
    if (!d0) return d0.status();
    log_.set_initial(d0->first, d0->second);
    auto clients = scenario_.make_clients(mc, log_);
    if (!clients) return clients.status();
    std::vector<Client*>& raw = clients_;
    raw.clear();
    for (auto& c : *clients) raw.push_back(c.get());
    choices_ = &choices;
    mc.trace().add(EventKind::kNote, 0, 0, mc.clock().now_ns(), "exploration starts");

    SNAPSIM_RETURN_IF_ERROR(model_->start(*this));
    if (wants(Quiesce::kHook)) SNAPSIM_RETURN_IF_ERROR(hook_point());
    // Hooks run inside the guest's I/O: an error waits in pending_ until
    // the step ends.
    mc.set_flush_hook([this](uint32_t disk) {
      if (pending_.is_ok()) pending_ = model_->on_flush(disk);
    });
    mc.set_write_hook([this](uint32_t disk) {
      if (options_.baseline.write_log) {
        ++writes_logged_;
        options_.baseline.write_log(machine_->disk(disk).last_write());
      }
      if (pending_.is_ok()) pending_ = model_->on_block_write(disk);
    });
    mc.set_op_hook([this](const std::string&) {
      if (pending_.is_ok()) pending_ = model_->on_file_op();
    });
    auto after_step = [this]() -> Status {
      SNAPSIM_RETURN_IF_ERROR(pending_);
      const bool acked = log_.acked() != last_ack_seen_;
      last_ack_seen_ = log_.acked();
      SNAPSIM_RETURN_IF_ERROR(model_->after_step(acked));
      if (wants(Quiesce::kHook)) SNAPSIM_RETURN_IF_ERROR(hook_point());
      return stream_points();
    };
    Status st = run_schedule(raw, choices, after_step, options_.limits);
    mc.set_write_hook(nullptr);
    mc.set_op_hook(nullptr);
    mc.set_flush_hook(nullptr);
    SNAPSIM_RETURN_IF_ERROR(pending_);
    if (st.is_ok()) SNAPSIM_RETURN_IF_ERROR(model_->finish());
    if (st.is_ok()) SNAPSIM_RETURN_IF_ERROR(stream_points());
    return st;
  }

  // Streaming: each new point goes to `fn` between steps (never inside the
  // guest's I/O), which inspects it and releases its snapshots, so a run
  // holds a few hundred bytes per point instead of its image. Only with one
  // disk: a point then owns its snapshot, and no model rearranges points
  // after the run (post_process moves disks of sequential group snapshots).
  using StreamFn = std::function<Status(Quiesce, size_t index, Point&)>;
  void set_stream(StreamFn fn) { stream_ = std::move(fn); }
  bool streaming() const { return stream_ && machine_ && machine_->disk_count() == 1; }

  // Before judging: the model may rearrange the points (sequential group
  // snapshots take each disk at a later moment).
  void post_process() {
    LevelPoints points;
    for (size_t q = 0; q < kQuiesceCount; ++q) points[q] = std::move((*levels_)[q].points);
    model_->post_process(machine_config(), points);
    for (size_t q = 0; q < kQuiesceCount; ++q) (*levels_)[q].points = std::move(points[q]);
  }

  MachineConfig machine_config() const {
    MachineConfig c = scenario_.machine_config();
    c.writeback = options_.writeback;
    if (options_.fs_mode) c.fs.mode = *options_.fs_mode;
    if (options_.ordered_data) c.fs.ordered_data = *options_.ordered_data;
    return c;
  }

  // RunView
  Machine& machine() override { return *machine_; }
  cow::Pool& pool() override { return *pool_; }
  const CommitLog& log() const override { return log_; }
  const ExploreOptions& options() const override { return options_; }
  uint32_t schedule() const override { return schedule_; }
  bool wants(Quiesce q) const override { return (*levels_)[static_cast<size_t>(q)].wanted; }
  void add_point(Quiesce q, Point p) override {
    // Every point images every disk, and never claims more than was begun.
    assert(p.snaps.size() == machine_->disk_count());
    assert(p.acked <= p.issued);
    (*levels_)[static_cast<size_t>(q)].points.push_back(std::move(p));
    if (options_.max_memory_bytes && ++points_taken_ % 1024 == 0 && pending_.is_ok()) {
      const uint64_t rss = resident_bytes();
      if (rss > options_.max_memory_bytes) {
        uint64_t held = 0;
        for (const auto& l : *levels_) held += l.points.size();
        // What the whole run would take, at the rate so far.
        const uint64_t planned = scenario_.planned_transactions(), begun = std::max<uint64_t>(log_.issued(), 1);
        const std::string whole =
            planned > begun ? fmt::format(" of {} planned: the whole run would hold about {} points and {} MiB",
                                          planned, held * planned / begun, (rss >> 20) * planned / begun)
                            : "";
        pending_ = Status::error(
            cow::Code::kMemoryLimit,
            fmt::format("the run would exceed --max-memory {} MiB: schedule {} holds {} snapshot point(s) in {} MiB "
                        "after {} transaction(s) begun{}; judge fewer (--max-points, fewer --schedules), make the "
                        "workload smaller, or raise --max-memory",
                        options_.max_memory_bytes >> 20, schedule_, held, rss >> 20, log_.issued(), whole));
      }
    }
  }
  uint64_t writes_logged() const override { return writes_logged_; }
  Probes& probes() override { return *probes_; }
  Scenario& scenario() override { return scenario_; }
  const std::vector<Client*>& clients() const override { return clients_; }
  CommitLog& client_log() override { return log_; }
  const std::vector<Receipt>* history() const override { return history_.get(); }
  // Memory model: the receipts of this schedule's first pass.
  void set_history(std::shared_ptr<const std::vector<Receipt>> h) { history_ = std::move(h); }

  CrashCoverage coverage() const { return model_->coverage(); }

 private:
  Status stream_points() {
    if (!streaming()) return Status::ok();
    for (size_t q = 0; q < kQuiesceCount; ++q) {
      auto& pts = (*levels_)[q].points;
      for (; streamed_[q] < pts.size(); ++streamed_[q]) {
        SNAPSIM_RETURN_IF_ERROR(stream_(static_cast<Quiesce>(q), streamed_[q], pts[streamed_[q]]));
      }
    }
    return Status::ok();
  }
  StreamFn stream_;
  std::array<size_t, kQuiesceCount> streamed_{};
  Scenario& scenario_;
  const ExploreOptions& options_;
  uint32_t schedule_;
  std::unique_ptr<FailureModel> model_;
  Probes* probes_;
  Status hook_point();
  HookOutcome run_hook_on_fork(const HookSpec& spec);

  std::array<LevelState, kQuiesceCount>* levels_ = nullptr;
  std::shared_ptr<const std::vector<Receipt>> history_;
  std::vector<Client*> clients_;
  ChoiceSource* choices_ = nullptr;
  uint64_t hook_requests_ = 0;
  std::unique_ptr<cow::Pool> pool_;
  std::unique_ptr<Machine> machine_;
  CommitLog log_;
  Status pending_;  // an error inside a hook, surfaced after the step
  uint64_t points_taken_ = 0;
  uint64_t writes_logged_ = 0;               // block writes a baseline's log has seen
  uint64_t last_ack_seen_ = 0;               // acknowledgements already seen
};

// The memory model's outcomes of one judged point, counted into `out`.
void count_client_outcomes(const Point::Revert& r, uint64_t point, uint32_t schedule, ClientOutcomes* out) {
  const bool has[kClientOutcomeCount] = {r.reverted > 0, r.reissued > 0, r.blocked};
  for (size_t k = 0; k < kClientOutcomeCount; ++k) {
    if (!has[k]) continue;
    out->points[k]++;
    if (!out->first[k]) out->first[k] = PointFailure{point, Verdict::kConsistent, r.detail[k], schedule};
  }
  out->reverted_acknowledgements += r.reverted;
  out->reissued_identifiers += r.reissued;
  out->blocked_ms_max = std::max(out->blocked_ms_max, r.blocked_ms);
}

// The `hook` level: a snapshot requested at this step boundary. The hook
// changes the run (it waits, takes locks, holds new transactions), so it runs
// on a fork() of the whole simulator: the child runs the hook under the
// scheduler beside the clients, freezes, and sends back the image's blocks
// that differ from the disks at the fork; the main run goes on unchanged.
// The child's choices come from its own stream (seed, schedule, request
// number), so the point is deterministic and independent of --jobs.
Status Execution::hook_point() {
  const auto spec = scenario_.hook_spec();
  if (!spec) return Status::ok();
  Machine& mc = *machine_;
  LevelState& ls = (*levels_)[static_cast<size_t>(Quiesce::kHook)];
  ls.hook.requested++;
  std::vector<cow::SnapshotId> base;
  for (uint32_t d = 0; d < mc.disk_count(); ++d) {
    auto s = pool_->snapshot(mc.disk(d).volume());
    if (!s) return s.status();
    base.push_back(*s);
  }
  const size_t trace_pos = mc.trace().size();
  const uint64_t acked_at_fork = log_.acked();
  const std::vector<Digest> digests_at_fork = log_.digests();
  const std::vector<Digest> store_at_fork = log_.store_digests();
  auto in = run_on_fork([&] { return nlohmann::json::to_msgpack(to_json(run_hook_on_fork(*spec))); },
                        fmt::format("the hook run for request {}", hook_requests_));
  if (!in) return in.status();
  const nlohmann::json j = nlohmann::json::from_msgpack(*in, true, false);
  if (j.is_discarded()) {
    return Status::error(cow::Code::kIoError, fmt::format("the hook run for request {} sent no message", hook_requests_));
  }
  HookOutcome o;
  try {
    o = from_json(j);
  } catch (const nlohmann::json::exception& e) {
    return Status::error(cow::Code::kIoError, fmt::format("a hook run's message lacks a field: {}", e.what()));
  }
  ++hook_requests_;
  if (!o.error.empty()) return Status::error(cow::Code::kIoError, "hook run: " + o.error);
  ls.hook.wait_ms_max = std::max(ls.hook.wait_ms_max, o.wait_ms);
  if (o.kind != HookOutcome::kFrozen) ls.hook.timed_out++;
  if (o.kind == HookOutcome::kFailed) {
    ls.hook.failed++;
    for (auto b : base) SNAPSIM_RETURN_IF_ERROR(pool_->delete_snapshot(b));
    return Status::ok();
  }
  if (o.kind == HookOutcome::kCrashConsistent) ls.hook.crash_consistent++;
  Point p;
  p.acked = o.acked;
  p.issued = o.issued;
  p.time_ns = o.time_ns;
  p.trace_pos = trace_pos;
  p.freeze_ms = o.freeze_ms;
  p.writes = writes_logged_;
  if (o.acked > acked_at_fork || !o.digests.empty()) {
    auto f = std::make_shared<Point::ForkDigests>();
    f->digests = digests_at_fork;
    f->digests.insert(f->digests.end(), o.digests.begin(), o.digests.end());
    f->store_digests = store_at_fork;
    f->store_digests.insert(f->store_digests.end(), o.store_digests.begin(), o.store_digests.end());
    p.fork = std::move(f);
  }
  auto snaps = with_blocks(*pool_, base, o.blocks);
  if (!snaps) return snaps.status();
  p.snaps = std::move(*snaps);
  add_point(Quiesce::kHook, std::move(p));
  return Status::ok();
}

// In the forked child: drain (if the hook says so), run the hook's own
// work beside the clients, then freeze, within the timeout in simulated time.
HookOutcome Execution::run_hook_on_fork(const HookSpec& spec) {
  HookOutcome o;
  Machine& mc = *machine_;
  const CostModel& cost = mc.cost();
  std::vector<std::set<uint64_t>> touched(mc.disk_count());
  mc.set_write_hook([&](uint32_t disk) { touched[disk].insert(mc.disk(disk).last_lba()); });
  mc.set_flush_hook(nullptr);
  mc.set_op_hook(nullptr);
  const uint64_t first_new = log_.digests().size();
  const uint64_t t0 = mc.clock().now_ns();
  const uint64_t deadline = t0 + spec.timeout_ms * 1'000'000ULL;
  RandomChoices choices(Prng(options_.seed).fork("hook", (static_cast<uint64_t>(schedule_) << 32) | hook_requests_));
  std::vector<Client*> all = clients_;
  const size_t hook_index = all.size();
  std::vector<bool> blocked(all.size() + 1, false);
  cow::Result<std::unique_ptr<Client>> hook = std::unique_ptr<Client>();
  bool ok = true;
  uint64_t steps = 0;
  // One step among the eligible; false when none can progress.
  auto step_one = [&](const std::function<bool(size_t)>& eligible) -> bool {
    std::vector<size_t> runnable;
    for (size_t i = 0; i < all.size(); ++i) {
      if (!all[i]->done() && !blocked[i] && all[i]->can_run() && eligible(i)) runnable.push_back(i);
    }
    if (runnable.empty() || ++steps > options_.limits.max_steps) return false;
    const size_t pick = runnable[choices.choose(runnable.size())];
    auto r = all[pick]->step();
    if (!r) {
      // The hook's own failure is the hook failing (the policy decides);
      // a client's is the run's error.
      if (pick != hook_index) o.error = r.status().to_string();
      return false;
    }
    if (*r == StepResult::kBlocked) {
      blocked[pick] = true;
    } else {
      std::fill(blocked.begin(), blocked.end(), false);
    }
    return true;
  };
  if (spec.drain) {
    // New transactions are held: only clients inside one may step.
    while (ok && !log_.quiescent()) {
      if (mc.clock().now_ns() > deadline) ok = false;
      else if (!step_one([&](size_t i) { return i < hook_index && log_.in_transaction(static_cast<uint32_t>(i)); })) ok = false;
    }
  }
  // The hook's own work begins once the drain is over (what it does may
  // depend on where the run is then).
  if (ok) {
    hook = scenario_.make_hook(mc);
    if (!hook) {
      // A hook that cannot start has failed.
      ok = false;
    } else if (*hook) {
      all.push_back(hook->get());
    }
  }
  if (ok && *hook) {
    while (ok && !(*hook)->done()) {
      if (mc.clock().now_ns() > deadline) ok = false;
      // Without a drain the clients go on beside the hook (it contends for
      // their locks); with one they stay held.
      else if (!step_one([&](size_t i) {
                 return i == hook_index || (!spec.drain && !(*hook)->done());
               })) {
        ok = false;
      }
    }
  }
  if (!o.error.empty()) return o;
  if (ok && mc.clock().now_ns() > deadline) ok = false;
  o.wait_ms = static_cast<double>(mc.clock().now_ns() - t0) / 1e6;
  double window_us = static_cast<double>(mc.clock().now_ns() - t0) / 1000.0 + cost.device.snapshot_create_us;
  std::vector<std::map<uint64_t, std::vector<uint8_t>>> image(mc.disk_count());
  const uint32_t bs = pool_->block_size();
  auto written = read_blocks(*pool_, mc, touched);
  if (!written) {
    o.error = written.status().to_string();
    return o;
  }
  for (uint32_t d = 0; d < mc.disk_count(); ++d) {
    for (auto& [lba, data] : (*written)[d]) image[d][lba] = std::move(data);
  }
  o.blocks.resize(mc.disk_count());
  if (!ok) {
    o.kind = spec.crash_consistent_on_failure ? HookOutcome::kCrashConsistent : HookOutcome::kFailed;
  } else {
    size_t dirty = 0;
    for (uint32_t d = 0; d < mc.disk_count(); ++d) {
      for (const auto& [block, data] : mc.simfs(d).freeze_writes()) {
        const auto* b = reinterpret_cast<const uint8_t*>(data.data());
        for (size_t off = 0; off + bs <= data.size(); off += bs) {
          image[d][block + off / bs] = std::vector<uint8_t>(b + off, b + off + bs);
          ++dirty;
        }
      }
    }
    window_us += static_cast<double>(dirty) * cost.device.write_us + mc.disk_count() * cost.device.flush_us +
                 cost.freeze_bookkeeping_us;
  }
  for (uint32_t d = 0; d < mc.disk_count(); ++d) {
    for (auto& [lba, data] : image[d]) o.blocks[d].emplace_back(lba, std::move(data));
  }
  o.freeze_ms = window_us / 1000.0;
  o.time_ns = mc.clock().now_ns();
  o.acked = log_.acked();
  o.issued = log_.issued();
  for (uint64_t k = first_new; k < log_.digests().size(); ++k) {
    o.digests.push_back(log_.digests()[k]);
    o.store_digests.push_back(log_.store_digests()[k]);
  }
  return o;
}

}  // namespace

cow::Result<ExploreResult> explore(Scenario& scenario, const Classifier& classifier,
                                   const ExploreOptions& options) {
  if (options.levels.empty()) return Status::invalid_argument("no quiesce level to explore");
  SNAPSIM_RETURN_IF_ERROR(make_failure_model(options.model)->validate(options));
  if (options.sector_size < 512 || (options.sector_size & (options.sector_size - 1)) ||
      options.sector_size > options.block_size) {
    return Status::invalid_argument(fmt::format(
        "sector size {} must be a power of two from 512 to the block size {}", options.sector_size,
        options.block_size));
  }
  if (!options.all_schedules && options.schedules == 0) {
    return Status::invalid_argument("--schedules must be at least 1");
  }
  const std::optional<MemorySpec> memory = scenario.memory_spec();
  if (options.model == Model::kMemory && !memory) {
    return Status::invalid_argument(
        "--model memory needs clients that can reconnect after a revert, and this workload's cannot (a "
        "process workload's clients are the program itself)");
  }
  if (std::find(options.levels.begin(), options.levels.end(), Quiesce::kHook) != options.levels.end() &&
      !scenario.hook_spec()) {
    return Status::invalid_argument(
        "quiesce level 'hook' needs the workload's own pre-freeze hook, and this workload declares none "
        "([quiesce] in a script; the flat-file invoice app's -p hook=sync|drain)");
  }
  ExploreResult result;
  {
    const MachineConfig mc = scenario.machine_config();
    result.fs_mode = options.fs_mode.value_or(mc.fs.mode);
    result.ordered_data = options.ordered_data.value_or(mc.fs.ordered_data);
  }
  std::array<LevelState, kQuiesceCount> levels;
  for (Quiesce q : options.levels) levels[static_cast<size_t>(q)].wanted = true;
  std::array<LevelResult, kQuiesceCount> out;
  std::array<uint64_t, kQuiesceCount> base{};  // global point index offset per level
  StateCache cache;
  Inspector inspector(scenario, options.seed, &result.probes);
  std::array<uint64_t, kQuiesceCount> total_points{};
  const uint32_t shards = std::max<uint32_t>(options.shard_count, 1);
  if (options.shard_index >= shards) {
    return Status::invalid_argument(
        fmt::format("shard index {} is not below the shard count {}", options.shard_index, shards));
  }
  cow::Hasher64 th;  // every schedule's trace hash

  std::vector<size_t> prefix;
  std::set<uint64_t> traces;  // distinct executions
  ImageSet judged_images;
  uint64_t judged = 0;
  for (uint32_t s = 0;; ++s) {
    if (options.all_schedules) {
      if (s >= options.max_schedules) {
        return Status::invalid_argument(fmt::format(
            "--schedules all: more than {} interleavings; use --schedules N to sample",
            options.max_schedules));
      }
    } else if (s >= options.schedules) {
      break;
    }
    if (options.progress) options.progress(s, options.all_schedules ? 0 : options.schedules, judged, judged);
    for (auto& l : levels) {
      l.points.clear();
    }
    // The memory model's first pass: the run to its end, for what its
    // clients will have been told (each point's fork needs the future).
    std::shared_ptr<const std::vector<Receipt>> history;
    if (options.model == Model::kMemory) {
      std::array<LevelState, kQuiesceCount> no_points;
      Probes first_probes;
      Execution first(scenario, options, s, &first_probes);
      RandomChoices first_choices(Prng(options.seed).fork("schedule", s));
      SNAPSIM_RETURN_IF_ERROR(first.run(first_choices, no_points));
      history = std::make_shared<const std::vector<Receipt>>(first.log().receipts());
    }
    Execution ex(scenario, options, s, &result.probes);
    ex.set_history(history);
    RandomChoices random(Prng(options.seed).fork("schedule", s));
    ScriptedChoices scripted(prefix);
    ChoiceSource& choices = options.all_schedules ? static_cast<ChoiceSource&>(scripted)
                                                  : static_cast<ChoiceSource&>(random);
    const MachineConfig config = ex.machine_config();
    const bool replaying = options.only_point.has_value();
    // Streaming (ExploreOptions::stream): a budget needs every point first.
    std::optional<StreamInspector> streamer;
    uint64_t streamed = 0;
    if (options.stream && !replaying && !options.baseline.restore && options.max_points == 0) {
      streamer.emplace(inspector, options.jobs, options.fork_after_ms, options.fork_if_rest_ms, &result.probes);
      ex.set_stream([&](Quiesce q, size_t i, Point& p) -> Status {
        p.key = image_key(ex.pool(), p.snaps);
        std::vector<cow::SnapshotId> snaps = std::move(p.snaps);
        p.snaps.clear();
        const bool wanted = (base[static_cast<size_t>(q)] + i) % shards == options.shard_index;
        if (wanted && options.progress) {
          // This schedule's points are not all known yet: estimate them
          // from the transactions acknowledged of those planned.
          ++streamed;
          const uint64_t planned = scenario.planned_transactions(), acked = ex.log().acked();
          const uint64_t end = planned > acked && acked > 0 ? streamed * planned / acked : streamed;
          options.progress(s, options.all_schedules ? 0 : options.schedules, judged + streamed, judged + end);
        }
        return streamer->submit(ex.pool(), config, *p.key, std::move(snaps), wanted, &cache);
      });
    }
    Status st = ex.run(choices, levels);
    if (!st.is_ok()) {
      return st;
    }
    if (streamer) SNAPSIM_RETURN_IF_ERROR(streamer->finish(ex.pool(), config, &cache));
    const uint64_t h = ex.machine().trace().hash();
    th.update_value(h);
    traces.insert(h);
    result.sim_time_ms_total += ex.machine().clock().now_ms();
    result.crash.add(ex.coverage());
    if (s == 0) {
      result.commits = ex.log().acked();
      result.run_time_ms = ex.machine().clock().now_ms();
      const auto& ev = ex.machine().trace().events();
      result.trace_events = ev.size();
      std::map<uint32_t, uint64_t> open;
      for (size_t i = 0; i < ev.size(); ++i) {
        if (ev[i].kind == EventKind::kTxnBegin) open[ev[i].a] = i;
        if (ev[i].kind == EventKind::kTxnAck && open.count(ev[i].a)) {
          result.txns.push_back(TxnSpan{ev[i].a, open[ev[i].a], i, std::string(ev[open[ev[i].a]].text)});
          open.erase(ev[i].a);
        }
      }
    }
    ex.post_process();
    std::array<std::vector<bool>, kQuiesceCount> budget;
    for (Quiesce q : options.levels) {
      const size_t li = static_cast<size_t>(q);
      budget[li] = choose_points(levels[li].points, ex.machine().trace().events(), replaying ? 0 : options.max_points);
      for (bool c : budget[li]) out[li].points_budgeted_out += c ? 0 : 1;
    }
    auto selected = [&](Quiesce q, uint64_t global) {
      if (replaying) return options.only_point->first == q && options.only_point->second == global;
      const size_t li = static_cast<size_t>(q);
      const uint64_t local = global - base[li];
      if (local < budget[li].size() && !budget[li][local]) return false;
      return global % shards == options.shard_index;
    };
    uint64_t schedule_end = judged;
    for (Quiesce q : options.levels) {
      const size_t li = static_cast<size_t>(q);
      for (size_t i = 0; i < levels[li].points.size(); ++i) schedule_end += selected(q, base[li] + i) ? 1 : 0;
    }
    // Inspect every new image of this schedule first (in parallel when
    // asked), then classify the points in order.
    if (!replaying && options.jobs > 1) {
      std::vector<Todo> todo;
      std::set<ImageKey> queued;
      for (Quiesce q : options.levels) {
        const size_t li = static_cast<size_t>(q);
        for (size_t i = 0; i < levels[li].points.size(); ++i) {
          if (!selected(q, base[li] + i) || levels[li].points[i].key) continue;
          const auto key = image_key(ex.pool(), levels[li].points[i].snaps);
          if (cache.contains(key) || !queued.insert(key).second) continue;
          todo.push_back(Todo{key, levels[li].points[i].snaps});
        }
      }
      // Forking workers costs more than a small batch (the built-in suite's
      // runs take milliseconds): inspect here for a moment, and fork for the
      // rest only if, at the rate so far, it would take longer than that.
      // Wall-clock choices never change a result: inspection is pure.
      size_t done = 0;
      const auto t0 = std::chrono::steady_clock::now();
      const auto elapsed = [&] { return std::chrono::steady_clock::now() - t0; };
      while (done < todo.size() && (todo.size() - done < 2 * options.jobs || elapsed() < std::chrono::milliseconds(options.fork_after_ms))) {
        cache.put(todo[done].key, inspector.inspect(ex.pool(), config, todo[done].snaps));
        ++done;
      }
      const size_t rest = todo.size() - done;
      if (rest >= 2 * options.jobs &&
          elapsed() * rest / std::max<size_t>(done, 1) >= std::chrono::milliseconds(options.fork_if_rest_ms)) {
        const std::vector<Todo> tail(todo.begin() + static_cast<std::ptrdiff_t>(done), todo.end());
        Status st = inspector.inspect_parallel(ex.pool(), config, tail, options.jobs, &cache);
        if (!st.is_ok()) {
          return st;
        }
      }
    }
    for (Quiesce q : options.levels) {
      const size_t li = static_cast<size_t>(q);
      LevelState& ls = levels[li];
      LevelResult& lr = out[li];
      lr.level = q;
      if (options.model == Model::kMemory && !lr.client) {
        lr.client.emplace();
        lr.client->lock_wait_tolerance_ms = memory->lock_wait_tolerance_ms;
        lr.client->reverted_is_failure = memory->reverted_is_failure;
        lr.client->keepalive_ms = options.keepalive_ms;
      }
      for (size_t i = 0; i < ls.points.size(); ++i) {
        const Point& p = ls.points[i];
        const uint64_t global = base[li] + i;
        lr.freeze_window_ms = std::max(lr.freeze_window_ms, p.freeze_ms);
        ls.freeze_sum_ms += p.freeze_ms;
        if (!selected(q, global)) continue;
        lr.points++;
        const auto key = p.key ? *p.key : image_key(ex.pool(), p.snaps);
        ls.images.insert(key);
        std::vector<std::string> files;
        std::vector<std::string> exported;
        Status export_status;
        if (options.baseline.restore) {
          auto vols = options.baseline.restore(ex.pool(), p.snaps, p.writes);
          if (!vols) {
            return vols.status();
          }
          AppState state;
          auto m = Machine::boot_restored(&ex.pool(), config, *vols, Prng(options.seed).fork("restore"));
          if (!m) {
            state.open_error = "file system does not mount: " + m.status().to_string();
          } else {
            state = scenario.inspect(**m, nullptr);
          }
          for (auto v : *vols) (void)ex.pool().delete_volume(v);
          cache.put(key, std::move(state));
        }
        if (!judged_images.insert(key)) result.probes.hit(Probe::kImageMemoHit);
        const AppState* state = cache.find(key);
        if (!state || replaying) {
          AppState fresh = inspector.inspect(ex.pool(), config, p.snaps, replaying ? &files : nullptr,
                                             options.export_dir, &exported, &export_status);
          if (!export_status.is_ok()) {
            return export_status;
          }
          state = &cache.put(key, std::move(fresh));
        }
        ++judged;
        if (options.progress && !p.key) options.progress(s, options.all_schedules ? 0 : options.schedules, judged, schedule_end);
        if (options.max_memory_bytes && judged % 1024 == 0) {
          if (const uint64_t rss = resident_bytes(); rss > options.max_memory_bytes) {
            return Status::error(
                cow::Code::kMemoryLimit,
                fmt::format("the run would exceed --max-memory {} MiB: {} MiB resident after judging {} of {} "
                            "point(s) ({} distinct images kept); judge fewer (--max-points, fewer --schedules), make "
                            "the workload smaller, or raise --max-memory",
                            options.max_memory_bytes >> 20, rss >> 20, judged, schedule_end, cache.size()));
          }
        }
        const std::string note = p.fault ? describe(*p.fault) : std::string();
        PointContext ctx{p.acked, p.issued, p.fork ? &p.fork->digests : &ex.log().digests(),
                         p.fork ? &p.fork->store_digests : &ex.log().store_digests()};
        Judgement j = classifier.classify(*state, ctx);
        lr.verdicts[static_cast<size_t>(j.verdict)]++;
        if (p.revert) count_client_outcomes(*p.revert, global, s, &*lr.client);
        if (options.record_points) {
          lr.records.push_back(PointRecord{global, s, j.verdict, p.acked, p.issued, p.trace_pos,
                                           p.time_ns, p.freeze_ms, j.detail,
                                           fmt::format("{:016x}{:016x}", key.second, key.first), note,
                                           p.fault ? std::optional<CrashFault>(*p.fault) : std::nullopt,
                                           p.revert ? fmt::format("{:016x}{:016x}", p.revert->resumed.second,
                                                                  p.revert->resumed.first)
                                                    : std::string()});
        }
        if (is_failure(j.verdict) && !lr.first_failure) {
          lr.first_failure = PointFailure{global, j.verdict, j.detail, s};
        }
        auto& first_of = lr.first_by_verdict[static_cast<size_t>(j.verdict)];
        if (!first_of) first_of = PointFailure{global, j.verdict, j.detail, s};
        if (replaying) {
          ReplayedPoint rp;
          rp.level = q;
          rp.point = global;
          rp.schedule = s;
          rp.acked = p.acked;
          rp.issued = p.issued;
          rp.trace_pos = p.trace_pos;
          rp.judgement = j;
          rp.state = *state;
          rp.files = files;
          rp.exported = exported;
          rp.note = note;
          if (p.revert) {
            for (size_t k = 0; k < kClientOutcomeCount; ++k) {
              if (p.revert->detail[k].empty()) continue;
              rp.client_outcomes.push_back(fmt::format(
                  "{}: {}", client_outcome_name(static_cast<ClientOutcome>(k)), p.revert->detail[k]));
            }
            if (rp.client_outcomes.empty()) rp.client_outcomes.push_back("the clients saw nothing amiss");
          }
          const auto& ev = ex.machine().trace().events();
          const size_t from = p.trace_pos > 12 ? p.trace_pos - 12 : 0;
          for (size_t e = from; e < p.trace_pos; ++e) rp.trace_before.push_back(ev[e].to_string());
          std::map<uint32_t, const Event*> open;
          for (size_t e = 0; e < p.trace_pos; ++e) {
            if (ev[e].kind == EventKind::kTxnBegin) open[ev[e].a] = &ev[e];
            if (ev[e].kind == EventKind::kTxnAck) open.erase(ev[e].a);
          }
          for (const auto& [client, e] : open) {
            rp.in_flight.push_back(fmt::format("client {} transaction {}{} (begun at {:.3f} ms)", client,
                                               e->b, e->text.empty() ? "" : " " + std::string(e->text),
                                               static_cast<double>(e->time_ns) / 1e6));
          }
          result.replayed = std::move(rp);
        }
      }
      total_points[li] += ls.points.size();
      base[li] += ls.points.size();
    }
    ++result.schedules_run;
    if (options.all_schedules && !scripted.next_prefix(&prefix)) break;
    if (options.only_point && result.replayed) break;
  }
  result.trace_hash = th.digest();
  result.distinct_traces = static_cast<uint32_t>(traces.size());
  for (Quiesce q : options.levels) {
    const size_t li = static_cast<size_t>(q);
    out[li].distinct_images = levels[li].images.size();
    out[li].hook = levels[li].hook;
    out[li].points_existing = total_points[li];
    out[li].freeze_window_ms_mean =
        total_points[li] ? levels[li].freeze_sum_ms / static_cast<double>(total_points[li]) : 0;
    result.levels.push_back(out[li]);
  }
  if (options.only_point && !result.replayed) {
    return Status::invalid_argument(fmt::format(
        "point {} does not exist at quiesce level {} ({} points)", options.only_point->second,
        quiesce_name(options.only_point->first),
        total_points[static_cast<size_t>(options.only_point->first)]));
  }
  return result;
}

}  // namespace snapsim::explore
