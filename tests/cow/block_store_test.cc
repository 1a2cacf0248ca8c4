#define BOOST_TEST_MODULE block_store
#include <boost/test/unit_test.hpp>

#include "cow/block_store.h"

using snapsim::cow::BlockStore;
using snapsim::cow::Code;

BOOST_AUTO_TEST_SUITE(BlockStoreTest)

BOOST_AUTO_TEST_CASE(allocate_until_full_then_out_of_space) {
  BlockStore store(512, 3);
  for (int i = 0; i < 3; ++i) BOOST_REQUIRE(store.allocate().is_ok());
  auto r = store.allocate();
  BOOST_REQUIRE(!r.is_ok());
  BOOST_TEST(r.status().code() == Code::kOutOfSpace);
  BOOST_TEST(store.used_blocks() == 3u);
}

BOOST_AUTO_TEST_CASE(decref_to_zero_frees_and_reuse_is_zeroed) {
  BlockStore store(512, 1);
  auto b = store.allocate().value();
  store.data(b)[7] = std::byte{0xAB};
  store.rehash(b);
  BOOST_TEST(!(store.hash(b) == store.zero_hash()));
  store.incref(b);
  store.decref(b);
  BOOST_TEST(store.used_blocks() == 1u);
  store.decref(b);
  BOOST_TEST(store.used_blocks() == 0u);
  auto again = store.allocate().value();
  BOOST_TEST(again == b);
  BOOST_TEST(static_cast<int>(store.data(again)[7]) == 0);
  BOOST_TEST(store.hash(again) == store.zero_hash());
}

BOOST_AUTO_TEST_SUITE_END()
