#define BOOST_TEST_MODULE pool
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <vector>

#include "cow/pool.h"

using namespace snapsim::cow;

namespace {

std::vector<std::byte> filled(size_t n, uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

uint8_t first_byte(Pool& p, VolumeId v, uint64_t lba) {
  std::vector<std::byte> out(p.block_size());
  BOOST_REQUIRE(p.read_blocks(v, lba, out).is_ok());
  return static_cast<uint8_t>(out[0]);
}
uint8_t first_byte(Pool& p, SnapshotId s, uint64_t lba) {
  std::vector<std::byte> out(p.block_size());
  BOOST_REQUIRE(p.read_blocks(s, lba, out).is_ok());
  return static_cast<uint8_t>(out[0]);
}

Pool make_pool(uint64_t capacity = 1024, uint32_t bs = 4096) {
  return Pool::create(PoolOptions{.block_size = bs, .capacity_blocks = capacity}).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(PoolTest)

BOOST_AUTO_TEST_CASE(create_rejects_bad_block_size_and_capacity) {
  for (uint32_t bs : {0u, 256u, 1000u, 2097152u}) {
    auto r = Pool::create(PoolOptions{.block_size = bs, .capacity_blocks = 8});
    BOOST_TEST(r.status().code() == Code::kInvalidArgument);
  }
  BOOST_TEST(Pool::create(PoolOptions{.block_size = 4096, .capacity_blocks = 0}).status().code() ==
             Code::kInvalidArgument);
  BOOST_TEST(Pool::create(PoolOptions{.block_size = 512, .capacity_blocks = 8}).is_ok());
  BOOST_TEST(Pool::create(PoolOptions{.block_size = 65536, .capacity_blocks = 8}).is_ok());
}

BOOST_AUTO_TEST_CASE(unwritten_blocks_read_as_zeros) {
  Pool p = make_pool();
  auto v = p.create_volume(100, WritePolicy::kRedirectOnWrite).value();
  BOOST_TEST(first_byte(p, v, 99) == 0);
  BOOST_TEST(p.store().used_blocks() == 0u);
}

BOOST_AUTO_TEST_CASE(block_hash_is_the_hash_of_what_a_read_returns) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 2, filled(4096, 7)).is_ok());
  std::vector<std::byte> buf(4096);
  for (uint64_t lba : {0u, 2u}) {  // a hole and a written block
    BOOST_REQUIRE(p.read_blocks(v, lba, buf).is_ok());
    BOOST_TEST(p.block_hash(v, lba).value() == hash_bytes(buf));
  }
  BOOST_TEST(!(p.block_hash(v, 0).value() == p.block_hash(v, 2).value()));
  BOOST_TEST(p.block_hash(v, 8).status().code() == Code::kOutOfRange);
  BOOST_REQUIRE(p.delete_volume(v).is_ok());
  BOOST_TEST(!p.block_hash(v, 0).is_ok());
}

BOOST_AUTO_TEST_CASE(share_block_maps_without_copying) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 1, filled(4096, 5)).is_ok());
  auto s = p.snapshot(v).value();
  auto c = p.clone(s).value();
  BOOST_REQUIRE(p.write_blocks(c, 1, filled(4096, 9)).is_ok());
  const auto used = p.usage(c).value();
  BOOST_REQUIRE(p.share_block(s, c, 1).is_ok());  // back to the snapshot's block
  BOOST_TEST(p.usage(c).value().mapped_blocks == used.mapped_blocks);
  BOOST_TEST(p.usage(c).value().exclusive_blocks == 0u);
  BOOST_TEST(p.counters().physical_writes == 2u);
  std::vector<std::byte> buf(4096);
  BOOST_REQUIRE(p.read_blocks(c, 1, buf).is_ok());
  BOOST_TEST((buf == filled(4096, 5)));
  auto s2 = p.snapshot(c).value();
  auto c2 = p.clone(s).value();
  BOOST_REQUIRE(p.write_blocks(c2, 2, filled(4096, 3)).is_ok());
  BOOST_REQUIRE(p.share_block(s, c2, 2).is_ok());  // a hole unmaps
  BOOST_REQUIRE(p.read_blocks(c2, 2, buf).is_ok());
  BOOST_TEST((buf == filled(4096, 0)));
  BOOST_TEST(p.content_hash(c2).value() == p.content_hash(s).value());
  (void)s2;
  BOOST_TEST(p.content_hash(c).value() == p.recompute_content_hash(c).value());
  BOOST_TEST(p.verify_refcounts().is_ok());
  auto co = p.create_volume(8, WritePolicy::kCopyOut).value();
  BOOST_TEST(p.share_block(s, co, 1).code() == Code::kInvalidArgument);
  BOOST_TEST(p.share_block(s, c, 8).code() == Code::kOutOfRange);
}

BOOST_AUTO_TEST_CASE(read_after_snapshot_sees_frozen_data) {
  for (auto policy : {WritePolicy::kRedirectOnWrite, WritePolicy::kCopyOut}) {
    Pool p = make_pool();
    auto v = p.create_volume(10, policy).value();
    BOOST_REQUIRE(p.write_blocks(v, 3, filled(4096, 1)).is_ok());
    auto s = p.snapshot(v).value();
    BOOST_REQUIRE(p.write_blocks(v, 3, filled(4096, 2)).is_ok());
    BOOST_TEST(first_byte(p, v, 3) == 2);
    BOOST_TEST(first_byte(p, s, 3) == 1);
    BOOST_TEST(p.verify_refcounts().is_ok());
  }
}

BOOST_AUTO_TEST_CASE(snapshot_creation_allocates_nothing) {
  Pool p = make_pool(4096);
  auto v = p.create_volume(4096, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 1000, 7)).is_ok());
  const auto nodes = p.live_nodes();
  const auto used = p.store().used_blocks();
  auto s = p.snapshot(v);
  BOOST_REQUIRE(s.is_ok());
  BOOST_TEST(p.live_nodes() == nodes);
  BOOST_TEST(p.store().used_blocks() == used);
}

BOOST_AUTO_TEST_CASE(partial_write_is_read_modify_write) {
  Pool p = make_pool(64, 512);
  auto v = p.create_volume(4, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 0, filled(2048, 0xAA)).is_ok());
  const auto before = p.counters();
  std::vector<std::byte> small = filled(100, 0x55);
  BOOST_REQUIRE(p.write_bytes(v, 500, small).is_ok());  // spans blocks 0 and 1
  const auto d = p.counters() - before;
  BOOST_TEST(d.physical_reads == 2u);
  BOOST_TEST(d.physical_writes == 2u);
  std::vector<std::byte> out(2048);
  BOOST_REQUIRE(p.read_bytes(v, 0, out).is_ok());
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t want = (i >= 500 && i < 600) ? 0x55 : 0xAA;
    BOOST_REQUIRE_EQUAL(static_cast<int>(out[i]), want);
  }
}

BOOST_AUTO_TEST_CASE(clone_is_writable_and_independent) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 1)).is_ok());
  auto s = p.snapshot(v).value();
  auto c = p.clone(s).value();
  BOOST_REQUIRE(p.write_blocks(c, 0, filled(4096, 9)).is_ok());
  BOOST_TEST(first_byte(p, c, 0) == 9);
  BOOST_TEST(first_byte(p, v, 0) == 1);
  BOOST_TEST(first_byte(p, s, 0) == 1);
  BOOST_TEST(p.verify_refcounts().is_ok());
}

BOOST_AUTO_TEST_CASE(copy_out_clone_write_keeps_snapshot_and_origin) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kCopyOut).value();
  BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 1)).is_ok());
  auto s = p.snapshot(v).value();
  auto c = p.clone(s).value();
  BOOST_TEST(p.policy(c).value() == WritePolicy::kCopyOut);
  BOOST_REQUIRE(p.write_blocks(c, 0, filled(4096, 9)).is_ok());
  BOOST_TEST(first_byte(p, c, 0) == 9);
  BOOST_TEST(first_byte(p, v, 0) == 1);
  BOOST_TEST(first_byte(p, s, 0) == 1);
  BOOST_TEST(p.verify_refcounts().is_ok());
}

BOOST_AUTO_TEST_CASE(rollback_restores_snapshot_contents) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 2, filled(4096, 1)).is_ok());
  auto s = p.snapshot(v).value();
  BOOST_REQUIRE(p.write_blocks(v, 2, filled(4096, 2)).is_ok());
  BOOST_REQUIRE(p.write_blocks(v, 5, filled(4096, 3)).is_ok());
  BOOST_REQUIRE(p.rollback(v, s).is_ok());
  BOOST_TEST(first_byte(p, v, 2) == 1);
  BOOST_TEST(first_byte(p, v, 5) == 0);
  BOOST_TEST(p.content_hash(v).value() == p.content_hash(s).value());
  BOOST_TEST(p.verify_refcounts().is_ok());
  BOOST_TEST(p.store().used_blocks() == 1u);  // the overwritten blocks were freed
}

BOOST_AUTO_TEST_CASE(rollback_rejects_size_mismatch) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  auto w = p.create_volume(9, WritePolicy::kRedirectOnWrite).value();
  auto s = p.snapshot(w).value();
  BOOST_TEST(p.rollback(v, s).code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(delete_snapshot_frees_exactly_its_exclusive_blocks) {
  for (auto policy : {WritePolicy::kRedirectOnWrite, WritePolicy::kCopyOut}) {
    Pool p = make_pool();
    auto v = p.create_volume(16, policy).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 8, 1)).is_ok());
    auto s1 = p.snapshot(v).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 3, 2)).is_ok());
    auto s2 = p.snapshot(v).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 1, 3)).is_ok());
    const auto u1 = p.usage(s1).value();
    BOOST_TEST(u1.mapped_blocks == 8u);
    BOOST_TEST(u1.exclusive_blocks == 3u);
    const auto used = p.store().used_blocks();
    BOOST_REQUIRE(p.delete_snapshot(s1).is_ok());
    BOOST_TEST(p.store().used_blocks() == used - u1.exclusive_blocks);
    BOOST_TEST(first_byte(p, s2, 0) == 2);
    BOOST_TEST(p.verify_refcounts().is_ok());
  }
}

BOOST_AUTO_TEST_CASE(snapshot_exclusive_space_grows_toward_source_size) {
  Pool p = make_pool();
  auto v = p.create_volume(32, WritePolicy::kRedirectOnWrite).value();
  BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 32, 1)).is_ok());
  auto s = p.snapshot(v).value();
  uint64_t last = 0;
  for (uint64_t lba = 0; lba < 32; ++lba) {
    BOOST_REQUIRE(p.write_blocks(v, lba, filled(4096, 2)).is_ok());
    const auto u = p.usage(s).value();
    BOOST_TEST(u.exclusive_blocks == last + 1);
    last = u.exclusive_blocks;
  }
  BOOST_TEST(last == 32u);
}

BOOST_AUTO_TEST_CASE(out_of_space_write_changes_nothing) {
  for (auto policy : {WritePolicy::kRedirectOnWrite, WritePolicy::kCopyOut}) {
    Pool p = make_pool(4);
    auto v = p.create_volume(8, policy).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096 * 3, 1)).is_ok());
    auto s = p.snapshot(v).value();
    const auto hash = p.content_hash(v).value();
    const auto used = p.store().used_blocks();
    // Three shared blocks to overwrite, one free block: must fail whole.
    auto st = p.write_blocks(v, 0, filled(4096 * 3, 2));
    BOOST_TEST(st.code() == Code::kOutOfSpace);
    BOOST_TEST(st.message().find("pool") != std::string::npos);
    BOOST_TEST(p.store().used_blocks() == used);
    BOOST_TEST(p.content_hash(v).value() == hash);
    BOOST_TEST(first_byte(p, v, 0) == 1);
    BOOST_TEST(first_byte(p, s, 2) == 1);
    BOOST_TEST(p.verify_refcounts().is_ok());
    auto partial = p.write_bytes(v, 10, filled(4096 * 2, 3));
    BOOST_TEST(partial.code() == Code::kOutOfSpace);
    BOOST_TEST(first_byte(p, v, 1) == 1);
    BOOST_TEST(p.verify_refcounts().is_ok());
  }
}

BOOST_AUTO_TEST_CASE(bad_addresses_and_ids_are_errors) {
  Pool p = make_pool();
  auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  std::vector<std::byte> out(4096);
  BOOST_TEST(p.write_blocks(v, 8, filled(4096, 1)).code() == Code::kOutOfRange);
  BOOST_TEST(p.write_blocks(v, 7, filled(8192, 1)).code() == Code::kOutOfRange);
  BOOST_TEST(p.write_blocks(v, 0, filled(100, 1)).code() == Code::kMisaligned);
  BOOST_TEST(p.write_blocks(v, 0, {}).code() == Code::kMisaligned);
  BOOST_TEST(p.read_blocks(v, 8, out).code() == Code::kOutOfRange);
  BOOST_TEST(p.write_bytes(v, 8 * 4096 - 1, filled(2, 1)).code() == Code::kOutOfRange);
  std::vector<std::byte> one(1);
  BOOST_TEST(p.read_bytes(v, 8 * 4096, one).code() == Code::kOutOfRange);
  BOOST_TEST(p.write_blocks(VolumeId{42}, 0, filled(4096, 1)).code() == Code::kNotFound);
  BOOST_TEST(p.snapshot(VolumeId{42}).status().code() == Code::kNotFound);
  BOOST_TEST(p.create_volume(0, WritePolicy::kCopyOut).status().code() == Code::kInvalidArgument);
  auto s = p.snapshot(v).value();
  // A snapshot id is not a volume id, and the reverse.
  BOOST_TEST(p.write_blocks(VolumeId{s.value}, 0, filled(4096, 1)).code() == Code::kNotFound);
  BOOST_TEST(p.clone(SnapshotId{v.value}).status().code() == Code::kNotFound);
  BOOST_REQUIRE(p.delete_snapshot(s).is_ok());
  BOOST_TEST(p.delete_snapshot(s).code() == Code::kNotFound);
  BOOST_TEST(p.clone(s).status().code() == Code::kNotFound);
  BOOST_TEST(p.clone(s).status().message().find("deleted") != std::string::npos);
  BOOST_TEST(p.read_blocks(s, 0, out).code() == Code::kNotFound);
  BOOST_TEST(p.rollback(v, s).code() == Code::kNotFound);
  BOOST_REQUIRE(p.delete_volume(v).is_ok());
  BOOST_TEST(p.write_blocks(v, 0, filled(4096, 1)).code() == Code::kNotFound);
  BOOST_TEST(parse_policy("dm-thin").status().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(copy_out_first_write_costs_three_ios_per_sharing_snapshot) {
  for (int n : {1, 2, 5}) {
    Pool p = make_pool();
    auto v = p.create_volume(8, WritePolicy::kCopyOut).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 1)).is_ok());
    for (int i = 0; i < n; ++i) BOOST_REQUIRE(p.snapshot(v).is_ok());
    auto before = p.counters();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 2)).is_ok());
    auto d = p.counters() - before;
    // read old + write copy per sharing snapshot, then the new data in place.
    BOOST_TEST(d.physical_reads == static_cast<uint64_t>(n));
    BOOST_TEST(d.physical_writes == static_cast<uint64_t>(n + 1));
    BOOST_TEST(d.bytes_copied == static_cast<uint64_t>(n) * 4096);
    // A rewrite of the now unshared block is one write.
    before = p.counters();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 3)).is_ok());
    d = p.counters() - before;
    BOOST_TEST(d.physical_reads == 0u);
    BOOST_TEST(d.physical_writes == 1u);
    BOOST_TEST(p.verify_refcounts().is_ok());
  }
}

BOOST_AUTO_TEST_CASE(redirect_on_write_first_write_is_one_io_whatever_the_snapshots) {
  for (int n : {1, 2, 5}) {
    Pool p = make_pool();
    auto v = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 1)).is_ok());
    for (int i = 0; i < n; ++i) BOOST_REQUIRE(p.snapshot(v).is_ok());
    auto before = p.counters();
    BOOST_REQUIRE(p.write_blocks(v, 0, filled(4096, 2)).is_ok());
    auto d = p.counters() - before;
    BOOST_TEST(d.physical_reads == 0u);
    BOOST_TEST(d.physical_writes == 1u);
    BOOST_TEST(d.bytes_copied == 0u);
  }
}

BOOST_AUTO_TEST_CASE(content_hash_ignores_how_zeros_got_there) {
  Pool p = make_pool();
  auto a = p.create_volume(8, WritePolicy::kRedirectOnWrite).value();
  auto b = p.create_volume(8, WritePolicy::kCopyOut).value();
  BOOST_REQUIRE(p.write_blocks(a, 3, filled(4096, 0)).is_ok());  // explicit zeros
  BOOST_TEST(p.content_hash(a).value() == p.content_hash(b).value());
  BOOST_REQUIRE(p.write_blocks(a, 3, filled(4096, 5)).is_ok());
  BOOST_TEST(!(p.content_hash(a).value() == p.content_hash(b).value()));
  BOOST_REQUIRE(p.write_blocks(b, 3, filled(4096, 5)).is_ok());
  BOOST_TEST(p.content_hash(a).value() == p.content_hash(b).value());
  // Same bytes at a different address is a different image.
  BOOST_REQUIRE(p.write_blocks(b, 3, filled(4096, 0)).is_ok());
  BOOST_REQUIRE(p.write_blocks(b, 4, filled(4096, 5)).is_ok());
  BOOST_TEST(!(p.content_hash(a).value() == p.content_hash(b).value()));
  BOOST_TEST(p.content_hash(b).value() == p.recompute_content_hash(b).value());
}

BOOST_AUTO_TEST_CASE(read_cost_does_not_depend_on_snapshot_count) {
  Pool p = make_pool(100000);
  auto v = p.create_volume(4096, WritePolicy::kRedirectOnWrite).value();
  for (int i = 0; i < 100; ++i) {
    BOOST_REQUIRE(p.write_blocks(v, static_cast<uint64_t>(i) * 37 % 4096, filled(4096, i)).is_ok());
    BOOST_REQUIRE(p.snapshot(v).is_ok());
  }
  std::vector<std::byte> out(4096);
  const auto before = p.counters();
  BOOST_REQUIRE(p.read_blocks(v, 37, out).is_ok());
  const auto d = p.counters() - before;
  BOOST_TEST(d.physical_reads == 1u);
  BOOST_TEST(d.metadata_updates == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
