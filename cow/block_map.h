// BlockMap: logical-to-physical maps as persistent, path-copying radix trees.
//
// Every volume, snapshot and clone is a root pointer into one shared arena of
// nodes. A node has 64 slots; interior slots point at child nodes, leaf slots
// at physical blocks (0 = hole, reads as zeros). Nodes carry reference
// counts, like dm-thin's metadata btree: taking a snapshot is incrementing
// the root node's count (O(1) whatever the volume size), and a write through
// a root first *shadows* every shared node on its path (copy the node,
// increment the counts of everything the copy points at, drop one reference
// to the original). A path whose every node and whose data block have count
// 1 is exclusively owned and may be changed in place.
//
// Reads cost `levels` node visits whatever the number of snapshots: there is
// no chain of deltas to walk.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "cow/block_store.h"

namespace snapsim::cow {

// 0 = empty subtree, otherwise node index + 1.
using NodeRef = uint32_t;
// 0 = hole, otherwise physical block + 1.
using BlockRef = uint32_t;

inline constexpr int kFanoutBits = 6;
inline constexpr uint32_t kFanout = 1u << kFanoutBits;

// Tree height needed to address `blocks` logical blocks (at least 1).
int levels_for(uint64_t blocks);

struct LeafSlot {
  uint32_t node;  // node index (not a NodeRef)
  uint32_t slot;
};

class BlockMap {
 public:
  explicit BlockMap(BlockStore* store) : store_(store) {}

  BlockRef lookup(NodeRef root, int levels, uint64_t lba) const;
  // True if writing lba through this root would have to unshare something:
  // a node on the path or the data block is referenced from elsewhere.
  bool path_shared(NodeRef root, int levels, uint64_t lba) const;
  // Shadows or creates every node on the path so that it is exclusive to
  // `root`, and returns the leaf slot for lba. Shadowing a leaf increments
  // the refcount of every block it maps, so afterwards
  // store.refcount(block) > 1 exactly when another root still maps it.
  LeafSlot make_path_exclusive(NodeRef& root, int levels, uint64_t lba);
  BlockRef& slot(LeafSlot s) { return nodes_[s.node].slot[s.slot]; }

  void incref(NodeRef n);
  // Frees the node (and recursively what only it referenced) at count zero.
  void decref(NodeRef n);
  uint32_t node_refcount(NodeRef n) const { return nodes_[n - 1].refcount; }

  // Calls f(lba, block) for every mapped block under root, in lba order.
  void for_each_mapping(NodeRef root, int levels,
                        const std::function<void(uint64_t, PhysBlock)>& f) const;
  // Calls f(node) for each node reachable from root, once per path (shared
  // subtrees are visited again from each parent); used by recounts.
  void for_each_node(NodeRef root, const std::function<void(NodeRef)>& f) const;
  bool is_leaf(NodeRef n) const { return nodes_[n - 1].leaf; }
  const std::array<uint32_t, kFanout>& slots(NodeRef n) const { return nodes_[n - 1].slot; }

  uint64_t metadata_updates() const { return metadata_updates_; }
  void count_metadata_update() { ++metadata_updates_; }
  size_t live_nodes() const { return nodes_.size() - free_nodes_.size(); }
  size_t node_capacity() const { return nodes_.size(); }
  bool node_is_free(uint32_t index) const { return nodes_[index].refcount == 0; }

 private:
  struct Node {
    uint32_t refcount = 0;
    bool leaf = false;
    std::array<uint32_t, kFanout> slot{};
  };
  uint32_t new_node(bool leaf);
  uint32_t shadow(uint32_t index);

  BlockStore* store_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> free_nodes_;
  uint64_t metadata_updates_ = 0;
};

}  // namespace snapsim::cow
