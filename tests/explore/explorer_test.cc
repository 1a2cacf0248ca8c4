// The explorer end to end on the flat-file workloads, in process. The CLI
// integration tests (tests/cli) check the same through the real binary.
#define BOOST_TEST_MODULE explorer
#include <boost/test/unit_test.hpp>

#include <set>

#include "checkers/suite.h"
#include "reports/json_report.h"
#include "reports/run_record.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;
using explore::Quiesce;
using explore::Verdict;

namespace {

explore::ExploreResult run_explore(const std::string& name, explore::ExploreOptions o,
                           std::vector<std::string> params = {}) {
  auto w = workloads::make_workload(name, params).value();
  auto suite = checkers::CheckerSuite::standard();
  auto r = explore::explore(*w, suite, o);
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

const explore::LevelResult& level(const explore::ExploreResult& r, Quiesce q) {
  for (const auto& l : r.levels) {
    if (l.level == q) return l;
  }
  BOOST_FAIL("level not explored");
  return r.levels.front();
}

uint64_t failures(const explore::LevelResult& l) {
  uint64_t n = 0;
  for (size_t v = static_cast<size_t>(Verdict::kLostCommitted); v < explore::kVerdictCount; ++v) {
    n += l.verdicts[v];
  }
  return n;
}

std::string json_of(const explore::ExploreResult& r, const std::string& name) {
  std::vector<reports::RunRecord> runs;
  for (const auto& l : r.levels) {
    reports::RunRecord rec;
    rec.workload = name;
    rec.level = l;
    rec.trace_hash = r.trace_hash;
    runs.push_back(rec);
  }
  return reports::to_json(runs);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ExplorerTest)

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_trace_and_results) {
  for (auto wb : {sim::Writeback::kRandom, sim::Writeback::kLazy}) {
    explore::ExploreOptions o;
    o.seed = 17;
    o.writeback = wb;
    o.schedules = 3;
    const auto a = run_explore("invoice-flatfile", o);
    const auto b = run_explore("invoice-flatfile", o);
    BOOST_TEST(a.trace_hash == b.trace_hash);
    BOOST_TEST(json_of(a, "x") == json_of(b, "x"));
  }
}

BOOST_AUTO_TEST_CASE(different_seeds_give_different_schedules) {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    explore::ExploreOptions o;
    o.seed = seed;
    o.levels = {Quiesce::kApp};
    hashes.insert(run_explore("invoice-flatfile", o).trace_hash);
  }
  BOOST_TEST(hashes.size() > 1u);
}

BOOST_AUTO_TEST_CASE(naive_flatfile_needs_app_quiescing) {
  for (uint64_t seed : {1, 2, 3}) {
    for (auto wb : {sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager}) {
      explore::ExploreOptions o;
      o.seed = seed;
      o.writeback = wb;
      const auto r = run_explore("invoice-flatfile", o);
      BOOST_TEST(failures(level(r, Quiesce::kNone)) > 0u);
      BOOST_TEST(failures(level(r, Quiesce::kFsfreeze)) > 0u);
      BOOST_TEST(failures(level(r, Quiesce::kApp)) == 0u);
      BOOST_TEST(level(r, Quiesce::kApp).points == r.commits + 1);
      const auto& f = level(r, Quiesce::kNone).first_failure;
      BOOST_REQUIRE(f.has_value());
      BOOST_TEST(!f->detail.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(journaled_flatfile_is_safe_without_quiescing_and_recovers) {
  for (uint64_t seed : {1, 2, 3, 4}) {
    for (auto wb : {sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager}) {
      explore::ExploreOptions o;
      o.seed = seed;
      o.writeback = wb;
      o.schedules = 2;
      const auto r = run_explore("invoice-flatfile-journaled", o);
      for (const auto& l : r.levels) BOOST_TEST(failures(l) == 0u);
      BOOST_TEST(level(r, Quiesce::kNone).verdicts[static_cast<size_t>(Verdict::kRecovered)] > 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(all_schedules_enumerates_every_order_of_invoices) {
  explore::ExploreOptions o;
  o.all_schedules = true;
  o.levels = {Quiesce::kApp};
  // Invoices are serialized by the app's lock: 2 clients x 2 invoices can
  // enter them in C(4,2) = 6 orders.
  const auto r = run_explore("invoice-flatfile", o, {"clients=2", "invoices=2"});
  BOOST_TEST(r.schedules_run == 6u);
}

BOOST_AUTO_TEST_CASE(all_schedules_of_sqlite_clients_are_the_orders_of_their_transactions) {
  explore::ExploreOptions o;
  o.all_schedules = true;
  o.levels = {Quiesce::kApp};
  // BEGIN IMMEDIATE serializes the writers: 2 clients x 2 invoices commit in
  // C(4,2) = 6 orders, and a client whose BEGIN could only find the lock
  // taken is not offered to the scheduler.
  const auto r = run_explore("invoice-sqlite", o, {"clients=2", "invoices=2"});
  BOOST_TEST(r.schedules_run == 6u);
}

BOOST_AUTO_TEST_CASE(identical_images_are_checked_once) {
  explore::ExploreOptions o;
  o.levels = {Quiesce::kNone};
  o.record_points = true;
  const auto r = run_explore("invoice-flatfile", o, {"clients=1"});
  // The point right after an acknowledgement shows the disk of the write
  // before it: the same image, counted once.
  std::set<std::string> images;
  for (const auto& p : level(r, Quiesce::kNone).records) images.insert(p.image);
  BOOST_TEST(level(r, Quiesce::kNone).distinct_images == images.size());
  BOOST_TEST(images.size() < level(r, Quiesce::kNone).points);
}

// Each seeded schedule is its own world: with one client there is one
// interleaving, yet the writeback moments and order differ.
BOOST_AUTO_TEST_CASE(schedules_are_distinct_worlds) {
  explore::ExploreOptions o;
  o.schedules = 4;
  o.levels = {Quiesce::kNone};
  const auto r = run_explore("invoice-sqlite", o, {"clients=1"});
  BOOST_TEST(r.schedules_run == 4u);
  BOOST_TEST(r.distinct_traces == 4u);
  // Enumerating every interleaving keeps one world (one client: one run).
  explore::ExploreOptions all;
  all.all_schedules = true;
  all.levels = {Quiesce::kNone};
  const auto e = run_explore("invoice-flatfile", all, {"clients=1"});
  BOOST_TEST(e.schedules_run == 1u);
  BOOST_TEST(e.distinct_traces == 1u);
}

// A snapshot right after the final commit returns: DELETE+FULL has not yet
// made the journal's unlink durable, so lazy writeback loses that commit.
BOOST_AUTO_TEST_CASE(the_final_commit_is_checked) {
  explore::ExploreOptions o;
  o.levels = {Quiesce::kNone};
  o.writeback = sim::Writeback::kLazy;
  o.record_points = true;
  const auto r = run_explore("invoice-sqlite", o, {"clients=1", "invoices=1"});
  const auto& recs = level(r, Quiesce::kNone).records;
  BOOST_REQUIRE(!recs.empty());
  BOOST_TEST(recs.back().acked == 1u);
  BOOST_TEST(level(r, Quiesce::kNone).verdicts[size_t(explore::Verdict::kLostCommitted)] > 0u);
  // EXTRA syncs the directory after the unlink: nothing is lost.
  const auto extra = run_explore("invoice-sqlite", o, {"clients=1", "invoices=1", "synchronous=extra"});
  BOOST_TEST(level(extra, Quiesce::kNone).verdicts[size_t(explore::Verdict::kLostCommitted)] == 0u);
}

BOOST_AUTO_TEST_CASE(freeze_windows_grow_with_the_quiesce_level) {
  explore::ExploreOptions o;
  const auto r = run_explore("invoice-flatfile", o);
  const double none = level(r, Quiesce::kNone).freeze_window_ms;
  const double fs = level(r, Quiesce::kFsfreeze).freeze_window_ms;
  const double app = level(r, Quiesce::kApp).freeze_window_ms;
  BOOST_TEST(none > 0);
  BOOST_TEST(fs > none);
  BOOST_TEST(app > none);
}

BOOST_AUTO_TEST_CASE(replay_reproduces_the_first_failure) {
  explore::ExploreOptions o;
  o.seed = 5;
  const auto r = run_explore("invoice-flatfile", o);
  const auto& f = *level(r, Quiesce::kNone).first_failure;
  explore::ExploreOptions p = o;
  p.levels = {Quiesce::kNone};
  p.only_point = std::make_pair(Quiesce::kNone, f.point);
  const auto rep = run_explore("invoice-flatfile", p);
  BOOST_REQUIRE(rep.replayed.has_value());
  BOOST_TEST(rep.replayed->judgement.verdict == f.verdict);
  BOOST_TEST(rep.replayed->judgement.detail == f.detail);
  BOOST_TEST(!rep.replayed->trace_before.empty());
}

BOOST_AUTO_TEST_CASE(a_full_pool_is_a_clear_error) {
  auto w = workloads::make_workload("invoice-flatfile", {}).value();
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.pool_blocks = 8;
  auto r = explore::explore(*w, suite, o);
  BOOST_REQUIRE(!r.is_ok());
  BOOST_TEST(r.status().code() == cow::Code::kOutOfSpace);
  BOOST_TEST(r.status().message().find("pool") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
