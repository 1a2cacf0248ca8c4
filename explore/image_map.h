// ImageMap: image content hashes to a small value, held flat.
//
// A long exploration keys a million images (explorer.cc, StateCache): a
// node-based std::unordered_map spends about 60 bytes on each 16-byte key,
// this open-addressing table (linear probing, at most 7/8 full, grown by
// doubling) about 30. Keys are content hashes, so uniform: the table folds
// their halves. One key value is used as the empty mark, so that key is held
// aside.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace snapsim::explore {

using ImageKey = std::pair<uint64_t, uint64_t>;

template <class V>
class ImageMap {
 public:
  // The value of `key`, or null.
  const V* find(const ImageKey& key) const {
    if (key == kEmpty) return empty_value_ ? &*empty_value_ : nullptr;
    if (slots_.empty()) return nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask()) {
      if (slots_[i].key == key) return &slots_[i].value;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  bool contains(const ImageKey& key) const { return find(key) != nullptr; }
  // Inserts `key` with `value` unless present; true if it was inserted.
  bool insert(const ImageKey& key, const V& value) {
    bool inserted = false;
    V& v = slot(key, &inserted);
    if (inserted) v = value;
    return inserted;
  }
  // The value of `key`, inserted as V{} if absent.
  V& operator[](const ImageKey& key) {
    bool inserted = false;
    return slot(key, &inserted);
  }
  size_t size() const { return size_ + (empty_value_ ? 1 : 0); }

 private:
  static constexpr ImageKey kEmpty{0, 0};
  struct Slot {
    ImageKey key = kEmpty;
    [[no_unique_address]] V value{};
  };
  size_t mask() const { return slots_.size() - 1; }
  size_t home(const ImageKey& k) const {
    return static_cast<size_t>(k.first ^ (k.second * 0x9e3779b97f4a7c15ULL)) & mask();
  }
  V& slot(const ImageKey& key, bool* inserted) {
    if (key == kEmpty) {
      *inserted = !empty_value_;
      if (!empty_value_) empty_value_.emplace();
      return *empty_value_;
    }
    if ((size_ + 1) * 8 > slots_.size() * 7) grow();
    for (size_t i = home(key);; i = (i + 1) & mask()) {
      if (slots_[i].key == key) {
        *inserted = false;
        return slots_[i].value;
      }
      if (slots_[i].key == kEmpty) {
        slots_[i].key = key;
        ++size_;
        *inserted = true;
        return slots_[i].value;
      }
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      size_t i = home(s.key);
      while (slots_[i].key != kEmpty) i = (i + 1) & mask();
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;  // keys in slots_
  std::optional<V> empty_value_;
};

// A set of images: an ImageMap of nothing.
class ImageSet {
 public:
  bool insert(const ImageKey& key) { return map_.insert(key, Unit{}); }
  bool contains(const ImageKey& key) const { return map_.contains(key); }
  size_t size() const { return map_.size(); }

 private:
  struct Unit {};
  ImageMap<Unit> map_;
};

}  // namespace snapsim::explore
