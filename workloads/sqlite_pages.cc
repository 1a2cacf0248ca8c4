#include "workloads/sqlite_pages.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <span>

#include <fmt/format.h>

#include "cow/content_hash.h"

namespace snapsim::workloads {

namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// SQLite's varint: 1 to 9 bytes, big-endian base 128, the ninth byte whole.
// Returns the bytes used, 0 when it runs past `end`.
size_t varint(const uint8_t* p, const uint8_t* end, uint64_t* v) {
  uint64_t x = 0;
  for (size_t i = 0; i < 9; ++i) {
    if (p + i >= end) return 0;
    if (i == 8) {
      *v = (x << 8) | p[i];
      return 9;
    }
    x = (x << 7) | (p[i] & 0x7f);
    if (!(p[i] & 0x80)) {
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

// Size of a value of serial type t (SQLite's record format); -1 = reserved.
int64_t serial_size(uint64_t t) {
  static const int64_t small[] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1};
  if (t < 12) return small[t];
  return static_cast<int64_t>((t - 12) / 2);
}

// Whether `rec` is a well-formed record: its header fits and its values
// fill the rest exactly. Appends the serial types to *types when given.
bool record_ok(std::span<const uint8_t> rec, std::vector<uint64_t>* types = nullptr) {
  const uint8_t* p = rec.data();
  const uint8_t* end = p + rec.size();
  uint64_t hsize = 0;
  const size_t n = varint(p, end, &hsize);
  if (!n || hsize < n || hsize > rec.size()) return false;
  uint64_t body = 0;
  for (const uint8_t* q = p + n; q < p + hsize;) {
    uint64_t t = 0;
    const size_t m = varint(q, p + hsize, &t);
    if (!m) return false;
    const int64_t sz = serial_size(t);
    if (sz < 0) return false;
    body += static_cast<uint64_t>(sz);
    if (types) types->push_back(t);
    q += m;
  }
  return hsize + body == rec.size();
}

}  // namespace

// One database as SQLite sees it, walked once for one digest.
class PageWalk {
 public:
  PageWalk(PageDigests& memo, sim::GuestFs& fs, sim::FileRef db) : memo_(memo), fs_(fs), db_(db) {}

  // Reads the header and the WAL's frame index. False: does not parse.
  bool open(std::optional<sim::FileRef> wal, std::optional<uint64_t> wal_bytes, bool* empty) {
    auto size = fs_.size(db_);
    if (!size) return false;
    db_size_ = *size;
    // The WAL counts only for a database in WAL mode (header bytes 18 and
    // 19 are 2); a rollback-mode database ignores a leftover -wal file.
    bool wal_mode = true;
    if (db_size_ >= 100) {
      uint8_t h[100];
      if (!read(db_, 0, h, sizeof h)) return false;
      wal_mode = h[18] == 2 || h[19] == 2;
    }
    uint64_t frames = 0;
    if (wal && wal_mode) {
      auto ws = fs_.size(*wal);
      if (!ws) return false;
      if (*ws > 32) {
        if (!wal_bytes) return false;  // frames, but how many count is unknown
        uint8_t hdr[32];
        if (!read(*wal, 0, hdr, sizeof hdr)) return false;
        wal_page_ = be32(hdr + 8);
        if (wal_page_ == 1) wal_page_ = 65536;  // as in the database header
        if (wal_page_ < 512 || wal_page_ > 65536 || (wal_page_ & (wal_page_ - 1))) return false;
        if (*wal_bytes > 32) frames = (*wal_bytes - 32) / (24 + wal_page_);
      }
    }
    for (uint64_t f = 0; f < frames; ++f) {
      uint8_t fh[24];
      const uint64_t off = 32 + f * (24 + wal_page_);
      if (!read(*wal, off, fh, sizeof fh)) return false;
      const uint32_t pgno = be32(fh);
      if (pgno == 0) return false;
      frame_of_[pgno] = off + 24;
      if (be32(fh + 4)) wal_pages_ = be32(fh + 4);  // a commit frame: the database's size in pages
    }
    wal_ = wal;
    if (db_size_ == 0 && frame_of_.empty()) {
      *empty = true;  // SQLite reads an empty file as an empty database
      return true;
    }
    *empty = false;
    // Page 1's header names the page size; read its first 100 bytes from
    // wherever page 1 is.
    uint8_t h[100];
    if (auto it = frame_of_.find(1); it != frame_of_.end()) {
      if (!read(*wal_, it->second, h, sizeof h)) return false;
    } else if (!read(db_, 0, h, sizeof h)) {
      return false;
    }
    if (std::memcmp(h, "SQLite format 3", 16) != 0) return false;
    page_ = be16(h + 16);
    if (page_ == 1) page_ = 65536;
    if (page_ < 512 || page_ > 65536 || (page_ & (page_ - 1))) return false;
    if (!frame_of_.empty() && page_ != wal_page_) return false;
    usable_ = page_ - h[20];
    encoding_ = be32(h + 56);
    if (usable_ < 480) return false;
    pages_ = frame_of_.empty() ? db_size_ / page_ : std::max<uint64_t>(wal_pages_, 1);
    return pages_ >= 1;
  }

  // The page's bytes (page 1 with its 100-byte file header), or null.
  const uint8_t* page(uint32_t pgno) {
    if (pgno == 0 || pgno > pages_) return nullptr;
    buf_.resize(page_);
    if (auto it = frame_of_.find(pgno); it != frame_of_.end()) {
      if (!read(*wal_, it->second, buf_.data(), page_)) return nullptr;
    } else if (!read(db_, static_cast<uint64_t>(pgno - 1) * page_, buf_.data(), page_)) {
      return nullptr;
    }
    return buf_.data();
  }

  // A b-tree page taken off a walk's stack, its header read and checked
  // against the usable size. `p` is valid until the next page() call.
  struct Node {
    uint32_t pgno = 0;
    const uint8_t* p = nullptr;
    size_t hoff = 0;  // 100 on page 1, after the file header
    uint8_t type = 0;
    bool interior = false;
    size_t cells = 0;
  };
  // False: the page does not parse, or the walk has seen it before.
  bool pop(std::vector<uint32_t>* stack, Node* n) {
    n->pgno = stack->back();
    stack->pop_back();
    if (!visit(n->pgno)) return false;
    n->p = page(n->pgno);
    if (!n->p) return false;
    n->hoff = n->pgno == 1 ? 100 : 0;
    n->type = n->p[n->hoff];
    if (n->type != 0x05 && n->type != 0x0d && n->type != 0x02 && n->type != 0x0a) return false;
    n->interior = n->type == 0x05 || n->type == 0x02;
    n->cells = be16(n->p + n->hoff + 3);
    return n->hoff + (n->interior ? 12 : 8) + 2 * n->cells <= usable_;
  }

  // Every row of the b-tree rooted at `root` into *rows and *sum.
  bool tree(uint32_t root, uint64_t* rows, explore::Digest* sum) {
    std::vector<uint32_t> stack{root};
    Node n;
    while (!stack.empty()) {
      if (!pop(&stack, &n)) return false;
      const uint8_t* p = n.p;
      const size_t hoff = n.hoff, cells = n.cells;
      const uint8_t type = n.type;
      if (!n.interior || type == 0x02) {
        // A page with rows: memoised by its bytes unless a row spills onto
        // overflow pages (whose bytes the key does not cover).
        const explore::Digest key = page_key(p);
        if (auto it = memo_.leaves_.find(key); it != memo_.leaves_.end()) {
          *rows += it->second.rows;
          *sum += it->second.sum;
        } else {
          PageDigests::Leaf leaf;
          bool spilled = false;
          std::vector<uint8_t> copy(p, p + page_);  // page() reuses its buffer for overflow pages
          if (!rows_of(copy.data(), hoff, type, cells, &leaf, &spilled)) return false;
          if (!spilled) memo_.leaves_.emplace(key, leaf);
          *rows += leaf.rows;
          *sum += leaf.sum;
          p = page(n.pgno);  // again, for its children (index interior pages)
          if (!p) return false;
        }
      }
      if (n.interior && !push_children(p, hoff, cells, &stack)) return false;
    }
    return true;
  }

  // The leaf pages of the table b-tree rooted at `root`, in tree order,
  // into *out (LeafPage). A page whose key `known` accepts is not parsed
  // unless its rows spill (PageDigests::spilled_), when its key must cover
  // them. False: a page does not parse, or the tree is not a table b-tree.
  bool leaves(uint32_t root, const std::vector<int>& columns,
              const std::function<bool(const explore::Digest&)>& known, std::vector<LeafPage>* out) {
    std::vector<uint32_t> stack{root};
    Node n;
    while (!stack.empty()) {
      if (!pop(&stack, &n)) return false;
      if (n.type == 0x05) {
        if (!push_children(n.p, n.hoff, n.cells, &stack)) return false;
        continue;
      }
      if (n.type != 0x0d) return false;
      LeafPage leaf;
      leaf.key = page_key(n.p);
      const bool spills = memo_.spilled_.count(leaf.key) != 0;
      if (!spills && known(leaf.key)) {
        out->push_back(std::move(leaf));
        continue;
      }
      std::vector<uint8_t> copy(n.p, n.p + page_);  // cell() reads overflow pages through page()
      bool spilled = false;
      const uint8_t* p = copy.data();
      const size_t ptrs = n.hoff + 8;
      for (size_t i = 0; i < n.cells; ++i) {
        uint64_t rowid = 0;
        std::vector<uint8_t> payload;
        if (!cell(p, be16(p + ptrs + 2 * i), 0x0d, &rowid, &payload, &spilled)) return false;
        std::vector<uint64_t> types;
        if (!record_ok(payload, &types)) return false;
        KeyedRow row;
        cow::Hasher128 h;
        h.update_value(rowid);
        h.update(payload.data(), payload.size());
        row.hash = h.digest();
        for (int c : columns) row.keys.push_back(value_of(payload, types, c, rowid));
        leaf.rows.push_back(std::move(row));
      }
      if (spilled) {
        memo_.spilled_.insert(leaf.key);
        cow::Hasher128 h;
        h.update_value(leaf.key);
        for (const auto& r : leaf.rows) h.update_value(r.hash);
        leaf.key = h.digest();
      }
      leaf.fresh = !(spilled && known(leaf.key));
      if (!leaf.fresh) leaf.rows.clear();
      out->push_back(std::move(leaf));
    }
    return true;
  }

  // The database's text encoding (header byte 56): 1 is UTF-8.
  uint32_t encoding() const { return encoding_; }

  // The rows of sqlite_schema (page 1's tree): (type, name, rootpage), and
  // each one's sql (NULL as empty) into *sqls when given.
  bool schema(std::vector<std::tuple<std::string, std::string, int64_t>>* out,
              std::vector<std::string>* sqls = nullptr) {
    std::vector<std::vector<uint8_t>> records;
    std::vector<uint32_t> stack{1};
    Node n;
    while (!stack.empty()) {
      if (!pop(&stack, &n)) return false;
      std::vector<uint8_t> copy(n.p, n.p + page_);  // cell() reads overflow pages through page()
      const uint8_t* p = copy.data();
      const size_t hoff = n.hoff, cells = n.cells;
      if (n.type == 0x05) {
        if (!push_children(p, hoff, cells, &stack)) return false;
      } else if (n.type == 0x0d) {
        const size_t ptrs = hoff + 8;
        for (size_t i = 0; i < cells; ++i) {
          uint64_t rowid = 0;
          std::vector<uint8_t> payload;
          if (!cell(p, be16(p + ptrs + 2 * i), 0x0d, &rowid, &payload, nullptr)) return false;
          records.push_back(std::move(payload));
        }
      } else {
        return false;
      }
    }
    for (const auto& r : records) {
      std::vector<uint64_t> types;
      if (!record_ok(r, &types) || types.size() < 4) return false;
      uint64_t hsize = 0;
      varint(r.data(), r.data() + r.size(), &hsize);  // record_ok checked it
      size_t pos = hsize;
      std::string fields[2];
      int64_t rootpage = 0;
      for (size_t c = 0; c < 4; ++c) {
        const uint64_t t = types[c];
        const auto sz = static_cast<size_t>(serial_size(t));
        if (c < 2) {
          if (t < 13 || !(t & 1)) return false;  // type and name are text
          fields[c].assign(reinterpret_cast<const char*>(r.data() + pos), sz);
        } else if (c == 3) {
          if (t == 0) {
            rootpage = 0;
          } else if (t >= 1 && t <= 6) {
            int64_t v = static_cast<int8_t>(r[pos]);  // sign from the first byte
            for (size_t b = 1; b < sz; ++b) v = static_cast<int64_t>(static_cast<uint64_t>(v) << 8 | r[pos + b]);
            rootpage = v;
          } else if (t == 8 || t == 9) {
            rootpage = static_cast<int64_t>(t - 8);
          } else {
            return false;
          }
        }
        pos += sz;
      }
      if (sqls) {
        std::string sql;
        if (types.size() >= 5) {
          const uint64_t t = types[4];
          if (t >= 13 && (t & 1)) {
            sql.assign(reinterpret_cast<const char*>(r.data() + pos), static_cast<size_t>(serial_size(t)));
          } else if (t != 0) {
            return false;
          }
        }
        sqls->push_back(std::move(sql));
      }
      out->emplace_back(fields[0], fields[1], rootpage);
    }
    return true;
  }

 private:
  bool read(sim::FileRef f, uint64_t off, uint8_t* out, size_t n) {
    auto got = fs_.read(f, off, std::as_writable_bytes(std::span(out, n)));
    return got && *got == n;
  }

  // Column `c` (record index; -1: the rowid) of a well-formed record.
  RowKey value_of(const std::vector<uint8_t>& rec, const std::vector<uint64_t>& types, int c, uint64_t rowid) const {
    RowKey k;
    if (c < 0) {
      k.kind = RowKey::kInt;
      k.i = static_cast<int64_t>(rowid);
      return k;
    }
    if (static_cast<size_t>(c) >= types.size()) return k;  // added by ALTER TABLE later: its default
    uint64_t hsize = 0;
    varint(rec.data(), rec.data() + rec.size(), &hsize);
    size_t pos = hsize;
    for (int i = 0; i < c; ++i) pos += static_cast<size_t>(serial_size(types[static_cast<size_t>(i)]));
    const uint64_t t = types[static_cast<size_t>(c)];
    const uint8_t* v = rec.data() + pos;
    if (t == 0) {
      k.kind = RowKey::kNull;
    } else if (t >= 1 && t <= 6) {
      const auto sz = static_cast<size_t>(serial_size(t));
      int64_t x = static_cast<int8_t>(v[0]);
      for (size_t b = 1; b < sz; ++b) x = static_cast<int64_t>(static_cast<uint64_t>(x) << 8 | v[b]);
      k.kind = RowKey::kInt;
      k.i = x;
    } else if (t == 8 || t == 9) {
      k.kind = RowKey::kInt;
      k.i = static_cast<int64_t>(t - 8);
    } else if (t >= 13 && (t & 1) && encoding_ == 1) {
      k.kind = RowKey::kText;
      k.s.assign(reinterpret_cast<const char*>(v), static_cast<size_t>(serial_size(t)));
    }
    return k;
  }

  // An interior page's children (its cells' left pointers and the
  // right-most pointer in its header) onto *stack.
  bool push_children(const uint8_t* p, size_t hoff, size_t cells, std::vector<uint32_t>* stack) const {
    const size_t ptrs = hoff + 12;
    if (ptrs + 2 * cells > usable_) return false;
    stack->push_back(be32(p + hoff + 8));
    for (size_t i = 0; i < cells; ++i) {
      const size_t off = be16(p + ptrs + 2 * i);
      if (off + 4 > usable_) return false;
      stack->push_back(be32(p + off));
    }
    return true;
  }

  bool visit(uint32_t pgno) {
    if (pgno == 0 || pgno > pages_) return false;
    if (visited_.size() < pages_ + 1) visited_.resize(pages_ + 1, false);
    if (visited_[pgno]) return false;  // a cycle, or a page in two places
    visited_[pgno] = true;
    return true;
  }

  explore::Digest page_key(const uint8_t* p) const {
    cow::Hasher128 h;
    h.update_value(usable_).update(p, page_);
    return h.digest();
  }

  // The rows of one page into *leaf; *spilled when one has overflow pages.
  bool rows_of(const uint8_t* p, size_t hoff, uint8_t type, size_t cells, PageDigests::Leaf* leaf, bool* spilled) {
    const size_t ptrs = hoff + (type == 0x02 ? 12 : 8);
    for (size_t i = 0; i < cells; ++i) {
      uint64_t rowid = 0;
      std::vector<uint8_t> payload;
      if (!cell(p, be16(p + ptrs + 2 * i), type, &rowid, &payload, spilled)) return false;
      if (!record_ok(payload)) return false;
      cow::Hasher128 h;
      if (type == 0x0d) h.update_value(rowid);
      h.update(payload.data(), payload.size());
      leaf->rows++;
      leaf->sum += h.digest();
    }
    return true;
  }

  // One cell at `off` of a page of `type`: its rowid (table leaves) and its
  // whole payload, gathered from the overflow pages when it spills.
  bool cell(const uint8_t* p, size_t off, uint8_t type, uint64_t* rowid, std::vector<uint8_t>* payload, bool* spilled) {
    const uint8_t* end = p + usable_;
    if (off >= usable_) return false;
    const uint8_t* c = p + off;
    if (type == 0x02) c += 4;  // left child
    if (c >= end) return false;
    uint64_t size = 0;
    size_t n = varint(c, end, &size);
    if (!n) return false;
    c += n;
    if (type == 0x0d) {
      n = varint(c, end, rowid);
      if (!n) return false;
      c += n;
    }
    // How much of the payload is on this page (SQLite's file format, "Cell
    // Payload Overflow Pages").
    const uint64_t u = usable_;
    const uint64_t x = type == 0x0d ? u - 35 : ((u - 12) * 64 / 255) - 23;
    const uint64_t m = ((u - 12) * 32 / 255) - 23;
    uint64_t local = size;
    if (size > x) {
      const uint64_t k = m + ((size - m) % (u - 4));
      local = k <= x ? k : m;
    }
    if (size > (1u << 30)) return false;
    if (c + local > end) return false;
    payload->assign(c, c + local);
    if (local == size) return true;
    if (spilled) *spilled = true;
    if (c + local + 4 > end) return false;
    uint32_t next = be32(c + local);
    std::vector<bool> seen;
    while (payload->size() < size) {
      if (next == 0 || next > pages_) return false;
      if (seen.size() < pages_ + 1) seen.resize(pages_ + 1, false);
      if (seen[next]) return false;
      seen[next] = true;
      const uint8_t* o = page(next);
      if (!o) return false;
      const uint64_t take = std::min<uint64_t>(size - payload->size(), u - 4);
      payload->insert(payload->end(), o + 4, o + 4 + take);
      next = be32(o);
    }
    return true;
  }

  PageDigests& memo_;
  sim::GuestFs& fs_;
  sim::FileRef db_;
  std::optional<sim::FileRef> wal_;
  uint64_t db_size_ = 0;
  uint32_t page_ = 0, wal_page_ = 0, usable_ = 0, wal_pages_ = 0, encoding_ = 0;
  uint64_t pages_ = 0;
  std::map<uint32_t, uint64_t> frame_of_;  // page -> its newest frame's data offset in the WAL
  std::vector<uint8_t> buf_;
  std::vector<bool> visited_;
};

std::optional<std::vector<TableRows>> PageDigests::tables(sim::GuestFs& fs, const std::string& file,
                                                           std::optional<uint64_t> wal_bytes) {
  std::vector<TableRows> out;
  auto db = fs.lookup(file);
  if (!db) return out;  // no file: SQLite creates an empty database
  std::optional<sim::FileRef> wal;
  if (auto w = fs.lookup(file + "-wal")) wal = *w;
  PageWalk walk(*this, fs, *db);
  bool empty = false;
  if (!walk.open(wal, wal_bytes, &empty)) return std::nullopt;
  if (empty) return out;
  std::vector<std::tuple<std::string, std::string, int64_t>> schema;
  if (!walk.schema(&schema)) return std::nullopt;
  for (const auto& [type, name, root] : schema) {
    if (type != "table" || name.rfind("sqlite_", 0) == 0) continue;
    TableRows t;
    t.name = name;
    if (root > 0) {  // a virtual table has none: its shadow tables hold its rows
      if (root > UINT32_MAX) return std::nullopt;
      if (!walk.tree(static_cast<uint32_t>(root), &t.rows, &t.digest)) return std::nullopt;
    }
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TableRows& a, const TableRows& b) { return a.name < b.name; });
  return out;
}

std::optional<std::vector<std::vector<LeafPage>>> PageDigests::table_pages(
    sim::GuestFs& fs, const std::string& file, std::optional<uint64_t> wal_bytes,
    const std::vector<TableRequest>& tables, const std::function<bool(size_t, const explore::Digest&)>& known) {
  auto db = fs.lookup(file);
  if (!db) return std::nullopt;
  std::optional<sim::FileRef> wal;
  if (auto w = fs.lookup(file + "-wal")) wal = *w;
  PageWalk walk(*this, fs, *db);
  bool empty = false;
  if (!walk.open(wal, wal_bytes, &empty) || empty) return std::nullopt;
  std::vector<std::tuple<std::string, std::string, int64_t>> schema;
  std::vector<std::string> sqls;
  if (!walk.schema(&schema, &sqls)) return std::nullopt;
  std::vector<std::vector<LeafPage>> out;
  for (const auto& req : tables) {
    int64_t root = -1;
    for (size_t i = 0; i < schema.size(); ++i) {
      const auto& [type, name, r] = schema[i];
      if (type == "table" && name == req.table && sqls[i] == req.sql) root = r;
    }
    if (root <= 0 || root > UINT32_MAX) return std::nullopt;
    out.emplace_back();
    const size_t t = out.size() - 1;
    const auto known_here = [&](const explore::Digest& key) { return known(t, key); };
    if (!walk.leaves(static_cast<uint32_t>(root), req.columns, known_here, &out.back())) return std::nullopt;
  }
  return out;
}

void PageDigests::verify(const std::vector<TableRows>& from_pages, const std::vector<TableRows>& via_sql) {
  auto say = [&](const std::string& what) {
    if (mismatch_.empty()) mismatch_ = what;
  };
  if (from_pages.size() != via_sql.size()) return say(fmt::format("{} tables from pages, {} through SQL", from_pages.size(), via_sql.size()));
  for (size_t i = 0; i < from_pages.size(); ++i) {
    const TableRows& a = from_pages[i];
    const TableRows& b = via_sql[i];
    if (a.name != b.name || a.rows != b.rows) {
      return say(fmt::format("table {} with {} rows from pages, {} with {} through SQL", a.name, a.rows, b.name, b.rows));
    }
    // Keyed by the table too: two tables may hold the same rows.
    cow::Hasher128 ka, kb;
    ka.update(a.name.data(), a.name.size()).update_value(a.digest);
    kb.update(b.name.data(), b.name.size()).update_value(b.digest);
    const explore::Digest pa = ka.digest(), pb = kb.digest();
    auto [i1, new1] = page_to_sql_.emplace(pa, pb);
    auto [i2, new2] = sql_to_page_.emplace(pb, pa);
    ++pairs_;
    if (!(i1->second == pb) || !(i2->second == pa)) {
      return say(fmt::format("table {} ({} rows): the page digest and the SQL digest tell states apart differently",
                             a.name, a.rows));
    }
  }
}

}  // namespace snapsim::workloads
