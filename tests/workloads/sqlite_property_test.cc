// SQLite's documented guarantees hold at every point, over random
// configurations: journal mode, synchronous level, page size, writeback
// policy, both simfs data modes, 1-4 clients, up to 64 invoices, both
// failure models. And where SQLite warns, some configuration shows it.
//
// What SQLite documents (pragma.html#pragma_synchronous, wal.html,
// howtocorrupt.html), and what each guarantee assumes of the file system:
//   - FULL and EXTRA: "an operating system crash or power failure will not
//     corrupt the database" in any rollback journal mode. SQLite relies on
//     a file's data reaching the disk before the size that exposes it
//     (ext4 data=ordered); with data=writeback a stale journal can surface
//     (a file system fault SQLite does not claim to survive), so this
//     guarantee is checked with ordered data only.
//   - EXTRA in DELETE mode also syncs the directory after the journal's
//     unlink: no acknowledged commit is lost.
//   - WAL with FULL or EXTRA syncs the WAL on every commit: nothing is lost
//     and nothing is damaged; WAL frames carry salts and checksums, so
//     stale bytes are ignored under either data mode.
//   - WAL with NORMAL "might roll back following a power loss" but "is safe
//     from corruption": nothing worse than a lost commit.
//   - An application that quiesces (the `app` level: drained, flushed,
//     frozen) restores consistent in every configuration.
// Warnings that must show up somewhere: DELETE+FULL and WAL+NORMAL lose
// acknowledged commits; synchronous=OFF and journal_mode=MEMORY|OFF damage
// the database.
#define BOOST_TEST_MODULE sqlite_property
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;
using explore::Quiesce;
using explore::Verdict;

namespace {

struct Config {
  std::string journal_mode, synchronous;
  int page_size = 4096;
  sim::Writeback writeback = sim::Writeback::kRandom;
  bool ordered_data = true;
  sim::FsMode fs = sim::FsMode::kExt4;
  int clients = 1, invoices = 1;
  explore::Model model = explore::Model::kSnapshot;
  uint64_t seed = 1;

  std::vector<std::string> params() const {
    return {"journal_mode=" + journal_mode, "synchronous=" + synchronous,
            "page_size=" + std::to_string(page_size), "clients=" + std::to_string(clients),
            "invoices=" + std::to_string(invoices)};
  }
  std::string show() const {
    std::string s;
    for (const auto& p : params()) s += p + " ";
    return s + fmt::format("writeback={} fs={} data={} model={} seed={}", sim::writeback_name(writeback),
                           sim::fs_mode_name(fs), ordered_data ? "ordered" : "writeback", explore::model_name(model),
                           seed);
  }
  // Data reaches the disk before the metadata that exposes it (both modes
  // with data=ordered).
  bool ordered() const { return ordered_data; }
};

void showValue(const Config& c, std::ostream& os) { os << c.show(); }

struct Outcome {
  explore::VerdictCounts none{};
  std::optional<explore::VerdictCounts> app;  // snapshot model only
  std::string first;                      // first failure at `none`, for messages
};

Outcome run(const Config& c) {
  auto w = workloads::make_workload("invoice-sqlite", c.params());
  if (!w) throw std::runtime_error(w.status().to_string());
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = c.seed;
  o.model = c.model;
  o.writeback = c.writeback;
  o.ordered_data = c.ordered_data;
  o.fs_mode = c.fs;
  o.levels = c.model == explore::Model::kCrash ? std::vector<Quiesce>{Quiesce::kNone}
                                           : std::vector<Quiesce>{Quiesce::kNone, Quiesce::kApp};
  auto r = explore::explore(**w, suite, o);
  if (!r) throw std::runtime_error(r.status().to_string());
  Outcome out;
  for (const auto& l : r->levels) {
    if (l.level == Quiesce::kNone) {
      out.none = l.verdicts;
      if (l.first_failure) {
        out.first = fmt::format("point {}: {}: {}", l.first_failure->point,
                                explore::verdict_name(l.first_failure->verdict), l.first_failure->detail);
      }
    } else {
      out.app = l.verdicts;
    }
  }
  return out;
}

uint64_t at_least(const explore::VerdictCounts& v, Verdict from) {
  uint64_t n = 0;
  for (size_t i = static_cast<size_t>(from); i < explore::kVerdictCount; ++i) n += v[i];
  return n;
}

rc::Gen<Config> any_config() {
  return rc::gen::exec([] {
    Config c;
    c.journal_mode = *rc::gen::element<std::string>("delete", "truncate", "persist", "wal", "memory", "off");
    c.synchronous = *rc::gen::element<std::string>("off", "normal", "full", "extra");
    c.page_size = *rc::gen::element(512, 1024, 4096, 16384);
    c.writeback = *rc::gen::element(sim::Writeback::kRandom, sim::Writeback::kLazy, sim::Writeback::kEager);
    c.ordered_data = *rc::gen::element(true, false);
    c.fs = *rc::gen::element(sim::FsMode::kExt4, sim::FsMode::kNoJournal);
    c.clients = *rc::gen::inRange(1, 5);
    c.invoices = *rc::gen::inRange(1, 64 / c.clients + 1);
    c.model = *rc::gen::element(explore::Model::kSnapshot, explore::Model::kCrash);
    c.seed = *rc::gen::inRange<uint64_t>(1, 1u << 20);
    return c;
  });
}

bool rollback(const Config& c) {
  return c.journal_mode == "delete" || c.journal_mode == "truncate" || c.journal_mode == "persist";
}
bool durable_sync(const Config& c) { return c.synchronous == "full" || c.synchronous == "extra"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(SqliteProperty)

RC_BOOST_PROP(documented_guarantees_hold_at_every_point, ()) {
  const Config c = *any_config();
  RC_TAG(c.journal_mode, c.synchronous, explore::model_name(c.model));
  const Outcome o = run(c);
  RC_LOG() << c.show() << "\n  first failure: " << o.first << "\n";
  if (rollback(c) && durable_sync(c) && c.ordered()) {
    RC_ASSERT(at_least(o.none, Verdict::kTornTransaction) == 0u);
  }
  if (c.journal_mode == "delete" && c.synchronous == "extra" && c.ordered()) {
    RC_ASSERT(at_least(o.none, Verdict::kLostCommitted) == 0u);
  }
  if (c.journal_mode == "wal" && durable_sync(c)) {
    RC_ASSERT(at_least(o.none, Verdict::kLostCommitted) == 0u);
  }
  if (c.journal_mode == "wal" && c.synchronous == "normal") {
    RC_ASSERT(at_least(o.none, Verdict::kTornTransaction) == 0u);
  }
  if (o.app) RC_ASSERT(at_least(*o.app, Verdict::kLostCommitted) == 0u);
}

// Where SQLite warns, snapsim finds it at sizes beyond the defaults, in
// both failure models. Each warned configuration runs over a few sizes,
// seeds and writeback policies; some run must show the documented damage.
BOOST_AUTO_TEST_CASE(documented_warnings_show_up_at_size) {
  struct Warning {
    const char* journal_mode;
    const char* synchronous;
    Verdict from;  // the documented damage, at least this bad
  };
  const Warning warnings[] = {
      {"delete", "full", Verdict::kLostCommitted},   // the unlink is not synced
      {"wal", "normal", Verdict::kLostCommitted},    // "might roll back following a power loss"
      {"delete", "off", Verdict::kTornTransaction},  // "the database might become corrupted"
      {"wal", "off", Verdict::kLostCommitted},
      {"memory", "full", Verdict::kTornTransaction}, // no rollback journal on disk
      {"off", "full", Verdict::kTornTransaction},
  };
  for (const auto& w : warnings) {
    for (auto model : {explore::Model::kSnapshot, explore::Model::kCrash}) {
      uint64_t shown = 0;
      std::string tried;
      for (int clients : {1, 3}) {
        for (int invoices : {8, 20}) {
          for (auto wb : {sim::Writeback::kRandom, sim::Writeback::kLazy}) {
            Config c;
            c.journal_mode = w.journal_mode;
            c.synchronous = w.synchronous;
            c.clients = clients;
            c.invoices = invoices;
            c.writeback = wb;
            c.model = model;
            c.seed = static_cast<uint64_t>(clients * 100 + invoices);
            shown += at_least(run(c).none, w.from);
            tried += c.show() + "; ";
          }
        }
      }
      BOOST_TEST(shown > 0u, w.journal_mode << "/" << w.synchronous << " under " << explore::model_name(model)
                                          << " never showed " << explore::verdict_name(w.from) << ": " << tried);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
