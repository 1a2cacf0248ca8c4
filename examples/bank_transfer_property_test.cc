// A vendor's property test, written against snapsim's public API: whatever
// the seed, schedule, writeback order, number of clients and transfers, the
// bank-transfer application (examples/bank-transfer.toml) restores
// consistent from every snapshot taken under `app` quiescing, and WAL with
// synchronous=FULL never tears a transfer even without quiescing.
#define BOOST_TEST_MODULE bank_transfer_property
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "api/generators.h"
#include "api/snapsim.h"

namespace {
const std::string kScript = std::string(SNAPSIM_SOURCE_DIR) + "/examples/bank-transfer.toml";
}

RC_BOOST_PROP(bank_transfer_recovers_from_any_app_quiesced_snapshot, ()) {
  auto o = *snapsim::api::gen::run_options(kScript);
  o.quiesce = "none,app";
  auto r = snapsim::api::run_workload(o);
  RC_ASSERT(r.is_ok());
  RC_ASSERT(r->failures("app") == 0u);
  // Without quiescing, WAL+FULL keeps the database itself intact: only the
  // receipts outside it can be missing.
  const auto* none = r->level("none");
  RC_ASSERT(none != nullptr);
  RC_ASSERT(none->verdicts.at("corrupt") == 0u);
  RC_ASSERT(none->verdicts.at("lost_committed") == 0u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_an_error_not_a_crash) {
  snapsim::api::RunOptions o;
  o.workload = "no-such-workload";
  auto r = snapsim::api::run_workload(o);
  BOOST_TEST(!r.is_ok());
  BOOST_TEST(r.status().message().find("no-such-workload") != std::string::npos);
}
