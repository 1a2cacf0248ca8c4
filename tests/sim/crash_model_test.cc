// The crash (power-loss) model: at every FLUSH, the disk as of its previous
// FLUSH plus subsets of the writes issued since, some torn at sector
// granularity (sim/explorer.h, ExploreOptions::crash_states).
#define BOOST_TEST_MODULE crash_model
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <map>
#include <set>

#include "checkers/suite.h"
#include "sim/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;
using sim::Quiesce;
using sim::Verdict;

namespace {

sim::ExploreResult explore(const std::string& name, std::vector<std::string> params, sim::ExploreOptions o) {
  auto w = workloads::make_workload(name, params).value();
  auto suite = checkers::CheckerSuite::standard();
  auto r = sim::explore(*w, suite, o);
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

sim::ExploreOptions crash(uint64_t seed = 1) {
  sim::ExploreOptions o;
  o.model = sim::Model::kCrash;
  o.levels = {Quiesce::kNone};
  o.seed = seed;
  o.record_points = true;
  return o;
}

uint64_t count_from(const sim::VerdictCounts& v, Verdict from) {
  uint64_t n = 0;
  for (size_t i = static_cast<size_t>(from); i < sim::kVerdictCount; ++i) n += v[i];
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
  sim::ExploreOptions snap;
  snap.levels = {Quiesce::kNone};
  snap.seed = *rc::gen::inRange<uint64_t>(1, 500);
  snap.writeback = *rc::gen::element(sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager);
  snap.record_points = true;
  sim::ExploreOptions cr = snap;
  cr.model = sim::Model::kCrash;
  cr.crash_states = *rc::gen::inRange<uint32_t>(2, 40);
  auto w = workloads::make_workload("invoice-sqlite", params).value();
  auto suite = checkers::CheckerSuite::standard();
  auto a = sim::explore(*w, suite, snap);
  auto b = sim::explore(*w, suite, cr);
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
  std::string durable;       // the image as of the epoch's start (last FLUSH)
  std::string epoch_full;    // this epoch's image with all its writes
  uint64_t epoch_pos = UINT64_MAX;
  bool full_seen = false;
  for (const auto& p : b->levels[0].records) {
    if (p.note.empty()) {  // the initial image
      RC_ASSERT(p.image == snaps.front().image);
      epoch_full = p.image;
      continue;
    }
    if (p.trace_pos != epoch_pos) {  // a new epoch: the last one is durable
      epoch_pos = p.trace_pos;
      durable = epoch_full;
    }
    const auto colon = p.note.find(": ") + 2;
    const auto of = p.note.find(" of the ", colon);
    RC_ASSERT(of != std::string::npos);
    const std::string kept = p.note.substr(colon, of - colon);
    const std::string total = p.note.substr(of + 8, p.note.find(' ', of + 8) - of - 8);
    if (kept == total) {  // every write of the epoch: what a snapshot sees then
      RC_ASSERT(p.image == snapshot_at(p.trace_pos));
      epoch_full = p.image;
      full_seen = true;
    } else if (kept == "0" && p.note.find("torn") == std::string::npos) {
      RC_ASSERT(p.image == durable);  // nothing since the last FLUSH
    }
  }
  if (full_seen != (epoch_pos != UINT64_MAX)) {  // every epoch has its full image
    std::string notes;
    for (const auto& p : b->levels[0].records) notes += p.note + " | ";
    RC_FAIL("an epoch without its full image: " + notes);
  }
  // At most crash_states images per epoch.
  std::map<std::pair<uint64_t, uint64_t>, size_t> epochs;  // (trace position, acked) -> states
  for (const auto& p : b->levels[0].records) {
    if (p.note.empty()) continue;
    const size_t states = ++epochs[std::make_pair(p.trace_pos, p.acked)];
    RC_ASSERT(states <= cr.crash_states);
  }
}

// SQLite's documentation, under power loss: rollback journals with FULL
// (and EXTRA) never corrupt; EXTRA also keeps every acknowledged commit;
// WAL with FULL keeps everything; synchronous=OFF and journal_mode=MEMORY do
// not survive.
BOOST_AUTO_TEST_CASE(sqlite_survives_power_loss_as_documented) {
  for (uint64_t seed : {1, 2}) {
    for (const char* jm : {"delete", "truncate", "persist", "wal"}) {
      const auto r = explore("invoice-sqlite", {std::string("journal_mode=") + jm, "synchronous=full"}, crash(seed));
      BOOST_TEST(count_from(r.levels[0].verdicts, Verdict::kTornTransaction) == 0u, jm << " seed " << seed);
    }
    const auto extra = explore("invoice-sqlite", {"journal_mode=delete", "synchronous=extra"}, crash(seed));
    BOOST_TEST(count_from(extra.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
    const auto wal = explore("invoice-sqlite", {"journal_mode=wal", "synchronous=full"}, crash(seed));
    BOOST_TEST(count_from(wal.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
    const auto memory = explore("invoice-sqlite", {"journal_mode=memory"}, crash(seed));
    BOOST_TEST(count_from(memory.levels[0].verdicts, Verdict::kCorrupt) > 0u);
    const auto off = explore("invoice-sqlite", {"synchronous=off"}, crash(seed));
    BOOST_TEST(count_from(off.levels[0].verdicts, Verdict::kLostCommitted) > 0u);
  }
}

// Two databases on two disks that lose power together: one transaction over
// ATTACH in a rollback mode is atomic across both (the super-journal); in WAL
// mode it is atomic per file only, as SQLite documents (lang_attach.html).
BOOST_AUTO_TEST_CASE(attached_databases_on_two_disks_under_power_loss) {
  const auto rollback = explore("invoice-multidisk", {"journal_mode=delete"}, crash());
  BOOST_TEST(count_from(rollback.levels[0].verdicts, Verdict::kLostCommitted) == 0u);
  const auto wal = explore("invoice-multidisk", {"journal_mode=wal"}, crash());
  BOOST_TEST(count_from(wal.levels[0].verdicts, Verdict::kTornTransaction) > 0u);
  // Both ways of losing the other disk's writes are explored.
  size_t others_lost = 0;
  for (const auto& p : rollback.levels[0].records) {
    others_lost += p.note.find("the other disks lost") != std::string::npos;
  }
  BOOST_TEST(others_lost > 0u);
}

// Writes are torn at the sector size, and only when a block has several.
BOOST_AUTO_TEST_CASE(writes_tear_at_sector_granularity) {
  auto torn = [](uint32_t sector) {
    auto o = crash();
    o.sector_size = sector;
    const auto r = explore("invoice-sqlite", {}, o);
    size_t n = 0;
    for (const auto& p : r.levels[0].records) n += p.note.find("torn") != std::string::npos;
    return n;
  };
  BOOST_TEST(torn(512) > 0u);
  BOOST_TEST(torn(4096) == 0u);
}

// More states per epoch, more points; the same seed, the same points.
BOOST_AUTO_TEST_CASE(crash_states_bound_the_enumeration_deterministically) {
  auto o = crash();
  o.crash_states = 4;
  const auto few = explore("invoice-sqlite", {}, o);
  o.crash_states = 64;
  const auto many = explore("invoice-sqlite", {}, o);
  BOOST_TEST(few.levels[0].points < many.levels[0].points);
  const auto again = explore("invoice-sqlite", {}, o);
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
  auto r = sim::explore(*w, suite, o);
  BOOST_TEST(!r.is_ok());
  BOOST_TEST(r.status().message().find("quiesce") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
