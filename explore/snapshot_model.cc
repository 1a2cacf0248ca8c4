// The snapshot model: a hypervisor takes a COW snapshot of the VM's disks.
//
// The hypervisor drains the disk queue and snapshots the volume, so a
// snapshot holds exactly the prefix of the block writes the guest issued;
// the guest's page cache is not in it. What the guest did before the
// snapshot is its quiesce level:
//   none      nothing (crash-consistent): a point after every block write
//             and right after every acknowledged commit (before anything
//             else reaches the disk: that point decides whether the commit
//             survives)
//   fsfreeze  FIFREEZE: dirty pages written back (in ext4 the journal
//             committed and checkpointed), writes blocked; a point after
//             every file operation, the image being the disk plus what the
//             freeze writes (SimFs::freeze_writes())
//   app       the ideal pre-freeze hook: in-flight transactions drained, then
//             fsfreeze; a point at every moment no client is inside a
//             transaction
// The initial image is a point of every level. A frozen image is built on a
// clone (snapshot, clone, write the dirty pages, snapshot), so the run goes
// on as if the freeze had thawed at once: points never alter the execution.
//
// Freeze window per point (simulated, from the cost model): none = snapshot
// create; fsfreeze = write back the dirty pages + FLUSH + freeze bookkeeping
// + snapshot create; app = fsfreeze's plus the time the hook waits for the
// in-flight transactions (from the first begin to quiescence).
//
// Several disks are snapshotted as a group: atomically (every disk at one
// instant) or sequentially (MachineConfig::sequential_group: one disk after
// another, each one group gap later while the guest's I/O goes on).
#include <memory>

#include "explore/failure_model.h"

namespace snapsim::explore {

Result<Point> snapshot_now(RunView& run) {
  Machine& mc = run.machine();
  Point p;
  p.acked = run.log().acked();
  p.issued = run.log().issued();
  p.trace_pos = mc.trace().size();
  p.time_ns = mc.clock().now_ns();
  p.writes = run.writes_logged();
  for (uint32_t d = 0; d < mc.disk_count(); ++d) {
    auto s = run.pool().snapshot(mc.disk(d).volume());
    if (!s) return s.status();
    p.snaps.push_back(*s);
  }
  p.freeze_ms = mc.cost().device.snapshot_create_us / 1000.0;
  return p;
}

namespace {

class SnapshotModel : public FailureModel {
 public:
  Model id() const override { return Model::kSnapshot; }

  Status start(RunView& run) override {
    run_ = &run;
    for (Quiesce q : {Quiesce::kNone, Quiesce::kFsfreeze, Quiesce::kApp}) {
      if (run.wants(q)) SNAPSIM_RETURN_IF_ERROR(capture(q));
    }
    last_app_trace_ = run.machine().trace().size();
    return Status::ok();
  }

  Status on_block_write(uint32_t) override {
    return run_->wants(Quiesce::kNone) ? capture(Quiesce::kNone) : Status::ok();
  }

  Status on_file_op() override {
    return run_->wants(Quiesce::kFsfreeze) ? capture(Quiesce::kFsfreeze) : Status::ok();
  }

  Status after_step(bool acked) override {
    if (acked && run_->wants(Quiesce::kNone)) SNAPSIM_RETURN_IF_ERROR(capture(Quiesce::kNone));
    if (run_->wants(Quiesce::kApp) && run_->log().quiescent() &&
        run_->machine().trace().size() != last_app_trace_) {
      SNAPSIM_RETURN_IF_ERROR(capture(Quiesce::kApp));
      last_app_trace_ = run_->machine().trace().size();
    }
    return Status::ok();
  }

  // A sequential group snapshot takes disk 0 at the point, then each next
  // disk one group gap (cost model) later while the guest's I/O goes on:
  // disk d comes from the latest point at or before t + d * gap. Frozen
  // levels block I/O during the freeze, so only `none` changes.
  void post_process(const MachineConfig& config, LevelPoints& points) override {
    if (!config.sequential_group || config.disks <= 1) return;
    auto& pts = points[static_cast<size_t>(Quiesce::kNone)];
    const uint64_t step_ns = static_cast<uint64_t>(config.cost.group_gap_us * 1000.0);
    std::deque<Point> seq = pts;
    for (size_t i = 0; i < pts.size(); ++i) {
      size_t j = i;
      for (uint32_t d = 1; d < config.disks; ++d) {
        while (j + 1 < pts.size() && pts[j + 1].time_ns <= pts[i].time_ns + d * step_ns) ++j;
        if (j != i) run_->probes().hit(Probe::kSequentialSkew);
        seq[i].snaps[d] = pts[j].snaps[d];
        seq[i].issued = pts[j].issued;
      }
    }
    pts = std::move(seq);
  }

 private:
  Status capture(Quiesce q) {
    if (q == Quiesce::kNone) {
      auto p = snapshot_now(*run_);
      if (!p) return p.status();
      run_->add_point(q, std::move(*p));
      return Status::ok();
    }
    Machine& mc = run_->machine();
    const CostModel& cost = mc.cost();
    const CommitLog& log = run_->log();
    Point p;
    p.acked = log.acked();
    p.issued = log.issued();
    p.trace_pos = mc.trace().size();
    p.time_ns = mc.clock().now_ns();
    p.writes = run_->writes_logged();
    double window_us = cost.device.snapshot_create_us;
    size_t dirty = 0;
    for (uint32_t d = 0; d < mc.disk_count(); ++d) {
      auto s = frozen_image(run_->pool(), mc.disk(d).volume(), mc.simfs(d), &dirty);
      if (!s) return s.status();
      p.snaps.push_back(*s);
    }
    window_us += static_cast<double>(dirty) * cost.device.write_us +
                 mc.disk_count() * cost.device.flush_us + cost.freeze_bookkeeping_us;
    if (q == Quiesce::kApp && log.acked() > 0) {
      window_us += static_cast<double>(mc.clock().now_ns() - log.busy_since_ns()) / 1000.0;
    }
    p.freeze_ms = window_us / 1000.0;
    run_->add_point(q, std::move(p));
    return Status::ok();
  }

  RunView* run_ = nullptr;
  size_t last_app_trace_ = 0;
};

}  // namespace

Result<cow::SnapshotId> frozen_image(cow::Pool& pool, cow::VolumeId vol, const sim::SimFs& fs, size_t* dirty) {
  auto base = pool.snapshot(vol);
  if (!base) return base.status();
  auto pages = fs.freeze_writes();
  *dirty += pages.size();
  if (pages.empty()) return *base;
  auto clone = pool.clone(*base);
  if (!clone) return clone.status();
  for (const auto& [block, data] : pages) {
    SNAPSIM_RETURN_IF_ERROR(pool.write_blocks(*clone, block, data));
  }
  auto frozen = pool.snapshot(*clone);
  if (!frozen) return frozen.status();
  SNAPSIM_RETURN_IF_ERROR(pool.delete_volume(*clone));
  SNAPSIM_RETURN_IF_ERROR(pool.delete_snapshot(*base));
  return *frozen;
}

std::unique_ptr<FailureModel> make_snapshot_model() { return std::make_unique<SnapshotModel>(); }

}  // namespace snapsim::explore
