#define BOOST_TEST_MODULE checkers
#include <boost/test/unit_test.hpp>

#include "checkers/suite.h"

using namespace snapsim;
using explore::Verdict;

namespace {

std::vector<explore::Digest> digests() { return {{1, 0}, {2, 0}, {3, 0}, {4, 0}}; }

explore::AppState good(uint64_t k) {
  explore::AppState s;
  s.opened = true;
  s.digest = explore::Digest{k + 1, 0};
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CheckerSuiteTest)

BOOST_AUTO_TEST_CASE(state_within_acked_and_issued_is_consistent) {
  auto suite = checkers::CheckerSuite::standard();
  const auto d = digests();
  explore::PointContext ctx{1, 2, &d};
  BOOST_TEST(suite.classify(good(1), ctx).verdict == Verdict::kConsistent);
  BOOST_TEST(suite.classify(good(2), ctx).verdict == Verdict::kConsistent);
  auto rec = good(2);
  rec.recovered = true;
  BOOST_TEST(suite.classify(rec, ctx).verdict == Verdict::kRecovered);
}

BOOST_AUTO_TEST_CASE(older_state_is_lost_committed_and_unknown_state_torn) {
  auto suite = checkers::CheckerSuite::standard();
  const auto d = digests();
  explore::PointContext ctx{2, 2, &d};
  auto j = suite.classify(good(1), ctx);
  BOOST_TEST(j.verdict == Verdict::kLostCommitted);
  BOOST_TEST(j.detail.find("commit 1") != std::string::npos);
  auto torn = good(0);
  torn.digest = explore::Digest{99, 9};
  BOOST_TEST(suite.classify(torn, ctx).verdict == Verdict::kTornTransaction);
  // Newer than issued is torn too: the oracle never accepts the future.
  explore::PointContext early{0, 1, &d};
  BOOST_TEST(suite.classify(good(3), early).verdict == Verdict::kTornTransaction);
}

// With data outside the main store, a torn state whose databases are at a
// commit says so; one whose databases match no commit keeps the plain text.
BOOST_AUTO_TEST_CASE(torn_state_explains_files_out_of_step_with_the_databases) {
  auto suite = checkers::CheckerSuite::standard();
  const auto d = digests();
  const std::vector<explore::Digest> stores = {{10, 1}, {20, 1}, {30, 1}, {40, 1}};
  explore::PointContext ctx{1, 2, &d, &stores};
  auto s = good(0);
  s.digest = explore::Digest{99, 9};   // matches no commit as a whole
  s.store_digest = stores[2];      // but its databases are at commit 2
  auto j = suite.classify(s, ctx);
  BOOST_TEST(j.verdict == Verdict::kTornTransaction);
  BOOST_TEST(j.detail.find("databases are at commit 2") != std::string::npos, j.detail);
  BOOST_TEST(j.detail.find("files outside them") != std::string::npos, j.detail);
  s.store_digest = explore::Digest{55, 5};  // databases torn too
  j = suite.classify(s, ctx);
  BOOST_TEST(j.verdict == Verdict::kTornTransaction);
  BOOST_TEST(j.detail.find("part of a transaction is visible") != std::string::npos, j.detail);
  // Never a later commit than issued.
  s.store_digest = stores[3];
  BOOST_TEST(suite.classify(s, ctx).detail.find("commit 3") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(worst_finding_wins) {
  auto suite = checkers::CheckerSuite::standard();
  const auto d = digests();
  explore::PointContext ctx{0, 0, &d};
  auto s = good(0);
  s.digest = explore::Digest{77, 7};
  s.invariant_failures = {"ledger unbalanced"};
  BOOST_TEST(suite.classify(s, ctx).verdict == Verdict::kInvariantViolation);
  s.integrity_error = "record 3 malformed";
  auto j = suite.classify(s, ctx);
  BOOST_TEST(j.verdict == Verdict::kCorrupt);
  BOOST_TEST(j.detail == "record 3 malformed");
  explore::AppState dead;
  dead.open_error = "no superblock";
  BOOST_TEST(suite.classify(dead, ctx).verdict == Verdict::kUnrecoverable);
}

BOOST_AUTO_TEST_SUITE_END()
