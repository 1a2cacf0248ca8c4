#define BOOST_TEST_MODULE prng
#include <boost/test/unit_test.hpp>

#include <set>

#include "sim/prng.h"

using snapsim::sim::Prng;

BOOST_AUTO_TEST_SUITE(PrngTest)

BOOST_AUTO_TEST_CASE(same_seed_same_stream) {
  Prng a(42), b(42);
  for (int i = 0; i < 1000; ++i) BOOST_REQUIRE_EQUAL(a.next_u64(), b.next_u64());
}

BOOST_AUTO_TEST_CASE(forks_are_independent_of_draws_elsewhere) {
  Prng root(7);
  Prng w1 = root.fork("writeback");
  Prng s = root.fork("schedule");
  for (int i = 0; i < 10; ++i) (void)s.next_u64();  // drawing from one stream...
  Prng w2 = root.fork("writeback");                  // ...does not shift another
  for (int i = 0; i < 100; ++i) BOOST_REQUIRE_EQUAL(w1.next_u64(), w2.next_u64());
  BOOST_TEST(root.fork("a").next_u64() != root.fork("b").next_u64());
  BOOST_TEST(root.fork("a", 1).next_u64() != root.fork("a", 2).next_u64());
}

BOOST_AUTO_TEST_CASE(uniform_stays_in_range_and_covers_it) {
  Prng p(3);
  std::set<uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t v = p.uniform(7);
    BOOST_REQUIRE(v < 7);
    seen.insert(v);
  }
  BOOST_TEST(seen.size() == 7u);
  for (int i = 0; i < 1000; ++i) {
    const int64_t r = p.range(-3, 3);
    BOOST_REQUIRE(r >= -3 && r <= 3);
  }
}

BOOST_AUTO_TEST_SUITE_END()
