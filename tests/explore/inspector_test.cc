// The inspection workers' wire format carries every AppState field, and a
// malformed message is an error, never a default state. An exported image
// (export_tree, what a process check reads) holds exactly the guest's bytes,
// zero blocks left as holes included. The flat ImageMap behaves as a map.
#define BOOST_TEST_MODULE inspector
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <sstream>

#include "explore/inspector.h"
#include "sim/machine.h"

using namespace snapsim;

BOOST_AUTO_TEST_SUITE(Inspector)

// ImageMap against std::map: keys drawn from a small pool (so they repeat
// and probe chains collide) and the empty-mark key {0, 0} among them.
RC_BOOST_PROP(image_map_is_a_map, ()) {
  auto pool = *rc::gen::container<std::vector<explore::ImageKey>>(
      *rc::gen::inRange<size_t>(1, 300),
      rc::gen::construct<explore::ImageKey>(rc::gen::element<uint64_t>(0, 1, 2, 0x8000000000000000ull, 77),
                                             rc::gen::arbitrary<uint64_t>()));
  pool.push_back({0, 0});
  const auto ops = *rc::gen::container<std::vector<std::tuple<int, size_t, uint32_t>>>(
      rc::gen::tuple(rc::gen::inRange(0, 3), rc::gen::inRange<size_t>(0, pool.size()),
                     rc::gen::arbitrary<uint32_t>()));
  explore::ImageMap<uint32_t> map;
  explore::ImageSet set;
  std::map<explore::ImageKey, uint32_t> model;
  std::set<explore::ImageKey> set_model;
  for (const auto& [op, i, v] : ops) {
    const explore::ImageKey k = pool[i];
    if (op == 0) {
      RC_ASSERT(map.insert(k, v) == model.emplace(k, v).second);
    } else if (op == 1) {
      map[k] = v;
      model[k] = v;
    } else {
      const uint32_t* got = map.find(k);
      auto it = model.find(k);
      RC_ASSERT((got != nullptr) == (it != model.end()));
      if (got) RC_ASSERT(*got == it->second);
    }
    if (op == 0) RC_ASSERT(set.insert(k) == set_model.insert(k).second);
    RC_ASSERT(map.size() == model.size());
    RC_ASSERT(set.size() == set_model.size());
  }
  for (const auto& [k, v] : model) RC_ASSERT(map.find(k) && *map.find(k) == v);
  for (const auto& k : pool) {
    RC_ASSERT(map.contains(k) == (model.count(k) == 1));
    RC_ASSERT(set.contains(k) == (set_model.count(k) == 1));
  }
}

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
  // What the worker's memos learned travels too, each entry with its key.
  explore::Learned learned;
  for (size_t i = 0; i < states.size(); ++i) {
    const uint64_t a = *rc::gen::arbitrary<uint64_t>(), b = *rc::gen::arbitrary<uint64_t>();
    if (*rc::gen::arbitrary<bool>()) learned.visible.emplace_back(explore::ImageKey{a, b}, states[i]);
    if (*rc::gen::arbitrary<bool>()) learned.checks.emplace_back(explore::Digest{b, a}, states[i]);
  }
  auto back = explore::decode_reply(explore::encode_reply(states, learned));
  RC_ASSERT(back.is_ok());
  RC_ASSERT(back->first == states);
  RC_ASSERT(back->second.visible == learned.visible);
  RC_ASSERT(back->second.checks == learned.checks);
}

BOOST_AUTO_TEST_CASE(a_truncated_or_foreign_message_is_an_error) {
  explore::AppState s;
  s.opened = true;
  s.summary = "3 invoices";
  auto bytes = explore::encode_reply({s, s}, explore::Learned{});
  auto cut = bytes;
  cut.resize(bytes.size() / 2);
  BOOST_TEST(!explore::decode_reply(cut).is_ok());
  BOOST_TEST(!explore::decode_reply({0x93, 0x01, 0x02, 0x03}).is_ok());  // [1, 2, 3]
  BOOST_TEST(!explore::decode_reply({0x81, 0xa1, 0x78, 0x01}).is_ok());  // {"x": 1}
  BOOST_TEST(explore::decode_reply(bytes).is_ok());
}

RC_BOOST_PROP(an_export_holds_exactly_the_guest_bytes, ()) {
  auto pool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 1u << 15});
  RC_ASSERT(pool.is_ok());
  sim::MachineConfig c;
  c.fs.disk_bytes = 64u << 20;
  c.fs.inodes = 1024;
  auto m = sim::Machine::boot_fresh(&*pool, c, sim::Prng(3));
  RC_ASSERT(m.is_ok());
  sim::GuestFs& fs = (*m)->fs(0);
  RC_ASSERT(fs.mkdir("d").is_ok());
  // Files of whole and partial blocks, each block zeros, a pattern, or a
  // run with one non-zero byte at a random place; some extended by a hole.
  std::map<std::string, std::string> want;
  const size_t files = *rc::gen::inRange<size_t>(1, 6);
  for (size_t i = 0; i < files; ++i) {
    const std::string path = (i % 2 ? "d/f" : "f") + std::to_string(i);
    std::string bytes;
    const size_t blocks = *rc::gen::inRange<size_t>(0, 6);
    for (size_t b = 0; b < blocks; ++b) {
      std::string block(4096, '\0');
      switch (*rc::gen::inRange(0, 3)) {
        case 0: break;
        case 1:
          for (size_t k = 0; k < block.size(); ++k) block[k] = static_cast<char>('a' + (k + b) % 26);
          break;
        default: block[*rc::gen::inRange<size_t>(0, 4096)] = '\x01';
      }
      bytes += block;
    }
    bytes.resize(bytes.size() + *rc::gen::inRange<size_t>(0, 5000), *rc::gen::element('\0', 'z'));
    auto f = fs.open(path, true);
    RC_ASSERT(f.is_ok());
    RC_ASSERT(fs.write(*f, 0, std::as_bytes(std::span(bytes.data(), bytes.size()))).is_ok());
    if (*rc::gen::arbitrary<bool>()) {
      const uint64_t longer = bytes.size() + *rc::gen::inRange<uint64_t>(1, 3u << 20);
      RC_ASSERT(fs.truncate(*f, longer).is_ok());
      bytes.resize(longer, '\0');
    }
    want[path] = bytes;
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("snapsim-export-test-" + std::to_string(::getpid()) + "-" + std::to_string(files));
  std::filesystem::remove_all(dir);
  RC_ASSERT(explore::export_tree(fs, dir.string(), nullptr).is_ok());
  for (const auto& [path, bytes] : want) {
    std::ifstream in(dir / path, std::ios::binary);
    std::stringstream got;
    got << in.rdbuf();
    RC_ASSERT(got.str().size() == bytes.size());
    RC_ASSERT(got.str() == bytes);
  }
  size_t exported = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) exported += e.is_regular_file();
  std::filesystem::remove_all(dir);
  RC_ASSERT(exported == want.size());
}

BOOST_AUTO_TEST_SUITE_END()
