// The exploration memos (equal images inspected once; equal visible files
// inspected once; equal recovered files checked once, reading of a rollback
// journal that is not hot only its first byte) are pure optimisations: every
// point's verdict and detail equal those of an exploration that inspects each
// point from scratch on a full copy of its image (bench/baselines.h full_copy(), which
// uses no memo). Checked over random SQLite configurations: every journal
// mode, synchronous level, page and sector size, device claim, writeback
// policy, data mode and seed, and the multi-file workloads.
#define BOOST_TEST_MODULE check_memo
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "bench/baselines.h"
#include "checkers/suite.h"
#include "explore/explorer.h"
#include <algorithm>
#include <filesystem>
#include <functional>
#include <sstream>
#include <fstream>

#include "workloads/registry.h"
#include "workloads/script.h"
#include "workloads/sql_app.h"

using namespace snapsim;

namespace {

// Writes a workload script to the temporary directory; returns its path.
std::string write_script(const std::string& file, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / file).string();
  std::ofstream(path) << text;
  return path;
}

struct Config {
  std::string workload;
  std::vector<std::string> params;
  uint64_t seed = 1;
  sim::Writeback writeback = sim::Writeback::kRandom;
  bool ordered = true;
  explore::Model model = explore::Model::kSnapshot;
};

enum class Restore { kMemo, kFullCopy, kIncrementalReplay };

std::vector<explore::PointRecord> run_explore(const Config& c, Restore how, explore::Quiesce level) {
  auto w = workloads::make_workload(c.workload, c.params);
  RC_ASSERT(w.is_ok());
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = c.seed;
  o.writeback = c.writeback;
  o.ordered_data = c.ordered;
  o.model = c.model;
  o.levels = {level};
  o.record_points = true;
  if (how == Restore::kFullCopy) o.baseline = bench::full_copy();
  if (how == Restore::kIncrementalReplay) o.baseline = bench::incremental_replay();
  auto r = explore::explore(**w, suite, o);
  RC_ASSERT(r.is_ok());
  return r->levels[0].records;
}

void same_results(const Config& c, explore::Quiesce level = explore::Quiesce::kNone,
                  Restore oracle = Restore::kFullCopy) {
  const auto memo = run_explore(c, Restore::kMemo, level);
  const auto scratch = run_explore(c, oracle, level);
  RC_ASSERT(memo.size() == scratch.size());
  RC_ASSERT(!memo.empty());
  for (size_t i = 0; i < memo.size(); ++i) {
    RC_ASSERT(memo[i].point == scratch[i].point);
    RC_ASSERT(memo[i].image == scratch[i].image);
    if (memo[i].verdict != scratch[i].verdict || memo[i].detail != scratch[i].detail) {
      RC_FAIL("point " + std::to_string(memo[i].point) + ": memo says " +
              explore::verdict_name(memo[i].verdict) + " (" + memo[i].detail + "), from scratch " +
              explore::verdict_name(scratch[i].verdict) + " (" + scratch[i].detail + ")");
    }
  }
}

rc::Gen<sim::Writeback> writebacks() {
  return rc::gen::element(sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager);
}


// A writer that stores rows SQLite's integrity_check rejects (a CHECK
// constraint switched off by a PRAGMA in its own transaction): every live
// commit state fails the structural checks.
const std::string kUncheckedScript = write_script("snapsim-unchecked-writer.toml", R"toml(name = "unchecked-writer"
[sqlite]
journal_mode = "delete"
synchronous = "full"
[setup]
sql = "CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER NOT NULL CHECK (x > 0));"
[clients]
count = 2
transactions = 2
[[transaction]]
name = "write"
params = { x = "int(-5,-1)" }
steps = ["PRAGMA ignore_check_constraints = ON", "INSERT INTO t(x) VALUES (:x)"]
[[invariant]]
name = "rows are rows"
sql = "SELECT COUNT(*) >= 0 FROM t"
)toml");

// An application that commits an order and its items in separate
// transactions, moves items between orders and deletes them: its per-key
// invariant (orders keyed by a text code) fails and recovers as it runs,
// on live states and restored ones.
const std::string kOrdersScript = write_script("snapsim-orders-keyed.toml", R"toml(name = "orders-keyed"
[sqlite]
journal_mode = "delete"
synchronous = "full"
[setup]
sql = """
CREATE TABLE orders(id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, total INTEGER NOT NULL, note TEXT);
CREATE TABLE item(id INTEGER PRIMARY KEY, code TEXT, amount INTEGER NOT NULL, pad TEXT);
"""
[clients]
count = 2
transactions = 4
[[transaction]]
name = "order"
params = { k = "int(1,6)", amt = "int(1,9)", note = "text(300)" }
steps = ["INSERT INTO orders(code, total, note) VALUES ('c' || :k, :amt, :note) ON CONFLICT(code) DO UPDATE SET total = total + :amt"]
[[transaction]]
name = "items"
params = { pad = "text(200)" }
steps = ["INSERT INTO item(code, amount, pad) SELECT code, total - COALESCE((SELECT SUM(amount) FROM item WHERE item.code = orders.code), 0), :pad FROM orders WHERE total != COALESCE((SELECT SUM(amount) FROM item WHERE item.code = orders.code), 0)"]
[[transaction]]
name = "move"
params = { k = "int(1,6)" }
steps = ["UPDATE item SET code = 'c' || :k WHERE id = (SELECT MIN(id) FROM item)"]
[[transaction]]
name = "drop"
params = { k = "int(1,6)" }
steps = ["DELETE FROM item WHERE code = 'c' || :k"]
[[invariant]]
name = "order total equals its items"
per = "orders.code"
also = ["item.code"]
check = "total = (SELECT COALESCE(SUM(amount), 0) FROM item WHERE item.code = orders.code)"
[[invariant]]
name = "orders exist"
sql = "SELECT COUNT(*) >= 0 FROM orders"
)toml");

struct Explored {
  std::vector<explore::PointRecord> records;
  uint64_t skipped = 0;
  bool trusted = false;
  uint64_t keyed = 0;  // per-key invariants evaluated where keys changed
};

Explored explore_script(const std::string& workload, const std::vector<std::string>& params, uint64_t seed,
                        Restore how, bool force_trust = false, explore::Model model = explore::Model::kSnapshot) {
  auto w = workloads::load_workload(workload, params);
  RC_ASSERT(w.is_ok());
  auto* app = dynamic_cast<workloads::SqlApp*>(w->get());
  RC_ASSERT(app != nullptr);
  if (force_trust) app->force_trust_live_states();
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = seed;
  o.model = model;
  o.levels = {explore::Quiesce::kNone};
  if (model == explore::Model::kSnapshot) o.levels.push_back(explore::Quiesce::kFsfreeze);
  o.record_points = true;
  if (how == Restore::kFullCopy) o.baseline = bench::full_copy();
  auto r = explore::explore(**w, suite, o);
  RC_ASSERT(r.is_ok());
  Explored e;
  for (const auto& l : r->levels) e.records.insert(e.records.end(), l.records.begin(), l.records.end());
  e.skipped = app->structural_checks_skipped();
  e.trusted = app->trusts_live_states();
  e.keyed = app->keyed_incremental_evaluations();
  return e;
}

// First differing point of two explorations ("" when equal).
std::string first_difference(const Explored& a, const Explored& b) {
  if (a.records.size() != b.records.size()) return "different point counts";
  for (size_t i = 0; i < a.records.size(); ++i) {
    if (a.records[i].verdict != b.records[i].verdict || a.records[i].detail != b.records[i].detail) {
      return "point " + std::to_string(a.records[i].point) + ": " + explore::verdict_name(a.records[i].verdict) +
             " (" + a.records[i].detail + ") vs " + explore::verdict_name(b.records[i].verdict) + " (" +
             b.records[i].detail + ")";
    }
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CheckMemo)

// SQLite's structural checks (integrity_check, foreign_key_check) are
// skipped on a recovered state whose database files equal, bytewise, a state
// the live run wrote and acknowledged (SqlApp::inspect). Every verdict and
// detail still equals a full inspection's; the skip does happen (rollback
// journals recover to such states); and a workload whose live run can store
// what the checks reject is never trusted. Forcing trust on it changes
// results: the refusal is what keeps the skip exact.
RC_BOOST_PROP(structural_skip_never_changes_a_result, ()) {
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "memory", "wal", "off");
  const std::string workload =
      *rc::gen::element<std::string>("invoice-sqlite", "invoice-two-db", "invoice-sqlite-document");
  std::vector<std::string> params = {"journal_mode=" + jm,
                                     "synchronous=" + *rc::gen::element<std::string>("normal", "full"),
                                     "invoices=" + std::to_string(*rc::gen::inRange(1, 4))};
  if (workload == "invoice-two-db") params.push_back("attach=" + *rc::gen::element<std::string>("true", "false"));
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  RC_TAG(workload + " " + jm);
  const Explored memo = explore_script(workload, params, seed, Restore::kMemo);
  const Explored scratch = explore_script(workload, params, seed, Restore::kFullCopy);
  RC_ASSERT(memo.trusted == (jm != "off"));
  if (jm == "delete" || jm == "truncate" || jm == "persist") RC_ASSERT(memo.skipped > 0u);
  if (jm == "off") RC_ASSERT(memo.skipped == 0u);
  if (const std::string d = first_difference(memo, scratch); !d.empty()) RC_FAIL(d);
}

// Per-key invariants (the built-in invoice workloads' per invoice and per
// customer) checked only where their keys changed give every point the
// verdict and detail of an inspection from scratch, and the shortcut is taken.
RC_BOOST_PROP(per_key_invariants_never_change_a_result, ()) {
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "memory", "wal", "off");
  const std::string workload =
      *rc::gen::element<std::string>("invoice-sqlite", "invoice-two-db", "invoice-sqlite-document");
  std::vector<std::string> params = {"journal_mode=" + jm,
                                     "synchronous=" + *rc::gen::element<std::string>("off", "normal", "full"),
                                     "page_size=" + *rc::gen::element<std::string>("512", "1024", "4096"),
                                     "invoices=" + std::to_string(*rc::gen::inRange(2, 6))};
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  RC_TAG(workload + " " + jm);
  const Explored memo = explore_script(workload, params, seed, Restore::kMemo);
  const Explored scratch = explore_script(workload, params, seed, Restore::kFullCopy);
  RC_ASSERT(memo.keyed > 0u);
  RC_ASSERT(scratch.keyed == 0u);
  if (const std::string d = first_difference(memo, scratch); !d.empty()) RC_FAIL(d);
}

// A script's per-key invariant (text keys, rows moving between keys,
// deletions, violations that come and go, pages split at small page sizes)
// checked where keys changed gives every point the verdict and detail of
// an inspection from scratch, on the snapshot and the power-loss models.
RC_BOOST_PROP(per_key_script_invariants_never_change_a_result, ()) {
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal");
  std::vector<std::string> params = {"journal_mode=" + jm,
                                     "synchronous=" + *rc::gen::element<std::string>("off", "normal", "full"),
                                     "page_size=" + *rc::gen::element<std::string>("512", "1024", "4096"),
                                     "clients=" + std::to_string(*rc::gen::inRange(1, 3)),
                                     "transactions=" + std::to_string(*rc::gen::inRange(3, 9))};
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  const auto model = *rc::gen::element(explore::Model::kSnapshot, explore::Model::kCrash);
  RC_TAG(jm, model == explore::Model::kCrash ? "crash" : "snapshot");
  const Explored memo = explore_script(kOrdersScript, params, seed, Restore::kMemo, false, model);
  const Explored scratch = explore_script(kOrdersScript, params, seed, Restore::kFullCopy, false, model);
  if (model == explore::Model::kSnapshot) RC_ASSERT(memo.keyed > 0u);
  RC_TAG(memo.keyed > 0u ? "keyed" : "all in full");
  const bool violated = std::any_of(scratch.records.begin(), scratch.records.end(), [](const auto& r) {
    return r.verdict == explore::Verdict::kInvariantViolation;
  });
  RC_TAG(violated ? "violations" : "no violation");
  if (const std::string d = first_difference(memo, scratch); !d.empty()) RC_FAIL(d);
}

// The declaration is the author's promise: one naming the wrong column
// (items tied to orders by their own id) checks the wrong keys, and the
// comparison with an inspection from scratch catches it.
BOOST_AUTO_TEST_CASE(a_wrong_per_key_declaration_is_caught_by_the_comparison) {
  std::ifstream in(kOrdersScript);
  std::stringstream text;
  text << in.rdbuf();
  std::string wrong = text.str();
  wrong.replace(wrong.find("also = [\"item.code\"]"), std::string("also = [\"item.code\"]").size(), "also = [\"item.id\"]");
  const std::string path = write_script("snapsim-orders-wrong.toml", wrong);
  int differing = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::vector<std::string> params = {"transactions=8", "page_size=1024"};
    const Explored memo = explore_script(path, params, seed, Restore::kMemo);
    const Explored scratch = explore_script(path, params, seed, Restore::kFullCopy);
    differing += !first_difference(memo, scratch).empty();
  }
  BOOST_TEST(differing > 0);
}

BOOST_AUTO_TEST_CASE(a_live_run_that_stores_what_the_checks_reject_is_never_trusted) {
  const Explored memo = explore_script(kUncheckedScript, {}, 7, Restore::kMemo);
  const Explored scratch = explore_script(kUncheckedScript, {}, 7, Restore::kFullCopy);
  BOOST_TEST(!memo.trusted);
  BOOST_TEST(memo.skipped == 0u);
  BOOST_TEST(first_difference(memo, scratch) == "");
  const auto corrupt = std::count_if(scratch.records.begin(), scratch.records.end(), [](const auto& r) {
    return r.verdict == explore::Verdict::kCorrupt;
  });
  BOOST_TEST(corrupt > 0);
  // The refusal matters: trusting this live run would call its corrupt
  // states consistent.
  const Explored forced = explore_script(kUncheckedScript, {}, 7, Restore::kMemo, true);
  BOOST_TEST(forced.skipped > 0u);
  BOOST_TEST(first_difference(forced, scratch) != "");
}

// Setup SQL runs with foreign keys off: a dangling reference it leaves is
// in every live state, and foreign_key_check must still report it.
BOOST_AUTO_TEST_CASE(a_setup_that_leaves_a_dangling_reference_is_never_trusted) {
  const std::string path = write_script("snapsim-dangling-setup.toml", R"toml(name = "dangling-setup"
[sqlite]
journal_mode = "delete"
foreign_keys = true
[setup]
sql = """
CREATE TABLE parent(id INTEGER PRIMARY KEY);
CREATE TABLE child(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id));
INSERT INTO child(parent) VALUES (42);
"""
[clients]
count = 1
transactions = 3
[[transaction]]
name = "add"
steps = ["INSERT INTO parent DEFAULT VALUES"]
[[invariant]]
name = "children exist"
sql = "SELECT COUNT(*) = 1 FROM child"
)toml");
  const Explored memo = explore_script(path, {}, 3, Restore::kMemo);
  const Explored scratch = explore_script(path, {}, 3, Restore::kFullCopy);
  BOOST_TEST(!memo.trusted);
  BOOST_TEST(first_difference(memo, scratch) == "");
  BOOST_TEST(std::all_of(scratch.records.begin(), scratch.records.end(),
                         [](const auto& r) { return r.verdict == explore::Verdict::kCorrupt; }));
  const Explored forced = explore_script(path, {}, 3, Restore::kMemo, true);
  BOOST_TEST(first_difference(forced, scratch) != "");
}

// A [[file]] whose name resolves to a database's own file ("./app.db-shm")
// is written around SQLite: no live state is recorded after it. The same
// script writing a document records every commit.
BOOST_AUTO_TEST_CASE(a_file_written_over_a_database_file_stops_the_recording) {
  const std::string script = R"toml(name = "writes-around"
[sqlite]
journal_mode = "delete"
[[database]]
name = "main"
file = "app.db"
setup = "CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER NOT NULL);"
[clients]
count = 1
transactions = 3
[[transaction]]
name = "add"
params = { x = "int(1,9)" }
steps = ["INSERT INTO t(x) VALUES (:x)"]
[[file]]
name = "FILE"
content = "not SQLite's"
when = "after_commit"
check = "none"
[[invariant]]
name = "rows are positive"
sql = "SELECT COUNT(*) = 0 FROM t WHERE x <= 0"
)toml";
  auto run = [&](const std::string& file, const std::string& tag) {
    std::string text = script;
    text.replace(text.find("FILE"), 4, file);
    const std::string path = write_script("snapsim-writes-around-" + tag + ".toml", text);
    auto w = workloads::load_workload(path, {});
    BOOST_REQUIRE(w.is_ok());
    auto* app = dynamic_cast<workloads::SqlApp*>(w->get());
    auto suite = checkers::CheckerSuite::standard();
    explore::ExploreOptions o;
    o.levels = {explore::Quiesce::kNone};
    BOOST_REQUIRE(explore::explore(**w, suite, o).is_ok());
    return app->live_states_recorded();
  };
  BOOST_TEST(run("./app.db-shm", "shm") == 0u);
  BOOST_TEST(run("doc.txt", "doc") == 3u);
}

BOOST_AUTO_TEST_CASE(what_can_write_around_sqlite_is_never_trusted) {
  namespace wl = workloads;
  auto trusted = [](const std::function<void(wl::SqlSpec&)>& change) {
    auto w = wl::load_workload("invoice-sqlite", {});
    BOOST_REQUIRE(w.is_ok());
    wl::SqlSpec spec = dynamic_cast<wl::SqlApp*>(w->get())->spec();
    change(spec);
    return wl::SqlApp(spec, (*w)->params()).trusts_live_states();
  };
  BOOST_TEST(trusted([](wl::SqlSpec&) {}));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.journal_mode = "off"; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.txns[0].steps[1].sql = "pragma writable_schema=1"; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.databases[0].setup += "PRAGMA foreign_keys=OFF;"; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.txns[0].steps[1].sql = "UPDATE sqlite_dbpage SET data = NULL"; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.pre_freeze = {"PRAGMA ignore_check_constraints=1"}; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { s.pragmas = {"writable_schema = ON"}; }));
  BOOST_TEST(trusted([](wl::SqlSpec& s) { s.pragmas = {"secure_delete = ON", "cache_spill = 0"}; }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { wl::SqlFile f; f.name = "{name}"; s.files.push_back(f); }));
  BOOST_TEST(!trusted([](wl::SqlSpec& s) { wl::SqlFile f; f.name = "invoice.db-{n}"; s.files.push_back(f); }));
  BOOST_TEST(trusted([](wl::SqlSpec& s) { wl::SqlFile f; f.name = "invoice-{n}.txt"; s.files.push_back(f); }));
}

// The benchmark's dm-log-writes baseline (the log replayed incrementally onto
// one device, a thin snapshot per point) restores every point's image
// exactly: same images, same verdicts as the explorer's own.
RC_BOOST_PROP(incremental_replay_restores_every_point_exactly, ()) {
  Config c;
  c.workload = *rc::gen::element<std::string>("invoice-sqlite", "invoice-flatfile", "invoice-two-db");
  c.params = {"invoices=" + std::to_string(*rc::gen::inRange(1, 4))};
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  c.writeback = *writebacks();
  same_results(c, explore::Quiesce::kNone, Restore::kIncrementalReplay);
}

RC_BOOST_PROP(memo_never_changes_a_result_sqlite, ()) {
  Config c;
  c.workload = "invoice-sqlite";
  const std::string jm =
      *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "memory", "off");
  const std::string sync = *rc::gen::element<std::string>("off", "normal", "full", "extra");
  const std::string page = *rc::gen::element<std::string>("512", "1024", "4096", "8192");
  const std::string sector = *rc::gen::element<std::string>("512", "4096");
  const std::string device =
      *rc::gen::element<std::string>("none", "atomic", "safe_append", "sequential", "powersafe_overwrite");
  c.params = {"journal_mode=" + jm, "synchronous=" + sync, "page_size=" + page,
              "sector_size=" + sector, "device=" + device, "invoices=2",
              "wal_autocheckpoint=" + *rc::gen::element<std::string>("0", "4", "1000")};
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  c.writeback = *writebacks();
  c.ordered = *rc::gen::arbitrary<bool>();
  RC_TAG(jm + "/" + sync);
  same_results(c);
}

RC_BOOST_PROP(memo_never_changes_a_result_multi_file, ()) {
  Config c;
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal");
  const std::string sync = *rc::gen::element<std::string>("normal", "full");
  switch (*rc::gen::inRange(0, 4)) {
    case 0:
      c.workload = "invoice-two-db";
      c.params = {"attach=" + *rc::gen::element<std::string>("true", "false")};
      break;
    case 1:
      c.workload = "invoice-sqlite-document";
      c.params = {"document=" + *rc::gen::element<std::string>("before", "after")};
      break;
    case 2: c.workload = "invoice-multidisk"; break;
    default: c.workload = "invoice-flatfile-journaled"; break;
  }
  if (c.workload != "invoice-flatfile-journaled") {
    c.params.push_back("journal_mode=" + jm);
    c.params.push_back("synchronous=" + sync);
  }
  c.params.push_back("invoices=2");
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  c.writeback = *writebacks();
  RC_TAG(c.workload);
  same_results(c);
}

// Crash images (lost and torn writes) too.
RC_BOOST_PROP(memo_never_changes_a_result_under_power_loss, ()) {
  Config c;
  c.workload = *rc::gen::element<std::string>("invoice-sqlite", "invoice-sqlite-document", "invoice-two-db");
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "memory");
  c.params = {"journal_mode=" + jm, "synchronous=" + *rc::gen::element<std::string>("off", "normal", "full"),
              "invoices=1"};
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  c.writeback = *writebacks();
  c.model = explore::Model::kCrash;
  RC_TAG(c.workload + " " + jm);
  same_results(c);
}

// Frozen levels restore through the same memos.
RC_BOOST_PROP(memo_never_changes_a_result_frozen_levels, ()) {
  Config c;
  c.workload = "invoice-sqlite";
  const std::string jm = *rc::gen::element<std::string>("delete", "persist", "wal", "off");
  c.params = {"journal_mode=" + jm, "synchronous=" + *rc::gen::element<std::string>("off", "full"),
              "invoices=2"};
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  same_results(c, *rc::gen::element(explore::Quiesce::kFsfreeze, explore::Quiesce::kApp));
}

// Streaming (points inspected while the run goes on, their snapshots
// released; with --jobs, batches on forked workers beside the simulation)
// changes nothing: not the run (trace hash: the inspections leave SQLite's
// PRNG alone), not a point's image, verdict or detail, not the counts.
RC_BOOST_PROP(streaming_never_changes_a_result, ()) {
  const std::string workload =
      *rc::gen::element<std::string>("invoice-sqlite", "invoice-two-db", "invoice-flatfile-journaled");
  std::vector<std::string> params = {"invoices=" + std::to_string(*rc::gen::inRange(1, 4))};
  if (workload != "invoice-flatfile-journaled") {
    params.push_back("journal_mode=" +
                     *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "memory"));
    params.push_back("synchronous=" + *rc::gen::element<std::string>("off", "normal", "full"));
  }
  const auto model = *rc::gen::element(explore::Model::kSnapshot, explore::Model::kCrash);
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  const uint32_t jobs = *rc::gen::inRange<uint32_t>(1, 4);
  RC_TAG(workload, jobs);
  auto run = [&](bool stream, uint32_t j) {
    auto w = workloads::make_workload(workload, params);
    RC_ASSERT(w.is_ok());
    auto suite = checkers::CheckerSuite::standard();
    explore::ExploreOptions o;
    o.seed = seed;
    o.model = model;
    o.record_points = true;
    o.stream = stream;
    o.jobs = j;
    o.fork_after_ms = 0;  // batches go to workers from the start...
    o.fork_if_rest_ms = 1;  // ...each about a millisecond's work
    if (model == explore::Model::kCrash) o.levels = {explore::Quiesce::kNone};
    auto r = explore::explore(**w, suite, o);
    RC_ASSERT(r.is_ok());
    return std::move(*r);
  };
  const auto held = run(false, 1);
  const auto streamed = run(true, jobs);
  RC_ASSERT(held.trace_hash == streamed.trace_hash);
  RC_ASSERT(held.levels.size() == streamed.levels.size());
  for (size_t l = 0; l < held.levels.size(); ++l) {
    const auto& a = held.levels[l];
    const auto& b = streamed.levels[l];
    RC_ASSERT(a.points == b.points);
    RC_ASSERT(a.distinct_images == b.distinct_images);
    RC_ASSERT(a.verdicts == b.verdicts);
    RC_ASSERT(a.records.size() == b.records.size());
    RC_ASSERT(!a.records.empty());
    for (size_t i = 0; i < a.records.size(); ++i) {
      RC_ASSERT(a.records[i].image == b.records[i].image);
      RC_ASSERT(a.records[i].verdict == b.records[i].verdict);
      RC_ASSERT(a.records[i].detail == b.records[i].detail);
    }
  }
}

// Rows that spill onto overflow pages (long text at small page sizes), a
// WITHOUT ROWID table (an index b-tree) with long keys, deletions (free
// pages), for the page digest's test below.
const std::string kPagesScript = write_script("snapsim-pages-probe.toml", R"toml(name = "pages-probe"
[sqlite]
journal_mode = "delete"
synchronous = "full"
[setup]
sql = """
CREATE TABLE doc(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE tag(name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
"""
[clients]
count = 2
transactions = 3
[[transaction]]
name = "write"
params = { body = "text(1500)", t = "choice(a,b,c)" }
steps = [
  "INSERT INTO doc(body) VALUES (:body)",
  "INSERT INTO tag VALUES (:t || substr(:body, 1, 700), 1) ON CONFLICT(name) DO UPDATE SET n = n + 1",
  "DELETE FROM doc WHERE id % 3 = 0",
]
[[invariant]]
name = "every tag counts at least once"
sql = "SELECT COUNT(*) = 0 FROM tag WHERE n < 1"
)toml");

// The logical digest from b-tree pages (workloads/sqlite_pages.h: a
// memoised sum of row hashes) tells states apart exactly as reading every
// row through SQL does: in one run, every live commit digest and every
// recovered state's digest is computed both ways, and each table's page
// digest pairs with one SQL digest and the other way round, with the same
// tables and row counts. Over random configurations: every journal mode,
// WAL checkpoints, page sizes from 512 to 65536 (long memos spill onto
// overflow pages at the small ones), two databases, power loss.
RC_BOOST_PROP(page_digests_tell_states_apart_like_sql, ()) {
  const std::string jm = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "memory", "off");
  const std::string page = *rc::gen::element<std::string>("512", "1024", "4096", "65536");
  std::vector<std::string> params = {"journal_mode=" + jm,
                                     "synchronous=" + *rc::gen::element<std::string>("off", "normal", "full"),
                                     "page_size=" + page, "invoices=" + std::to_string(*rc::gen::inRange(1, 5)),
                                     "wal_autocheckpoint=" + *rc::gen::element<std::string>("0", "4", "1000")};
  const std::string workload = *rc::gen::element<std::string>("invoice-sqlite", "invoice-two-db", kPagesScript);
  if (workload == kPagesScript) {  // invoices= and wal_autocheckpoint= are the built-ins' names
    params[4] = "sqlite." + params[4];
    params.erase(params.begin() + 3);
    params.push_back("transactions=" + std::to_string(*rc::gen::inRange(1, 4)));
  }
  const auto model = *rc::gen::element(explore::Model::kSnapshot, explore::Model::kCrash);
  RC_TAG(workload + " " + jm + "/" + page);
  auto w = workloads::load_workload(workload, params);
  RC_ASSERT(w.is_ok());
  auto* app = dynamic_cast<workloads::SqlApp*>(w->get());
  RC_ASSERT(app != nullptr);
  app->pages().set_verifying(true);
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  o.model = model;
  if (model == explore::Model::kCrash) o.levels = {explore::Quiesce::kNone};
  auto r = explore::explore(**w, suite, o);
  RC_ASSERT(r.is_ok());
  RC_ASSERT(app->pages().pairs() > 0u);
  if (!app->pages().mismatch().empty()) RC_FAIL(app->pages().mismatch());
}

BOOST_AUTO_TEST_SUITE_END()
