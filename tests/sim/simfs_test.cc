#define BOOST_TEST_MODULE simfs
#include <boost/test/unit_test.hpp>
#include <rapidcheck.h>
#include <rapidcheck/boost_test.h>

#include "tests/sim/test_machine.h"

using namespace snapsim;
using namespace snapsim::testing;
using sim::Writeback;

namespace {

std::vector<cow::SnapshotId> snap(TestMachine& t) {
  return {t.pool->snapshot(t.machine->disk().volume()).value()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(SimFsTest)

BOOST_AUTO_TEST_CASE(write_read_truncate_rename_unlink) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("a", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("hello world")).is_ok());
  BOOST_TEST(read_file(fs, "a") == "hello world");
  BOOST_REQUIRE(fs.write(f, 5000, bytes("X")).is_ok());  // gap reads as zeros
  std::string all = read_file(fs, "a");
  BOOST_TEST(all.size() == 5001u);
  BOOST_TEST(all.substr(11, 4989) == std::string(4989, '\0'));
  BOOST_REQUIRE(fs.truncate(f, 5).is_ok());
  BOOST_TEST(read_file(fs, "a") == "hello");
  BOOST_REQUIRE(fs.truncate(f, 8).is_ok());
  BOOST_TEST(read_file(fs, "a") == std::string("hello\0\0\0", 8));
  BOOST_REQUIRE(fs.rename("a", "b").is_ok());
  BOOST_TEST(!fs.exists("a"));
  BOOST_TEST(read_file(fs, "b").substr(0, 5) == "hello");
  auto c = fs.open("c", true).value();
  BOOST_REQUIRE(fs.write(c, 0, bytes("cc")).is_ok());
  BOOST_REQUIRE(fs.rename("c", "b").is_ok());  // replaces b
  BOOST_TEST(read_file(fs, "b") == "cc");
  BOOST_TEST(fs.list() == std::vector<std::string>{"b"});
  BOOST_REQUIRE(fs.unlink("b").is_ok());
  BOOST_TEST(fs.list().empty());
  BOOST_TEST(fs.write(c, 0, bytes("x")).code() == cow::Code::kNotFound);  // stale handle
}

BOOST_AUTO_TEST_CASE(errors_are_values) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  BOOST_TEST(fs.open("missing", false).status().code() == cow::Code::kNotFound);
  BOOST_TEST(fs.open(std::string(48, 'n'), true).status().code() == cow::Code::kInvalidArgument);
  BOOST_TEST(fs.open("a/b", true).status().code() == cow::Code::kInvalidArgument);
  BOOST_TEST(fs.unlink("missing").code() == cow::Code::kNotFound);
  BOOST_TEST(fs.rename("missing", "x").code() == cow::Code::kNotFound);
  auto f = fs.open("big", true).value();
  BOOST_TEST(fs.write(f, fs.max_file_size(), bytes("x")).code() == cow::Code::kFsFull);
  for (int i = 1; i < 8; ++i) BOOST_REQUIRE(fs.open("f" + std::to_string(i), true).is_ok());
  BOOST_TEST(fs.open("one-too-many", true).status().code() == cow::Code::kFsFull);
}

BOOST_AUTO_TEST_CASE(fsync_persists_data_and_size_but_not_the_new_name) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("new", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("durable")).is_ok());
  BOOST_REQUIRE(fs.fsync(f).is_ok());
  {
    auto r = restore(*t.pool, t.machine->config(), snap(t));
    BOOST_TEST(!r->fs().exists("new"));  // the directory entry was never synced
  }
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(read_file(r->fs(), "new") == "durable");
}

BOOST_AUTO_TEST_CASE(lazy_writeback_loses_unsynced_writes) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("a", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("v1")).is_ok());
  BOOST_REQUIRE(fs.fsync(f).is_ok());
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  BOOST_REQUIRE(fs.write(f, 0, bytes("v2 longer")).is_ok());
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(read_file(r->fs(), "a") == "v1");
}

BOOST_AUTO_TEST_CASE(unlink_without_dir_sync_comes_back) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("journal", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("hot")).is_ok());
  BOOST_REQUIRE(fs.fsync(f).is_ok());
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  BOOST_REQUIRE(fs.unlink("journal").is_ok());
  {
    auto r = restore(*t.pool, t.machine->config(), snap(t));
    BOOST_TEST(read_file(r->fs(), "journal") == "hot");
  }
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(!r->fs().exists("journal"));
}

BOOST_AUTO_TEST_CASE(eager_writeback_needs_no_sync) {
  auto t = make_machine(Writeback::kEager);
  auto& fs = t.machine->fs();
  auto f = fs.open("a", true).value();
  BOOST_REQUIRE(fs.write(f, 0, bytes("through")).is_ok());
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(read_file(r->fs(), "a") == "through");
}

BOOST_AUTO_TEST_CASE(data_writeback_mode_lets_size_go_before_data) {
  // data=writeback: the inode (size) reaches the disk, the data page does
  // not: the file reads back as zeros of the new length.
  auto t = make_machine(Writeback::kLazy, 1, 4096, /*ordered=*/false);
  auto& fs = t.machine->fs();
  auto f = fs.open("a", true).value();
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  BOOST_REQUIRE(fs.write(f, 0, bytes("data")).is_ok());
  auto& cache = t.machine->cache();
  std::vector<uint64_t> meta;
  for (const auto& [block, data] : cache.dirty_pages()) meta.push_back(block);
  BOOST_REQUIRE_EQUAL(meta.size(), 2u);  // data page and inode page
  BOOST_REQUIRE(cache.write_back(meta[0]).is_ok());  // the inode block has the lower number
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(read_file(r->fs(), "a") == std::string(4, '\0'));
}

BOOST_AUTO_TEST_CASE(data_ordered_mode_writes_data_before_the_inode) {
  auto t = make_machine(Writeback::kLazy);
  auto& fs = t.machine->fs();
  auto f = fs.open("a", true).value();
  BOOST_REQUIRE(fs.sync_dir().is_ok());
  BOOST_REQUIRE(fs.write(f, 0, bytes("data")).is_ok());
  auto& cache = t.machine->cache();
  const uint64_t inode_block = cache.dirty_pages().front().first;
  BOOST_REQUIRE(cache.write_back(inode_block).is_ok());  // pulls the data page along
  BOOST_TEST(cache.dirty_count() == 0u);
  auto r = restore(*t.pool, t.machine->config(), snap(t));
  BOOST_TEST(read_file(r->fs(), "a") == "data");
}

BOOST_AUTO_TEST_CASE(mount_rejects_an_unformatted_disk) {
  auto pool = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 64}).value();
  auto v = pool.create_volume(1000, cow::WritePolicy::kRedirectOnWrite).value();
  auto m = sim::Machine::boot_restored(&pool, small_config(Writeback::kLazy), {v}, sim::Prng(1));
  BOOST_TEST(!m.is_ok());
  BOOST_TEST(m.status().message().find("superblock") != std::string::npos);
}

// content_hash (what the explorer's memos key on) is equal exactly when the
// hashed bytes are: whether they sit in dirty pages, clean cached pages or
// only on the disk of a restored machine, and whatever lies past the prefix.
RC_BOOST_PROP(content_hash_is_equal_iff_the_bytes_are, ()) {
  const size_t size_a = *rc::gen::inRange<size_t>(0, 3 * 4096 + 100);
  std::string a = *rc::gen::container<std::string>(size_a, rc::gen::arbitrary<char>());
  std::string b = a;
  if (*rc::gen::arbitrary<bool>() && !b.empty()) {
    b[*rc::gen::inRange<size_t>(0, b.size())] ^= static_cast<char>(*rc::gen::inRange(1, 256));
  }
  if (*rc::gen::arbitrary<bool>()) b += *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
  const uint64_t prefix = *rc::gen::element<uint64_t>(1, 4096, 5000, UINT64_MAX);
  // a: written, synced and read back on a restored machine (all on disk);
  // b: written on a live machine and left in dirty pages.
  auto ta = make_machine(Writeback::kLazy);
  auto fa = ta.machine->fs().open("f", true).value();
  RC_ASSERT(ta.machine->fs().write(fa, 0, bytes(a)).is_ok());
  RC_ASSERT(ta.machine->fs().fsync(fa).is_ok());
  RC_ASSERT(ta.machine->fs().sync_dir().is_ok());
  auto restored = restore(*ta.pool, ta.machine->config(), snap(ta));
  auto ra = restored->fs().lookup("f").value();
  auto tb = make_machine(Writeback::kLazy, 7);
  auto fb = tb.machine->fs().open("f", true).value();
  RC_ASSERT(tb.machine->fs().write(fb, 0, bytes(b)).is_ok());
  const auto ha = restored->fs().content_hash(ra, prefix).value();
  const auto hb = tb.machine->fs().content_hash(fb, prefix).value();
  const auto n = [&](const std::string& s) { return std::min<uint64_t>(s.size(), prefix); };
  const bool same = n(a) == n(b) && a.compare(0, n(a), b, 0, n(b)) == 0;
  RC_ASSERT((ha == hb) == same);
  // Reading the file (which caches its pages) does not change its hash.
  RC_ASSERT(read_file(restored->fs(), "f") == a);
  RC_ASSERT(restored->fs().content_hash(ra, prefix).value() == ha);
}

BOOST_AUTO_TEST_SUITE_END()
