#include "explore/explorer.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "explore/failure_model.h"
#include "explore/inspector.h"

namespace snapsim::explore {

const char* quiesce_name(Quiesce q) {
  switch (q) {
    case Quiesce::kNone: return "none";
    case Quiesce::kFsfreeze: return "fsfreeze";
    case Quiesce::kApp: return "app";
  }
  return "?";
}

cow::Result<Quiesce> parse_quiesce(const std::string& name) {
  if (name == "none") return Quiesce::kNone;
  if (name == "fsfreeze") return Quiesce::kFsfreeze;
  if (name == "app") return Quiesce::kApp;
  return Status::invalid_argument(
      fmt::format("unknown quiesce level '{}' (expected none, fsfreeze or app)", name));
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

struct LevelState {
  bool wanted = false;
  std::vector<Point> points;
  std::map<std::pair<uint64_t, uint64_t>, bool> images;  // distinct content hashes
  double freeze_sum_ms = 0;
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
    std::vector<Client*> raw;
    for (auto& c : *clients) raw.push_back(c.get());
    mc.trace().add(EventKind::kNote, 0, 0, mc.clock().now_ns(), "exploration starts");

    SNAPSIM_RETURN_IF_ERROR(model_->start(*this));
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
      return model_->after_step(acked);
    };
    Status st = run_schedule(raw, choices, after_step, options_.limits);
    mc.set_write_hook(nullptr);
    mc.set_op_hook(nullptr);
    mc.set_flush_hook(nullptr);
    SNAPSIM_RETURN_IF_ERROR(pending_);
    if (st.is_ok()) SNAPSIM_RETURN_IF_ERROR(model_->finish());
    return st;
  }

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
  }
  uint64_t writes_logged() const override { return writes_logged_; }
  Probes& probes() override { return *probes_; }

  CrashCoverage coverage() const { return model_->coverage(); }

 private:
  Scenario& scenario_;
  const ExploreOptions& options_;
  uint32_t schedule_;
  std::unique_ptr<FailureModel> model_;
  Probes* probes_;
  std::array<LevelState, kQuiesceCount>* levels_ = nullptr;
  std::unique_ptr<cow::Pool> pool_;
  std::unique_ptr<Machine> machine_;
  CommitLog log_;
  Status pending_;  // an error inside a hook, surfaced after the step
  uint64_t writes_logged_ = 0;               // block writes a baseline's log has seen
  uint64_t last_ack_seen_ = 0;               // acknowledgements already seen
};

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
  ExploreResult result;
  {
    const MachineConfig mc = scenario.machine_config();
    result.fs_mode = options.fs_mode.value_or(mc.fs.mode);
    result.ordered_data = options.ordered_data.value_or(mc.fs.ordered_data);
  }
  std::array<LevelState, kQuiesceCount> levels;
  for (Quiesce q : options.levels) levels[static_cast<size_t>(q)].wanted = true;
  std::array<LevelResult, 3> out;
  std::array<uint64_t, 3> base{};  // global point index offset per level
  std::map<ImageKey, AppState> cache;
  Inspector inspector(scenario, options.seed, &result.probes);
  std::array<uint64_t, 3> total_points{};
  const uint32_t shards = std::max<uint32_t>(options.shard_count, 1);
  if (options.shard_index >= shards) {
    return Status::invalid_argument(
        fmt::format("shard index {} is not below the shard count {}", options.shard_index, shards));
  }
  cow::Hasher64 th;  // every schedule's trace hash

  std::vector<size_t> prefix;
  std::set<uint64_t> traces;  // distinct executions
  std::set<ImageKey> judged_images;
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
    if (options.progress) options.progress(s, options.all_schedules ? 0 : options.schedules, judged);
    for (auto& l : levels) l.points.clear();
    Execution ex(scenario, options, s, &result.probes);
    RandomChoices random(Prng(options.seed).fork("schedule", s));
    ScriptedChoices scripted(prefix);
    ChoiceSource& choices = options.all_schedules ? static_cast<ChoiceSource&>(scripted)
                                                  : static_cast<ChoiceSource&>(random);
    Status st = ex.run(choices, levels);
    if (!st.is_ok()) {
      return st;
    }
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
          result.txns.push_back(TxnSpan{ev[i].a, open[ev[i].a], i});
          open.erase(ev[i].a);
        }
      }
    }
    const MachineConfig config = ex.machine_config();
    ex.post_process();
    const bool replaying = options.only_point.has_value();
    auto selected = [&](Quiesce q, uint64_t global) {
      if (replaying) return options.only_point->first == q && options.only_point->second == global;
      return global % shards == options.shard_index;
    };
    // Inspect every new image of this schedule first (in parallel when
    // asked), then classify the points in order.
    if (!replaying && options.jobs > 1) {
      std::vector<Todo> todo;
      std::set<ImageKey> queued;
      for (Quiesce q : options.levels) {
        const size_t li = static_cast<size_t>(q);
        for (size_t i = 0; i < levels[li].points.size(); ++i) {
          if (!selected(q, base[li] + i)) continue;
          const auto key = image_key(ex.pool(), levels[li].points[i].snaps);
          if (cache.count(key) || !queued.insert(key).second) continue;
          todo.push_back(Todo{key, levels[li].points[i].snaps});
        }
      }
      if (todo.size() >= 2 * options.jobs) {
        Status st = inspector.inspect_parallel(ex.pool(), config, todo, options.jobs, &cache);
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
      for (size_t i = 0; i < ls.points.size(); ++i) {
        const Point& p = ls.points[i];
        const uint64_t global = base[li] + i;
        lr.freeze_window_ms = std::max(lr.freeze_window_ms, p.freeze_ms);
        ls.freeze_sum_ms += p.freeze_ms;
        if (!selected(q, global)) continue;
        lr.points++;
        const auto key = image_key(ex.pool(), p.snaps);
        ls.images[key] = true;
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
          cache.insert_or_assign(key, std::move(state));
        }
        if (!judged_images.insert(key).second) result.probes.hit(Probe::kImageMemoHit);
        auto it = cache.find(key);
        if (it == cache.end() || replaying) {
          AppState state = inspector.inspect(ex.pool(), config, p.snaps, replaying ? &files : nullptr,
                                             options.export_dir, &exported, &export_status);
          if (!export_status.is_ok()) {
            return export_status;
          }
          it = cache.insert_or_assign(key, std::move(state)).first;
        }
        if (options.progress && ++judged % 64 == 0) {
          options.progress(s, options.all_schedules ? 0 : options.schedules, judged);
        }
        PointContext ctx{p.acked, p.issued, &ex.log().digests(), &ex.log().store_digests()};
        Judgement j = classifier.classify(it->second, ctx);
        lr.verdicts[static_cast<size_t>(j.verdict)]++;
        if (options.record_points) {
          lr.records.push_back(PointRecord{global, s, j.verdict, p.acked, p.issued, p.trace_pos,
                                           p.time_ns, p.freeze_ms, j.detail,
                                           fmt::format("{:016x}{:016x}", key.second, key.first), p.note,
                                           p.fault});
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
          rp.state = it->second;
          rp.files = files;
          rp.exported = exported;
          rp.note = p.note;
          const auto& ev = ex.machine().trace().events();
          const size_t from = p.trace_pos > 12 ? p.trace_pos - 12 : 0;
          rp.trace_before.assign(ev.begin() + from, ev.begin() + p.trace_pos);
          std::map<uint32_t, const Event*> open;
          for (size_t e = 0; e < p.trace_pos; ++e) {
            if (ev[e].kind == EventKind::kTxnBegin) open[ev[e].a] = &ev[e];
            if (ev[e].kind == EventKind::kTxnAck) open.erase(ev[e].a);
          }
          for (const auto& [client, e] : open) {
            rp.in_flight.push_back(fmt::format("client {} transaction {}{} (begun at {:.3f} ms)", client,
                                               e->b, e->text.empty() ? "" : " " + e->text,
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
