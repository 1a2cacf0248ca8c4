#define BOOST_TEST_MODULE scheduler
#include <boost/test/unit_test.hpp>

#include <set>

#include "sim/scheduler.h"

using namespace snapsim::sim;

namespace {

// A client of `steps` steps that logs its id into a shared string.
class Recorder : public Client {
 public:
  Recorder(char id, int steps, std::string* log) : id_(id), left_(steps), log_(log) {}
  snapsim::cow::Result<StepResult> step() override {
    log_->push_back(id_);
    --left_;
    return StepResult::kProgress;
  }
  bool done() const override { return left_ == 0; }

 private:
  char id_;
  int left_;
  std::string* log_;
};

std::set<std::string> all_interleavings(int a, int b) {
  std::set<std::string> seen;
  std::vector<size_t> prefix;
  while (true) {
    std::string log;
    Recorder x('a', a, &log), y('b', b, &log);
    ScriptedChoices choices(prefix);
    BOOST_REQUIRE(run_schedule({&x, &y}, choices, nullptr, {}).is_ok());
    BOOST_REQUIRE(seen.insert(log).second);  // never the same interleaving twice
    if (!choices.next_prefix(&prefix)) break;
  }
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(SchedulerTest)

BOOST_AUTO_TEST_CASE(enumeration_visits_every_interleaving_once) {
  BOOST_TEST(all_interleavings(2, 2).size() == 6u);   // C(4,2)
  BOOST_TEST(all_interleavings(3, 2).size() == 10u);  // C(5,2)
  BOOST_TEST(all_interleavings(4, 4).size() == 70u);  // C(8,4)
}

BOOST_AUTO_TEST_CASE(random_schedules_depend_on_the_seed) {
  std::set<std::string> logs;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::string log;
    Recorder x('a', 5, &log), y('b', 5, &log);
    RandomChoices choices{Prng(seed)};
    BOOST_REQUIRE(run_schedule({&x, &y}, choices, nullptr, {}).is_ok());
    logs.insert(log);
    std::string again;
    Recorder x2('a', 5, &again), y2('b', 5, &again);
    RandomChoices same{Prng(seed)};
    BOOST_REQUIRE(run_schedule({&x2, &y2}, same, nullptr, {}).is_ok());
    BOOST_TEST(log == again);
  }
  BOOST_TEST(logs.size() > 10u);
}

BOOST_AUTO_TEST_CASE(all_blocked_is_a_deadlock_error) {
  class Stuck : public Client {
   public:
    snapsim::cow::Result<StepResult> step() override { return StepResult::kBlocked; }
    bool done() const override { return false; }
  } a, b;
  RandomChoices choices(Prng(1));
  auto st = run_schedule({&a, &b}, choices, nullptr, {});
  BOOST_TEST(!st.is_ok());
  BOOST_TEST(st.message().find("deadlock") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(step_limit_stops_a_runaway_client) {
  class Forever : public Client {
   public:
    snapsim::cow::Result<StepResult> step() override { return StepResult::kProgress; }
    bool done() const override { return false; }
  } a;
  RandomChoices choices(Prng(1));
  auto st = run_schedule({&a}, choices, nullptr, ScheduleLimits{.max_steps = 100});
  BOOST_TEST(st.message().find("100 steps") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
