// The shrinker finds the smallest failing configuration of a monotone
// failure, whatever it started from, and leaves what it cannot shrink.
#define BOOST_TEST_MODULE shrinker
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "explore/shrinker.h"

using namespace snapsim;

BOOST_AUTO_TEST_SUITE(Shrinker)

RC_BOOST_PROP(finds_the_smallest_failing_sizes, ()) {
  const int a = *rc::gen::inRange(1, 9), b = *rc::gen::inRange(1, 9);
  const int ca = *rc::gen::inRange(a, 12), cb = *rc::gen::inRange(b, 12);
  int calls = 0;
  auto fails = [&](const explore::ParamMap& p) {
    ++calls;
    return std::stoi(p.at("clients")) >= a && std::stoi(p.at("invoices")) >= b;
  };
  const auto r = explore::shrink({{"clients", std::to_string(ca)}, {"invoices", std::to_string(cb)},
                                  {"journal_mode", "wal"}},
                                 {"clients", "invoices", "lines"}, fails);
  RC_ASSERT(r.fails);
  RC_ASSERT(r.params.at("clients") == std::to_string(a));
  RC_ASSERT(r.params.at("invoices") == std::to_string(b));
  RC_ASSERT(r.params.at("journal_mode") == "wal");
  RC_ASSERT(calls <= ca + cb);
}

BOOST_AUTO_TEST_CASE(a_configuration_that_never_fails_is_reported_so) {
  const auto r = explore::shrink({{"clients", "3"}}, {"clients"}, [](const explore::ParamMap&) { return false; });
  BOOST_TEST(!r.fails);
  BOOST_TEST(r.params.at("clients") == "3");
}

BOOST_AUTO_TEST_SUITE_END()
