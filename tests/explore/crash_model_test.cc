// The crash (power-loss) model: at every FLUSH, the disk as of its previous
// FLUSH plus subsets of the writes issued since, some torn at sector
// granularity (explore/explorer.h, ExploreOptions::crash_states).
#define BOOST_TEST_MODULE crash_model
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <algorithm>
#include <map>
#include <set>
#include <optional>
#include <tuple>
#include <utility>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;
using explore::Quiesce;
using explore::Verdict;

namespace {

explore::ExploreResult run_explore(const std::string& name, std::vector<std::string> params, explore::ExploreOptions o) {
  auto w = workloads::make_workload(name, params).value();
  auto suite = checkers::CheckerSuite::standard();
  auto r = explore::explore(*w, suite, o);
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

explore::ExploreOptions crash(uint64_t seed = 1) {
  explore::ExploreOptions o;
  o.model = explore::Model::kCrash;
  o.levels = {Quiesce::kNone};
  o.seed = seed;
  o.record_points = true;
  return o;
}

uint64_t count_from(const explore::VerdictCounts& v, Verdict from) {
  uint64_t n = 0;
  for (size_t i = static_cast<size_t>(from); i < explore::kVerdictCount; ++i) n += v[i];
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CrashModel)

// Watching for power loss never changes the run, and the two extreme images
// of every epoch (all of its writes persisted, none) are images a snapshot
// would also have taken: the crash model adds states, it does not invent a
// different execution.
RC_BOOST_PROP(crash_images_extend_the_snapshot_images, ()) {
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "off");
  const std::string sync = *rc::gen::element<std::string>("off", "normal", "full");
  const std::vector<std::string> params = {"journal_mode=" + jm, "synchronous=" + sync, "invoices=1"};
  explore::ExploreOptions snap;
  snap.levels = {Quiesce::kNone};
  snap.seed = *rc::gen::inRange<uint64_t>(1, 500);
  snap.writeback = *rc::gen::element(sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager);
  snap.record_points = true;
  explore::ExploreOptions cr = snap;
  cr.model = explore::Model::kCrash;
  cr.crash_states = *rc::gen::inRange<uint32_t>(2, 40);
  auto w = workloads::make_workload("invoice-sqlite", params).value();
  auto suite = checkers::CheckerSuite::standard();
  auto a = explore::explore(*w, suite, snap);
  auto b = explore::explore(*w, suite, cr);
  RC_ASSERT(a.is_ok());
  RC_ASSERT(b.is_ok());
  RC_ASSERT(a->trace_hash == b->trace_hash);
  // The snapshot image at each trace position (the latest at or before it).
  const auto& snaps = a->levels[0].records;
  auto snapshot_at = [&](uint64_t pos) {
    std::string image;
    for (const auto& p : snaps) {
      if (p.trace_pos <= pos) image = p.image;
    }
    return image;
  };
  std::string durable = snaps.front().image;  // the image as of the last FLUSH
  std::optional<std::string> next_durable;    // a FLUSH's full image, durable once it is done
  size_t full_points = 0;
  std::map<std::tuple<uint64_t, uint64_t, std::string>, size_t> per_point;
  for (const auto& p : b->levels[0].records) {
    if (!p.fault) {  // the initial image
      RC_ASSERT(p.image == snaps.front().image);
      continue;
    }
    const explore::CrashFault& f = *p.fault;
    RC_ASSERT(f.fates.size() == f.unflushed);
    RC_ASSERT(f.write_lbas && f.write_lbas->size() == f.unflushed);
    RC_ASSERT(f.persisted + f.lost_count + f.torn_count == f.unflushed);
    const bool all = f.persisted == f.unflushed;
    const bool none = f.persisted == 0 && f.torn_count == 0;
    const size_t states = ++per_point[std::make_tuple(p.trace_pos, p.acked, f.cause)];
    const bool first_of_point = states == 1;
    RC_ASSERT(states <= cr.crash_states);
    if (first_of_point) {
      if (next_durable) durable = *std::exchange(next_durable, std::nullopt);
      // Every crash point starts with its all-persisted state: the image a
      // snapshot takes at that moment.
      RC_ASSERT(all);
      RC_ASSERT(p.image == snapshot_at(p.trace_pos));
      ++full_points;
      if (f.cause != "acknowledgement") next_durable = p.image;  // this point ends the epoch
    } else if (none) {
      RC_ASSERT(p.image == durable);  // nothing since the last FLUSH
    }
    if (f.cause == "acknowledgement") {
      // Right after the ack: the disk as a snapshot sees it then.
      RC_ASSERT(p.acked > 0u);
    }
  }
  RC_ASSERT(full_points == per_point.size());
  RC_ASSERT(b->crash.points == per_point.size());
  RC_ASSERT(b->crash.states_explored == b->levels[0].points - 1);  // all but the initial image
}

// That crash images respect the file system's ordering (data before the
// metadata that exposes it, a prefix of committed journal transactions) is
// a property of the file system: tests/sim/simfs_crash_test.cc.

// The planner: every state when they fit, a bounded sample otherwise that
// always holds the states nearest the cut.
BOOST_AUTO_TEST_CASE(plan_enumerates_when_the_states_fit) {
  sim::Prng rng(1);
  // 3 writes: 8 subsets, and 3 x 4 with one of them torn.
  const auto p = explore::plan_crash_states(3, 32, true, rng);
  BOOST_TEST(p.possible == 20u);
  BOOST_TEST(p.enumerated);
  BOOST_TEST(p.states.size() == 20u);
  for (const auto& s : p.states) BOOST_TEST(std::count(s.begin(), s.end(), explore::WriteFate::kTorn) <= 1);
  const auto big = explore::plan_crash_states(60, 32, true, rng);
  BOOST_TEST(big.possible == explore::kCrashStatesCap);
  for (const auto& s : big.states) BOOST_TEST(std::count(s.begin(), s.end(), explore::WriteFate::kTorn) <= 1);
  const auto q = explore::plan_crash_states(5, 32, false, rng);
  BOOST_TEST(q.possible == 32u);
  BOOST_TEST(q.enumerated);
  const auto z = explore::plan_crash_states(0, 32, true, rng);
  BOOST_TEST(z.states.size() == 1u);
  BOOST_TEST(z.enumerated);
}

BOOST_AUTO_TEST_CASE(plan_samples_large_sets_across_the_whole_epoch) {
  sim::Prng rng(1);
  const size_t n = 1000;
  const auto p = explore::plan_crash_states(n, 32, true, rng);
  BOOST_TEST(!p.enumerated);
  BOOST_TEST(p.possible == explore::kCrashStatesCap);
  BOOST_TEST(p.states.size() == 32u);
  std::set<std::vector<explore::WriteFate>> distinct(p.states.begin(), p.states.end());
  BOOST_TEST(distinct.size() == 32u);
  using F = explore::WriteFate;
  auto has = [&](auto pred) {
    return std::any_of(p.states.begin(), p.states.end(), pred);
  };
  // Only the last write lost; only the last write torn; a short prefix.
  BOOST_TEST(has([&](const auto& s) {
    return s[n - 1] == F::kLost && std::count(s.begin(), s.end(), F::kPersisted) == long(n - 1);
  }));
  BOOST_TEST(has([&](const auto& s) {
    return s[n - 1] == F::kTorn && std::count(s.begin(), s.end(), F::kPersisted) == long(n - 1);
  }));
  BOOST_TEST(has([&](const auto& s) { return s[0] == F::kPersisted && s[1] == F::kLost && s[n - 1] == F::kLost; }));
  // Prefixes reach the middle of the epoch, not only its first writes.
  BOOST_TEST(has([&](const auto& s) {
    const auto k = std::count(s.begin(), s.end(), F::kPersisted);
    return k > 300 && k < 700 && s[size_t(k) - 1] == F::kPersisted && s[size_t(k)] == F::kLost;
  }));
}

// SQLite's documentation, under power loss: rollback journals with FULL
// (and EXTRA) never corrupt; EXTRA also keeps every acknowledged commit;
// WAL with FULL keeps everything; synchronous=OFF and journal_mode=MEMORY do
// not survive.
BOOST_AUTO_TEST_CASE(sqlite_survives_power_loss_as_documented) {
  for (uint64_t seed : {1, 2}) {
    for (const char* jm : {"delete", "truncate", "persist", "wal"}) {
      const auto r = run_explore("invoice-sqlite", {std::string("journal_mode=") + jm, "synchronous=full"}, crash(seed));
      BOOST_TEST(count_from(r.levels[0].verdicts, Verdict::kTornTransaction) == 0u, jm << " seed " << seed);
    }
    const auto extra = run_explore("invoice-sqlite", {"journal_mode=delete", "synchronous=extra"}, crash(seed));
    BOOST_TEST(count_from(extra.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
    const auto wal = run_explore("invoice-sqlite", {"journal_mode=wal", "synchronous=full"}, crash(seed));
    BOOST_TEST(count_from(wal.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
    const auto memory = run_explore("invoice-sqlite", {"journal_mode=memory"}, crash(seed));
    BOOST_TEST(count_from(memory.levels[0].verdicts, Verdict::kCorrupt) > 0u);
    const auto off = run_explore("invoice-sqlite", {"synchronous=off"}, crash(seed));
    BOOST_TEST(count_from(off.levels[0].verdicts, Verdict::kLostCommitted) > 0u);
  }
}

// Two databases on two disks that lose power together: one transaction over
// ATTACH in a rollback mode is atomic across both (the super-journal); in WAL
// mode it is atomic per file only, as SQLite documents (lang_attach.html).
BOOST_AUTO_TEST_CASE(attached_databases_on_two_disks_under_power_loss) {
  const auto rollback = run_explore("invoice-multidisk", {"journal_mode=delete"}, crash());
  BOOST_TEST(count_from(rollback.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
  const auto wal = run_explore("invoice-multidisk", {"journal_mode=wal"}, crash());
  BOOST_TEST(count_from(wal.levels[0].verdicts, Verdict::kTornTransaction) > 0u);
  // Both ways of losing the other disk's writes are explored.
  size_t others_lost = 0;
  for (const auto& p : rollback.levels[0].records) {
    others_lost += p.fault && p.fault->others_lost;
  }
  BOOST_TEST(others_lost > 0u);
}

// Writes are torn at the sector size, and only when a block has several.
BOOST_AUTO_TEST_CASE(writes_tear_at_sector_granularity) {
  auto torn = [](uint32_t sector) {
    auto o = crash();
    o.sector_size = sector;
    const auto r = run_explore("invoice-sqlite", {}, o);
    size_t n = 0;
    for (const auto& p : r.levels[0].records) n += p.fault && p.fault->torn_count > 0;
    return n;
  };
  BOOST_TEST(torn(512) > 0u);
  BOOST_TEST(torn(4096) == 0u);
}

// More states per epoch, more points; the same seed, the same points.
BOOST_AUTO_TEST_CASE(crash_states_bound_the_enumeration_deterministically) {
  auto o = crash();
  o.crash_states = 4;
  const auto few = run_explore("invoice-sqlite", {}, o);
  o.crash_states = 64;
  const auto many = run_explore("invoice-sqlite", {}, o);
  BOOST_TEST(few.levels[0].points < many.levels[0].points);
  const auto again = run_explore("invoice-sqlite", {}, o);
  BOOST_REQUIRE(again.levels[0].records.size() == many.levels[0].records.size());
  for (size_t i = 0; i < many.levels[0].records.size(); ++i) {
    BOOST_TEST(again.levels[0].records[i].image == many.levels[0].records[i].image);
    BOOST_TEST(again.levels[0].records[i].note == many.levels[0].records[i].note);
  }
}

BOOST_AUTO_TEST_CASE(crash_model_has_no_quiesce_levels) {
  auto w = workloads::make_workload("invoice-sqlite", {}).value();
  auto suite = checkers::CheckerSuite::standard();
  auto o = crash();
  o.levels = {Quiesce::kNone, Quiesce::kApp};
  auto r = explore::explore(*w, suite, o);
  BOOST_TEST(!r.is_ok());
  BOOST_TEST(r.status().message().find("quiesce") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
