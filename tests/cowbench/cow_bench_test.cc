// The shapes cow-bench must show, each from the simulation (issue 7):
// copy-out cost linear in sharing snapshots, redirect-on-write flat; first
// write after a snapshot dearer than a rewrite, and gone once every block is
// unshared; read-modify-write growing with block size / write size; a
// snapshot's exclusive space growing with the distinct blocks overwritten
// and never beyond the source.
#define BOOST_TEST_MODULE cow_bench
#include <boost/test/unit_test.hpp>

#include "cowbench/cow_bench.h"

using namespace snapsim;
using cowbench::CowBenchConfig;

namespace {

cowbench::CowBenchResult bench(cow::WritePolicy policy, uint32_t snapshots, uint32_t block_size,
                          const std::string& pattern = "randwrite", uint32_t io = 4096,
                          uint64_t ios = 2000, uint64_t volume = 4 << 20) {
  auto ops = cowbench::make_pattern({pattern, io, ios, 0, volume}, 1).value();
  CowBenchConfig c{policy, block_size, snapshots, cow::find_device("ssd").value(), 0, 0};
  auto r = cowbench::run_cow_bench(c, ops, volume, {});
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return std::move(r).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CowBenchShapes)

BOOST_AUTO_TEST_CASE(copy_out_grows_linearly_with_snapshots_redirect_stays_flat) {
  std::vector<double> co, row;
  for (uint32_t n : {1u, 2u, 4u, 8u}) {
    co.push_back(bench(cow::WritePolicy::kCopyOut, n, 4096).first_write_us);
    row.push_back(bench(cow::WritePolicy::kRedirectOnWrite, n, 4096).first_write_us);
  }
  // Copy-out: each extra sharing snapshot adds the same cost (one read and
  // one write): the increments are equal per snapshot.
  const double per_snapshot = co[1] - co[0];
  BOOST_TEST(per_snapshot > 0);
  BOOST_TEST((co[2] - co[1]) / 2 == per_snapshot, boost::test_tools::tolerance(0.01));
  BOOST_TEST((co[3] - co[2]) / 4 == per_snapshot, boost::test_tools::tolerance(0.01));
  for (double v : row) BOOST_TEST(v == row[0], boost::test_tools::tolerance(0.01));
  const auto co8 = bench(cow::WritePolicy::kCopyOut, 8, 4096);
  const auto row8 = bench(cow::WritePolicy::kRedirectOnWrite, 8, 4096);
  BOOST_TEST(co8.reads_per_write > row8.reads_per_write);
  BOOST_TEST(row8.write_amplification == 1.0, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(first_write_costs_more_than_a_rewrite_until_all_blocks_are_unshared) {
  const auto r = bench(cow::WritePolicy::kCopyOut, 1, 4096, "randwrite", 4096, 3000, 1 << 20);
  BOOST_TEST(r.first_writes > 0u);
  BOOST_TEST(r.rewrites > 0u);
  BOOST_TEST(r.first_write_us > 1.5 * r.rewrite_us);
  // Writing every block twice in order: the second pass has no first writes.
  const auto once = bench(cow::WritePolicy::kCopyOut, 1, 4096, "seqwrite", 4096, 256, 1 << 20);
  const auto twice = bench(cow::WritePolicy::kCopyOut, 1, 4096, "seqwrite", 4096, 512, 1 << 20);
  BOOST_TEST(once.first_writes == 256u);
  BOOST_TEST(twice.first_writes == 256u);
  BOOST_TEST(twice.rewrites == 256u);
  const auto none = bench(cow::WritePolicy::kCopyOut, 0, 4096);
  BOOST_TEST(none.first_writes == 0u);
}

BOOST_AUTO_TEST_CASE(partial_writes_pay_read_modify_write_growing_with_block_size) {
  double last = 0;
  for (uint32_t bs : {4096u, 16384u, 65536u, 262144u}) {
    const auto r = bench(cow::WritePolicy::kRedirectOnWrite, 0, bs, "randwrite", 4096, 1000, 8 << 20);
    BOOST_TEST(r.write_amplification == static_cast<double>(bs) / 4096, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(r.reads_per_write == (bs > 4096 ? 1.0 : 0.0), boost::test_tools::tolerance(1e-9));
    BOOST_TEST(r.device_time_ms > last);
    last = r.device_time_ms;
  }
}

BOOST_AUTO_TEST_CASE(snapshot_space_grows_with_overwritten_blocks_and_stays_below_the_source) {
  for (auto policy : {cow::WritePolicy::kCopyOut, cow::WritePolicy::kRedirectOnWrite}) {
    const auto r = bench(policy, 1, 4096, "randwrite", 4096, 5000, 1 << 20);
    uint64_t prev = 0;
    for (const auto& [op, blocks] : r.space_timeline) {
      BOOST_TEST(blocks >= prev);
      BOOST_TEST(blocks <= r.volume_blocks);
      prev = blocks;
    }
    BOOST_REQUIRE_EQUAL(r.snapshot_exclusive_blocks.size(), 1u);
    BOOST_TEST(r.snapshot_exclusive_blocks[0] <= r.volume_blocks);
    BOOST_TEST(r.snapshot_exclusive_blocks[0] == r.first_writes);  // one per distinct block overwritten
    BOOST_TEST(r.snapshot_exclusive_blocks[0] > r.volume_blocks / 2);
  }
}

BOOST_AUTO_TEST_CASE(retention_keeps_the_last_snapshots) {
  auto ops = cowbench::make_pattern({"randwrite", 4096, 2000, 0, 1 << 20}, 1).value();
  CowBenchConfig c{cow::WritePolicy::kRedirectOnWrite, 4096, 0, cow::default_device(), 300, 2};
  auto r = cowbench::run_cow_bench(c, ops, 1 << 20, {}).value();
  BOOST_TEST(r.snapshot_exclusive_blocks.size() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  BOOST_TEST(cowbench::make_pattern({"zigzag", 4096, 10, 0, 1 << 20}, 1).status().message().find("zigzag") != std::string::npos);
  BOOST_TEST(!cowbench::make_pattern({"randrw:170", 4096, 10, 0, 1 << 20}, 1).is_ok());
  BOOST_TEST(!cowbench::make_pattern({"randwrite", 4096, 0, 0, 1 << 20}, 1).is_ok());
  BOOST_TEST(!cowbench::make_pattern({"randwrite", 8 << 20, 10, 0, 1 << 20}, 1).is_ok());
  BOOST_TEST(cowbench::parse_size("64k").value() == 65536u);
  BOOST_TEST(cowbench::parse_size("1m").value() == 1048576u);
  BOOST_TEST(!cowbench::parse_size("12q").is_ok());
  BOOST_TEST(!cowbench::parse_size("-4k").is_ok());
  auto ops = cowbench::make_pattern({"randwrite", 4096, 100, 0, 1 << 20}, 1).value();
  cowbench::CowBenchOptions small;
  small.pool_bytes = 256 << 10;
  CowBenchConfig c{cow::WritePolicy::kCopyOut, 4096, 1, cow::default_device(), 0, 0};
  auto r = cowbench::run_cow_bench(c, ops, 1 << 20, small);
  BOOST_TEST(!r.is_ok());
  BOOST_TEST(r.status().message().find("pool") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
