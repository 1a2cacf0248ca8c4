#include "cow/block_map.h"

#include <cassert>

namespace snapsim::cow {

namespace {
uint32_t slot_index(uint64_t lba, int level) {
  return static_cast<uint32_t>((lba >> (level * kFanoutBits)) & (kFanout - 1));
}
}  // namespace

int levels_for(uint64_t blocks) {
  int levels = 1;
  uint64_t reach = kFanout;
  while (reach < blocks) {
    reach <<= kFanoutBits;
    ++levels;
  }
  return levels;
}

BlockRef BlockMap::lookup(NodeRef root, int levels, uint64_t lba) const {
  NodeRef n = root;
  for (int level = levels - 1; level >= 0; --level) {
    if (n == 0) return 0;
    n = nodes_[n - 1].slot[slot_index(lba, level)];
  }
  return n;
}

bool BlockMap::path_shared(NodeRef root, int levels, uint64_t lba) const {
  NodeRef n = root;
  for (int level = levels - 1; level >= 0; --level) {
    if (n == 0) return false;
    const Node& node = nodes_[n - 1];
    if (node.refcount > 1) return true;
    n = node.slot[slot_index(lba, level)];
  }
  return n != 0 && store_->refcount(n - 1) > 1;
}

uint32_t BlockMap::new_node(bool leaf) {
  uint32_t index;
  if (!free_nodes_.empty()) {
    index = free_nodes_.back();
    free_nodes_.pop_back();
    nodes_[index] = Node{};
  } else {
    index = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[index].refcount = 1;
  nodes_[index].leaf = leaf;
  ++metadata_updates_;
  return index;
}

uint32_t BlockMap::shadow(uint32_t index) {
  const uint32_t copy = new_node(nodes_[index].leaf);  // may reallocate nodes_
  nodes_[copy].slot = nodes_[index].slot;
  for (uint32_t ref : nodes_[copy].slot) {
    if (ref == 0) continue;
    if (nodes_[copy].leaf) {
      store_->incref(ref - 1);
    } else {
      ++nodes_[ref - 1].refcount;
    }
  }
  assert(nodes_[index].refcount > 1);
  --nodes_[index].refcount;
  return copy;
}

LeafSlot BlockMap::make_path_exclusive(NodeRef& root, int levels, uint64_t lba) {
  // `link` is where the current node's ref lives: the root, or a parent slot
  // (node index + slot). Parent slots are re-read by index because creating
  // a node may reallocate the arena.
  uint32_t parent = UINT32_MAX;
  uint32_t parent_slot = 0;
  auto link = [&]() -> uint32_t& {
    return parent == UINT32_MAX ? root : nodes_[parent].slot[parent_slot];
  };
  for (int level = levels - 1; level >= 0; --level) {
    NodeRef ref = link();
    uint32_t index;
    if (ref == 0) {
      index = new_node(level == 0);
      link() = index + 1;
    } else if (nodes_[ref - 1].refcount > 1) {
      index = shadow(ref - 1);
      link() = index + 1;
    } else {
      index = ref - 1;
    }
    parent = index;
    parent_slot = slot_index(lba, level);
  }
  return LeafSlot{parent, parent_slot};
}

void BlockMap::incref(NodeRef n) {
  if (n != 0) ++nodes_[n - 1].refcount;
}

void BlockMap::decref(NodeRef n) {
  if (n == 0) return;
  Node& node = nodes_[n - 1];
  assert(node.refcount > 0);
  if (--node.refcount > 0) return;
  const bool leaf = node.leaf;
  const auto slots = node.slot;  // copy: recursion may touch the arena
  for (uint32_t ref : slots) {
    if (ref == 0) continue;
    if (leaf) {
      store_->decref(ref - 1);
    } else {
      decref(ref);
    }
  }
  free_nodes_.push_back(n - 1);
}

void BlockMap::for_each_mapping(NodeRef root, int levels,
                                const std::function<void(uint64_t, PhysBlock)>& f) const {
  std::function<void(NodeRef, int, uint64_t)> walk = [&](NodeRef n, int level, uint64_t base) {
    if (n == 0) return;
    const Node& node = nodes_[n - 1];
    for (uint32_t i = 0; i < kFanout; ++i) {
      const uint32_t ref = node.slot[i];
      if (ref == 0) continue;
      const uint64_t lba = base | (static_cast<uint64_t>(i) << (level * kFanoutBits));
      if (level == 0) {
        f(lba, ref - 1);
      } else {
        walk(ref, level - 1, lba);
      }
    }
  };
  walk(root, levels - 1, 0);
}

void BlockMap::for_each_node(NodeRef root, const std::function<void(NodeRef)>& f) const {
  if (root == 0) return;
  f(root);
  const Node& node = nodes_[root - 1];
  if (node.leaf) return;
  for (uint32_t ref : node.slot) {
    if (ref != 0) for_each_node(ref, f);
  }
}

}  // namespace snapsim::cow
