// The inspection workers' wire format carries every AppState field, and a
// malformed message is an error, never a default state.
#define BOOST_TEST_MODULE inspector
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "explore/inspector.h"

using namespace snapsim;

BOOST_AUTO_TEST_SUITE(Inspector)

RC_BOOST_PROP(wire_format_round_trips_every_field, ()) {
  std::vector<explore::AppState> states(*rc::gen::inRange<size_t>(0, 5));
  for (auto& s : states) {
    s.opened = *rc::gen::arbitrary<bool>();
    s.open_error = *rc::gen::arbitrary<std::string>();
    s.recovered = *rc::gen::arbitrary<bool>();
    s.recovery_detail = *rc::gen::arbitrary<std::string>();
    s.integrity_error = *rc::gen::arbitrary<std::string>();
    s.invariant_failures = *rc::gen::arbitrary<std::vector<std::string>>();
    s.digest = {*rc::gen::arbitrary<uint64_t>(), *rc::gen::arbitrary<uint64_t>()};
    s.store_digest = {*rc::gen::arbitrary<uint64_t>(), *rc::gen::arbitrary<uint64_t>()};
    s.summary = *rc::gen::arbitrary<std::string>();
  }
  auto back = explore::decode_states(explore::encode_states(states));
  RC_ASSERT(back.is_ok());
  RC_ASSERT(*back == states);
}

BOOST_AUTO_TEST_CASE(a_truncated_or_foreign_message_is_an_error) {
  explore::AppState s;
  s.opened = true;
  s.summary = "3 invoices";
  auto bytes = explore::encode_states({s, s});
  auto cut = bytes;
  cut.resize(bytes.size() / 2);
  BOOST_TEST(!explore::decode_states(cut).is_ok());
  BOOST_TEST(!explore::decode_states({0x93, 0x01, 0x02, 0x03}).is_ok());  // [1, 2, 3]
  BOOST_TEST(explore::decode_states(bytes).is_ok());
}

BOOST_AUTO_TEST_SUITE_END()
