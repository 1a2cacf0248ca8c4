#define BOOST_TEST_MODULE params
#include <boost/test/unit_test.hpp>

#include "workloads/registry.h"

using namespace snapsim::workloads;

BOOST_AUTO_TEST_SUITE(ParamsTest)

BOOST_AUTO_TEST_CASE(defaults_and_overrides) {
  auto w = make_workload("invoice-flatfile", {"clients=3"}).value();
  BOOST_TEST(w->params().integer("clients") == 3);
  BOOST_TEST(w->params().integer("invoices") == 3);
}

BOOST_AUTO_TEST_CASE(bad_input_names_the_problem) {
  auto unknown = make_workload("nope", {});
  BOOST_TEST(unknown.status().message().find("unknown workload 'nope'") != std::string::npos);
  auto key = make_workload("invoice-flatfile", {"colour=red"});
  BOOST_TEST(key.status().message().find("unknown parameter 'colour'") != std::string::npos);
  for (const char* bad : {"clients=0", "clients=17", "clients=two", "clients=", "clients=3x"}) {
    auto r = make_workload("invoice-flatfile", {bad});
    BOOST_TEST(!r.is_ok());
    BOOST_TEST(r.status().message().find("'clients'") != std::string::npos);
  }
  BOOST_TEST(!make_workload("invoice-flatfile", {"noequals"}).is_ok());
}

BOOST_AUTO_TEST_SUITE_END()
