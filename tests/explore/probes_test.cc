// Coverage probes: every rare path they mark runs in some exploration, and
// a failing inspection worker is an error naming it, never a silent result.
#define BOOST_TEST_MODULE probes
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include "checkers/suite.h"
#include "explore/explorer.h"
#include "workloads/registry.h"

using namespace snapsim;
using explore::Probe;

namespace {

explore::Probes probes_of(const std::string& name, std::vector<std::string> params, explore::ExploreOptions o) {
  auto w = workloads::make_workload(name, params).value();
  auto suite = checkers::CheckerSuite::standard();
  o.jobs = 1;
  auto r = explore::explore(*w, suite, o);
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return r->probes;
}

explore::ExploreOptions crash() {
  explore::ExploreOptions o;
  o.model = explore::Model::kCrash;
  o.levels = {explore::Quiesce::kNone};
  return o;
}

// A workload whose inspection dies inside a forked worker.
class DiesInWorkers : public explore::Scenario {
 public:
  explicit DiesInWorkers(std::unique_ptr<workloads::Workload> w) : w_(std::move(w)), parent_(::getpid()) {}
  sim::MachineConfig machine_config() const override { return w_->machine_config(); }
  cow::Status setup(sim::Machine& m) override { return w_->setup(m); }
  cow::Result<explore::Digest> digest(sim::Machine& m) override { return w_->digest(m); }
  cow::Result<std::vector<std::unique_ptr<sim::Client>>> make_clients(sim::Machine& m,
                                                                      explore::CommitLog& log) override {
    return w_->make_clients(m, log);
  }
  explore::AppState inspect(sim::Machine& m, explore::CheckMemo* memo) override {
    if (::getpid() != parent_) ::_exit(3);
    return w_->inspect(m, memo);
  }

 private:
  std::unique_ptr<workloads::Workload> w_;
  pid_t parent_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(Probes)

BOOST_AUTO_TEST_CASE(memo_probes_fire) {
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kNone};
  const auto p = probes_of("invoice-sqlite", {}, o);
  BOOST_TEST(p.count(Probe::kImageMemoHit) > 0u);       // the point after an ack repeats an image
  BOOST_TEST(p.count(Probe::kRecoveredMemoHit) > 0u);   // rolled-back points recover alike
  const auto v = probes_of("invoice-sqlite", {"synchronous=off"}, o);
  BOOST_TEST(p.count(Probe::kVisibleMemoHit) + v.count(Probe::kVisibleMemoHit) > 0u);
}

BOOST_AUTO_TEST_CASE(crash_probes_fire) {
  const auto p = probes_of("invoice-sqlite", {}, crash());
  BOOST_TEST(p.count(Probe::kTornWrite) > 0u);
  BOOST_TEST(p.count(Probe::kTornOverKept) > 0u);
  BOOST_TEST(p.count(Probe::kOthersLost) == 0u);  // one disk
  const auto two = probes_of("invoice-multidisk", {}, crash());
  BOOST_TEST(two.count(Probe::kOthersLost) > 0u);
  auto whole = crash();
  whole.sector_size = 4096;  // a block is one sector: nothing tears
  BOOST_TEST(probes_of("invoice-sqlite", {}, whole).count(Probe::kTornWrite) == 0u);
}

BOOST_AUTO_TEST_CASE(sequential_group_probe_fires) {
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kNone};
  BOOST_TEST(probes_of("invoice-multidisk", {"group=sequential"}, o).count(Probe::kSequentialSkew) > 0u);
  BOOST_TEST(probes_of("invoice-multidisk", {"group=atomic"}, o).count(Probe::kSequentialSkew) == 0u);
}

BOOST_AUTO_TEST_CASE(a_failing_worker_is_an_error) {
  DiesInWorkers w(workloads::make_workload("invoice-sqlite", {}).value());
  auto suite = checkers::CheckerSuite::standard();
  explore::ExploreOptions o;
  o.levels = {explore::Quiesce::kNone};
  o.jobs = 2;
  o.fork_after_ms = 0;  // fork the workers for any batch
  o.fork_if_rest_ms = 0;
  auto r = explore::explore(w, suite, o);
  BOOST_REQUIRE(!r.is_ok());
  BOOST_TEST(r.status().message().find("inspection worker") != std::string::npos, r.status().message());
  BOOST_TEST(r.status().message().find("exit status 3") != std::string::npos, r.status().message());
}

BOOST_AUTO_TEST_SUITE_END()
