// The memory model (explore/memory_model.cc). A fork resumes exactly the
// live state: what each revert point resumed (its disks with the page cache
// written back) equals the snapshot model's fsfreeze image of the same
// moment, taken in another process by another execution. A revert needs no
// recovery and keeps the data consistent. Clients lose only what was
// acknowledged after the snapshot moment: reverting at once loses nothing,
// and the flat-file application (no session locks) never blocks a client.
// --jobs never changes a result.
#define BOOST_TEST_MODULE memory_model
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <map>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;

namespace {

struct Case {
  std::string workload;
  std::vector<std::string> params;
  uint64_t seed = 1;
};

Case any_case() {
  Case c;
  c.workload = *rc::gen::element<std::string>("invoice-sqlite", "invoice-flatfile", "invoice-two-db");
  c.params.push_back("invoices=" + std::to_string(*rc::gen::inRange(1, 3)));
  c.params.push_back("clients=" + std::to_string(*rc::gen::inRange(1, 4)));
  if (c.workload != "invoice-flatfile") {
    c.params.push_back("journal_mode=" + *rc::gen::element<std::string>("delete", "truncate", "persist", "wal"));
  }
  c.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  return c;
}

explore::ExploreResult run(const Case& c, explore::Model model, explore::Quiesce level, uint32_t jobs,
                           std::optional<uint64_t> revert_after_ms = std::nullopt) {
  auto w = workloads::make_workload(c.workload, c.params).value();
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.seed = c.seed;
  o.model = model;
  o.levels = {level};
  o.jobs = jobs;
  o.record_points = true;
  o.revert_after_ms = revert_after_ms;
  auto r = explore::explore(*w, suite, o);
  if (!r) RC_FAIL(r.status().to_string());
  return std::move(*r);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(MemoryModel)

RC_BOOST_PROP(a_revert_resumes_the_live_state_and_needs_no_recovery, ()) {
  const Case c = any_case();
  const auto memory = run(c, explore::Model::kMemory, explore::Quiesce::kNone, 1);
  const auto frozen = run(c, explore::Model::kSnapshot, explore::Quiesce::kFsfreeze, 1);
  const auto& ml = memory.levels.at(0);
  RC_ASSERT(ml.client.has_value());
  // Never anything but consistent: no recovery, no damage, the fork's
  // commits all present.
  RC_ASSERT(ml.verdicts[static_cast<size_t>(explore::Verdict::kConsistent)] == ml.points);
  std::map<uint64_t, std::string> at;  // trace position -> fsfreeze image
  for (const auto& p : frozen.levels.at(0).records) at[p.trace_pos] = p.image;
  size_t compared = 0;
  for (const auto& p : ml.records) {
    RC_ASSERT(!p.resumed.empty());
    auto it = at.find(p.trace_pos);
    if (it == at.end()) continue;
    RC_ASSERT(p.resumed == it->second);
    ++compared;
  }
  RC_ASSERT(compared > 0);
  RC_TAG(compared);
  // The same live run under both models.
  RC_ASSERT(memory.trace_hash == frozen.trace_hash);
  if (c.workload == "invoice-flatfile") RC_ASSERT(ml.client->points[2] == 0u);
}

RC_BOOST_PROP(clients_lose_only_what_was_acknowledged_after_the_moment, ()) {
  const Case c = any_case();
  const auto later = run(c, explore::Model::kMemory, explore::Quiesce::kNone, 1);
  const auto& l = later.levels.at(0);
  // The first point is before any acknowledgement: everything acknowledged
  // later is undone there, and each undone invoice's number is reissued.
  RC_ASSERT(l.client->first[0].has_value());
  RC_ASSERT(l.client->first[0]->point == 0u);
  RC_ASSERT(l.client->reissued_identifiers == l.client->reverted_acknowledgements);
  const auto at_once = run(c, explore::Model::kMemory, explore::Quiesce::kNone, 1, uint64_t{0});
  const auto& z = at_once.levels.at(0);
  RC_ASSERT(z.client->points[0] == 0u);
  RC_ASSERT(z.client->points[1] == 0u);
  RC_ASSERT(z.points == l.points);
}

RC_BOOST_PROP(jobs_never_change_a_result, ()) {
  const Case c = any_case();
  const auto one = run(c, explore::Model::kMemory, explore::Quiesce::kNone, 1);
  const auto two = run(c, explore::Model::kMemory, explore::Quiesce::kNone, 2);
  const auto& a = one.levels.at(0);
  const auto& b = two.levels.at(0);
  RC_ASSERT(one.trace_hash == two.trace_hash);
  RC_ASSERT(a.verdicts == b.verdicts);
  RC_ASSERT(a.client->points == b.client->points);
  RC_ASSERT(a.client->reverted_acknowledgements == b.client->reverted_acknowledgements);
  RC_ASSERT(a.client->blocked_ms_max == b.client->blocked_ms_max);
  RC_ASSERT(a.records.size() == b.records.size());
  for (size_t i = 0; i < a.records.size(); ++i) {
    RC_ASSERT(a.records[i].image == b.records[i].image);
    RC_ASSERT(a.records[i].resumed == b.records[i].resumed);
  }
}

BOOST_AUTO_TEST_SUITE_END()
