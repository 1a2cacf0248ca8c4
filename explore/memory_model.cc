// The memory model: the VM is reverted to a memory snapshot.
//
// A hypervisor's memory snapshot holds the whole machine (RAM, page cache,
// the application's memory, transactions in flight), so reverting to it
// needs no crash recovery. What it breaks is outside the VM: the clients
// lived on after the snapshot moment (to the end of the run, or to
// --revert-after-ms after it), they remember every acknowledgement and every
// identifier they were given, and their connections of that moment are gone.
//
// A point at every step boundary of every client (and the start). Each runs
// on a fork of the live run (run_on_fork), so the main run is never changed:
//   1. every client of the moment disconnects (Client::disconnect): an SQL
//      session inside a transaction stays, holding its locks, until the
//      guest detects the dead peer (--keepalive-ms, Linux's default 2 h) and
//      the server rolls it back; the flat-file application finishes its
//      in-memory transaction (it does not depend on the client);
//   2. the clients reconnect (Scenario::make_revert_clients) and redo as
//      many transactions as the revert undid for each, at least one, with
//      new data: the restored application hands out new identifiers;
//   3. when every client left waits on a lock a dead session holds, the
//      guest's clock runs to the detection: that wait is the blocked time;
//   4. the application shuts down cleanly (Client::shut_down), the page
//      cache is written back, and the image goes back to the parent, which
//      judges it as any other point against the fork's own commits.
// Beside the verdict each point counts what the clients saw (Point::Revert):
//   reverted_acknowledged  commits acknowledged after the snapshot moment
//                          (up to the revert) that the restored run did not
//                          redo with the same data
//   reissued_identifier    a client-visible identifier a client holds,
//                          issued again for other content
//   blocked_session        new clients waited longer than the workload
//                          tolerates on a dead session's lock
// The first pass of each schedule runs it to its end without points, so a
// fork knows what the clients of its moment will have been told
// (RunView::history()).
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "explore/failure_model.h"
#include "explore/fork_wire.h"
#include "explore/inspector.h"

namespace snapsim::explore {

namespace {

struct RevertMessage {
  std::string error;
  DiskBlocks blocks;
  std::vector<Digest> digests, store_digests;  // the fork's commits
  uint64_t acked = 0, issued = 0;
  Point::Revert revert;
};

std::vector<uint8_t> encode(const RevertMessage& m) {
  nlohmann::json j;
  j["error"] = m.error;
  j["blocks"] = blocks_json(m.blocks);
  j["digests"] = digests_json(m.digests);
  j["store_digests"] = digests_json(m.store_digests);
  j["acked"] = m.acked;
  j["issued"] = m.issued;
  j["reverted"] = m.revert.reverted;
  j["reissued"] = m.revert.reissued;
  j["blocked_ms"] = m.revert.blocked_ms;
  j["blocked"] = m.revert.blocked;
  j["detail"] = m.revert.detail;  // an array
  j["resumed"] = {m.revert.resumed.first, m.revert.resumed.second};
  return nlohmann::json::to_msgpack(j);
}

Result<RevertMessage> decode(const std::vector<uint8_t>& bytes) {
  const nlohmann::json j = nlohmann::json::from_msgpack(bytes, true, false);
  if (j.is_discarded()) return Status::error(cow::Code::kIoError, "a revert run sent no message");
  RevertMessage m;
  try {
    m.error = j.at("error").get<std::string>();
    m.blocks = blocks_from_json(j.at("blocks"));
    m.digests = digests_from_json(j.at("digests"));
    m.store_digests = digests_from_json(j.at("store_digests"));
    m.acked = j.at("acked").get<uint64_t>();
    m.issued = j.at("issued").get<uint64_t>();
    m.revert.reverted = j.at("reverted").get<uint64_t>();
    m.revert.reissued = j.at("reissued").get<uint64_t>();
    m.revert.blocked_ms = j.at("blocked_ms").get<double>();
    m.revert.blocked = j.at("blocked").get<bool>();
    m.revert.detail = j.at("detail").get<std::array<std::string, kClientOutcomeCount>>();
    m.revert.resumed = {j.at("resumed").at(0).get<uint64_t>(), j.at("resumed").at(1).get<uint64_t>()};
  } catch (const nlohmann::json::exception& e) {
    return Status::error(cow::Code::kIoError, fmt::format("a revert run's message lacks a field: {}", e.what()));
  }
  return m;
}

class MemoryModel : public FailureModel {
 public:
  Model id() const override { return Model::kMemory; }

  Status validate(const ExploreOptions& o) const override {
    if (o.levels.size() != 1 || o.levels[0] != Quiesce::kNone) {
      return Status::invalid_argument(
          "the memory model (a memory snapshot reverted to) has no quiesce level: use --quiesce none");
    }
    if (o.baseline.write_log || o.baseline.restore) {
      return Status::invalid_argument("a memory point is not a prefix of the write log: no replay restore");
    }
    if (o.all_schedules) {
      return Status::invalid_argument("--model memory samples schedules: use --schedules N, not all");
    }
    return Status::ok();
  }

  Status start(RunView& run) override {
    run_ = &run;
    return point();
  }
  Status after_step(bool) override { return point(); }

 private:
  Status point() {
    if (!run_->history() || !run_->wants(Quiesce::kNone)) return Status::ok();  // the first pass
    Machine& mc = run_->machine();
    cow::Pool& pool = run_->pool();
    std::vector<cow::SnapshotId> base;
    for (uint32_t d = 0; d < mc.disk_count(); ++d) {
      auto s = pool.snapshot(mc.disk(d).volume());
      if (!s) return s.status();
      base.push_back(*s);
    }
    const uint64_t n = points_++;
    Point p;
    p.time_ns = mc.clock().now_ns();
    p.trace_pos = mc.trace().size();
    p.writes = run_->writes_logged();
    // The VM is stunned while the snapshot is taken: the disk's part is the
    // snapshot create; writing the memory out is not modelled.
    p.freeze_ms = mc.cost().device.snapshot_create_us / 1000.0;
    const std::vector<Digest> digests_at = run_->log().digests();
    const std::vector<Digest> store_at = run_->log().store_digests();
    auto bytes = run_on_fork([&] { return encode(revert_on_fork(n)); }, fmt::format("the revert run of point {}", n));
    if (!bytes) return bytes.status();
    auto m = decode(*bytes);
    if (!m) return m.status();
    if (!m->error.empty()) return Status::error(cow::Code::kInvalidArgument, m->error);
    auto snaps = with_blocks(pool, base, m->blocks);
    if (!snaps) return snaps.status();
    p.snaps = std::move(*snaps);
    p.acked = m->acked;
    p.issued = m->issued;
    auto f = std::make_shared<Point::ForkDigests>();
    f->digests = digests_at;
    f->digests.insert(f->digests.end(), m->digests.begin(), m->digests.end());
    f->store_digests = store_at;
    f->store_digests.insert(f->store_digests.end(), m->store_digests.begin(), m->store_digests.end());
    p.fork = std::move(f);
    p.revert = std::make_shared<const Point::Revert>(std::move(m->revert));
    run_->add_point(Quiesce::kNone, std::move(p));
    return Status::ok();
  }

  // In the fork: revert, let the clients reconnect and go on, shut down.
  RevertMessage revert_on_fork(uint64_t n) {
    RevertMessage out;
    Machine& mc = run_->machine();
    const ExploreOptions& o = run_->options();
    const CommitLog& log = run_->log();
    const std::vector<Receipt>& history = *run_->history();
    const uint64_t t = mc.clock().now_ns();
    const uint64_t revert_at = o.revert_after_ms ? t + *o.revert_after_ms * 1'000'000ULL : UINT64_MAX;
    const uint64_t first_new = log.digests().size();
    const MemorySpec spec = run_->scenario().memory_spec().value_or(MemorySpec{});
    // What this fork resumes: the disks with the page cache written back.
    std::pair<uint64_t, uint64_t> resumed;
    {
      std::vector<cow::SnapshotId> frozen;
      size_t dirty = 0;
      for (uint32_t d = 0; d < mc.disk_count(); ++d) {
        auto s = frozen_image(run_->pool(), mc.disk(d).volume(), mc.simfs(d), &dirty);
        if (!s) {
          out.error = s.status().to_string();
          return out;
        }
        frozen.push_back(*s);
      }
      resumed = image_key(run_->pool(), frozen);
      for (auto s : frozen) (void)run_->pool().delete_snapshot(s);
    }
    std::vector<std::set<uint64_t>> touched(mc.disk_count());
    mc.set_write_hook([&](uint32_t disk) { touched[disk].insert(mc.disk(disk).last_lba()); });
    mc.set_flush_hook(nullptr);
    mc.set_op_hook(nullptr);

    // What the clients were told, outside the VM, up to the revert.
    const std::vector<Client*>& old = run_->clients();
    std::vector<uint32_t> redo(old.size(), 1);
    std::vector<uint32_t> undone(old.size(), 0);
    for (const Receipt& r : history) {
      if (r.time_ns > t && r.time_ns <= revert_at && r.client < undone.size()) undone[r.client]++;
    }
    for (size_t i = 0; i < old.size(); ++i) redo[i] = std::max<uint32_t>(1, undone[i]);

    for (Client* c : old) c->disconnect();
    auto fresh = run_->scenario().make_revert_clients(mc, run_->client_log(), static_cast<uint32_t>(old.size()), redo,
                                                      Prng(o.seed).fork("revert", (uint64_t{run_->schedule()} << 32) | n));
    if (!fresh) {
      out.error = fresh.status().message();
      return out;
    }
    std::vector<Client*> all;
    for (Client* c : old) all.push_back(c);
    for (auto& c : *fresh) all.push_back(c.get());
    RandomChoices choices(Prng(o.seed).fork("memory", (uint64_t{run_->schedule()} << 32) | n));
    std::vector<bool> blocked(all.size(), false);
    const uint64_t detect_at = t + o.keepalive_ms * 1'000'000ULL;
    uint64_t steps = 0;
    double blocked_ms = 0;
    for (;;) {
      std::vector<size_t> runnable;
      for (size_t i = 0; i < all.size(); ++i) {
        if (!all[i]->done() && !all[i]->dead_session() && !blocked[i] && all[i]->can_run()) runnable.push_back(i);
      }
      if (runnable.empty()) {
        bool waiting = false, dead = false;
        for (size_t i = 0; i < all.size(); ++i) {
          waiting = waiting || (!all[i]->done() && !all[i]->dead_session());
          dead = dead || all[i]->dead_session();
        }
        if (!waiting) break;
        if (!dead) {
          out.error = "after the revert the clients cannot progress (every one waits on a lock no session releases)";
          return out;
        }
        // Every client left waits on a dead session: the guest detects the
        // dead peers when their keepalive runs out, and the server rolls
        // their transactions back.
        const uint64_t now = mc.clock().now_ns();
        if (now < detect_at) {
          blocked_ms = std::max(blocked_ms, static_cast<double>(detect_at - now) / 1e6);
          mc.clock().advance_ns(detect_at - now);
        }
        if (Status st = end_dead_sessions(all); !st.is_ok()) {
          out.error = st.to_string();
          return out;
        }
        std::fill(blocked.begin(), blocked.end(), false);
        continue;
      }
      if (++steps > o.limits.max_steps) {
        out.error = fmt::format("the revert run of point {} exceeded {} steps", n, o.limits.max_steps);
        return out;
      }
      const size_t pick = runnable[choices.choose(runnable.size())];
      auto r = all[pick]->step();
      if (!r) {
        out.error = r.status().to_string();
        return out;
      }
      if (*r == StepResult::kBlocked) {
        blocked[pick] = true;
      } else {
        std::fill(blocked.begin(), blocked.end(), false);
      }
    }
    // Sessions nobody waited for end too (later, unseen by any client).
    if (Status st = end_dead_sessions(all); !st.is_ok()) {
      out.error = st.to_string();
      return out;
    }
    for (Client* c : all) c->shut_down();
    if (Status st = mc.sync_all(); !st.is_ok()) {
      out.error = st.to_string();
      return out;
    }
    auto blocks = read_blocks(run_->pool(), mc, touched);
    if (!blocks) {
      out.error = blocks.status().to_string();
      return out;
    }
    out.blocks = std::move(*blocks);
    for (uint64_t k = first_new; k < log.digests().size(); ++k) {
      out.digests.push_back(log.digests()[k]);
      out.store_digests.push_back(log.store_digests()[k]);
    }
    out.acked = log.acked();
    out.issued = log.issued();
    out.revert = judge_clients(history, log.receipts(), first_new, t, revert_at, blocked_ms, spec);
    out.revert.resumed = resumed;
    return out;
  }

  static Status end_dead_sessions(const std::vector<Client*>& all) {
    for (Client* c : all) {
      if (c->dead_session()) SNAPSIM_RETURN_IF_ERROR(c->end_dead_session());
    }
    return Status::ok();
  }

  // What the clients saw: `history` is the original run's receipts, `now`
  // the fork's (its commits from index first_new - 1 on are its own).
  static Point::Revert judge_clients(const std::vector<Receipt>& history, const std::vector<Receipt>& now,
                                     uint64_t first_new, uint64_t t, uint64_t revert_at, double blocked_ms,
                                     const MemorySpec& spec) {
    Point::Revert out;
    std::multiset<uint64_t> redone;
    for (size_t k = first_new - 1; k < now.size(); ++k) redone.insert(now[k].content);
    std::map<std::pair<std::string, std::string>, const Receipt*> held;
    for (const Receipt& r : history) {
      if (r.time_ns > revert_at) continue;
      for (const auto& id : r.ids) held.emplace(id, &r);
      if (r.time_ns <= t) continue;
      if (auto it = redone.find(r.content); it != redone.end()) {
        redone.erase(it);  // the restored run redid it with the same data
      } else {
        out.reverted++;
      }
    }
    std::string first;
    for (size_t k = first_new - 1; k < now.size(); ++k) {
      for (const auto& id : now[k].ids) {
        auto it = held.find(id);
        if (it == held.end() || it->second->content == now[k].content) continue;
        out.reissued++;
        if (first.empty()) {
          first = fmt::format("{}={} was acknowledged to client {} at {:.3f} ms and issued again to client {} for "
                              "other content after the revert",
                              id.first, id.second, it->second->client, static_cast<double>(it->second->time_ns) / 1e6,
                              now[k].client);
        }
      }
    }
    out.blocked_ms = blocked_ms;
    out.blocked = blocked_ms > static_cast<double>(spec.lock_wait_tolerance_ms);
    if (out.reverted) {
      out.detail[0] = fmt::format("{} commit(s) acknowledged after the snapshot moment were undone", out.reverted);
    }
    out.detail[1] = first;
    if (out.blocked) {
      out.detail[2] = fmt::format("new clients waited {:.0f} ms on a dead session's lock (they tolerate {} ms)",
                                  blocked_ms, spec.lock_wait_tolerance_ms);
    }
    return out;
  }

  RunView* run_ = nullptr;
  uint64_t points_ = 0;
};

}  // namespace

std::unique_ptr<FailureModel> make_memory_model() { return std::make_unique<MemoryModel>(); }

}  // namespace snapsim::explore
