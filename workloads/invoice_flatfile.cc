#include "workloads/invoice_flatfile.h"

#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>
#include <xxhash.h>

namespace snapsim::workloads {

// The application's lock: which client holds it.
struct InvoiceLock {
  int owner = -1;  // client holding the application lock
};

namespace {

using sim::FileRef;
using sim::GuestFs;

const char* const kDataFiles[] = {"counter.dat", "customers.dat", "invoices.dat", "lines.dat",
                                  "ledger.dat"};
constexpr size_t kCounterLen = 12;   // "NEXT 000004\n"
constexpr size_t kCustomerLen = 23;  // "CUST 01 BAL 0000001234\n"
constexpr size_t kInvoiceLen = 45;   // "INV 000001 CUST 01 LINES 03 TOTAL 0000001234\n"
constexpr size_t kLineLen = 33;      // "LINE 000001 01 AMOUNT 0000000123\n"
constexpr size_t kLedgerLen = 35;    // "GL 000001 DR receivable 0000001234\n"

std::string counter_rec(int64_t next) { return fmt::format("NEXT {:06d}\n", next); }
std::string customer_rec(int id, int64_t bal) { return fmt::format("CUST {:02d} BAL {:010d}\n", id, bal); }
std::string invoice_rec(int64_t n, int cust, int lines, int64_t total) {
  return fmt::format("INV {:06d} CUST {:02d} LINES {:02d} TOTAL {:010d}\n", n, cust, lines, total);
}
std::string line_rec(int64_t n, int idx, int64_t amount) {
  return fmt::format("LINE {:06d} {:02d} AMOUNT {:010d}\n", n, idx, amount);
}
std::string ledger_rec(int64_t n, bool debit, int64_t amount) {
  return fmt::format("GL {:06d} {} {:010d}\n", n, debit ? "DR receivable" : "CR revenue   ",
                     amount);
}

std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

Result<std::string> read_all(GuestFs& fs, const std::string& name) {
  auto f = fs.lookup(name);
  if (!f) return f.status();
  auto size = fs.size(*f);
  if (!size) return size.status();
  std::string s(*size, '\0');
  auto n = fs.read(*f, 0, std::as_writable_bytes(std::span(s)));
  if (!n) return n.status();
  return s;
}

Status put(GuestFs& fs, const std::string& name, uint64_t offset, const std::string& data) {
  auto f = fs.open(name, true);
  if (!f) return f.status();
  return fs.write(*f, offset, bytes(data));
}

// Parsed application state. `error` is an integrity failure (a record that
// does not parse), empty when every file is well formed.
struct State {
  int64_t next = 0;
  std::map<int, int64_t> balance;
  struct Invoice {
    int cust;
    int lines;
    int64_t total;
  };
  std::vector<std::pair<int64_t, Invoice>> invoices;
  std::vector<std::tuple<int64_t, int, int64_t>> lines;
  std::vector<std::tuple<int64_t, bool, int64_t>> ledger;
  std::string error;
};

bool digits(const std::string& s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::string printable(const std::string& rec) {
  std::string out;
  for (char c : rec) {
    if (c == '\n') continue;
    out += (c >= 32 && c < 127) ? c : '.';
  }
  return out;
}

// Parses fixed-width records; sets st->error at the first malformed one.
template <typename F>
void parse_records(const std::string& file, const std::string& data, size_t len, State* st, F f) {
  if (!st->error.empty()) return;
  if (data.size() % len != 0) {
    st->error = fmt::format("{} is {} bytes, not a whole number of {}-byte records", file,
                            data.size(), len);
    return;
  }
  for (size_t i = 0; i < data.size() / len; ++i) {
    const std::string rec = data.substr(i * len, len);
    if (rec.back() != '\n' || !f(rec)) {
      st->error = fmt::format("{} record {} is malformed: '{}'", file, i + 1, printable(rec));
      return;
    }
  }
}

Result<State> read_state(GuestFs& fs) {
  State st;
  std::map<std::string, std::string> data;
  for (const char* name : kDataFiles) {
    auto d = read_all(fs, name);
    if (!d) return Status::not_found(fmt::format("{} is missing: {}", name, d.status().message()));
    data[name] = *d;
  }
  parse_records("counter.dat", data["counter.dat"], kCounterLen, &st, [&](const std::string& r) {
    return r.compare(0, 5, "NEXT ") == 0 && digits(r, 5, 6, &st.next);
  });
  if (st.error.empty() && data["counter.dat"].size() != kCounterLen) {
    st.error = "counter.dat does not hold exactly one record";
  }
  parse_records("customers.dat", data["customers.dat"], kCustomerLen, &st,
                [&](const std::string& r) {
                  int64_t id, bal;
                  if (r.compare(0, 5, "CUST ") != 0 || !digits(r, 5, 2, &id) ||
                      r.compare(7, 5, " BAL ") != 0 || !digits(r, 12, 10, &bal))
                    return false;
                  st.balance[static_cast<int>(id)] = bal;
                  return true;
                });
  parse_records("invoices.dat", data["invoices.dat"], kInvoiceLen, &st, [&](const std::string& r) {
    int64_t n, cust, lines, total;
    if (r.compare(0, 4, "INV ") != 0 || !digits(r, 4, 6, &n) || r.compare(10, 6, " CUST ") != 0 ||
        !digits(r, 16, 2, &cust) || r.compare(18, 7, " LINES ") != 0 ||
        !digits(r, 25, 2, &lines) || r.compare(27, 7, " TOTAL ") != 0 ||
        !digits(r, 34, 10, &total))
      return false;
    st.invoices.push_back({n, {static_cast<int>(cust), static_cast<int>(lines), total}});
    return true;
  });
  parse_records("lines.dat", data["lines.dat"], kLineLen, &st, [&](const std::string& r) {
    int64_t n, idx, amount;
    if (r.compare(0, 5, "LINE ") != 0 || !digits(r, 5, 6, &n) || !digits(r, 12, 2, &idx) ||
        r.compare(14, 8, " AMOUNT ") != 0 || !digits(r, 22, 10, &amount))
      return false;
    st.lines.emplace_back(n, static_cast<int>(idx), amount);
    return true;
  });
  parse_records("ledger.dat", data["ledger.dat"], kLedgerLen, &st, [&](const std::string& r) {
    int64_t n, amount;
    if (r.compare(0, 3, "GL ") != 0 || !digits(r, 3, 6, &n) || !digits(r, 24, 10, &amount))
      return false;
    const std::string kind = r.substr(10, 13);
    if (kind != "DR receivable" && kind != "CR revenue   ") return false;
    st.ledger.emplace_back(n, kind[0] == 'D', amount);
    return true;
  });
  return st;
}

std::vector<std::string> invariants(const State& st) {
  std::vector<std::string> bad;
  std::map<int64_t, int64_t> line_sum, line_count, debit, credit;
  for (const auto& [n, idx, amount] : st.lines) {
    line_sum[n] += amount;
    line_count[n] += 1;
  }
  int64_t dr = 0, cr = 0;
  for (const auto& [n, is_debit, amount] : st.ledger) {
    (is_debit ? debit : credit)[n] += amount;
    (is_debit ? dr : cr) += amount;
  }
  std::set<int64_t> numbers;
  std::map<int, int64_t> per_customer;
  for (const auto& [n, inv] : st.invoices) {
    if (!numbers.insert(n).second) bad.push_back(fmt::format("invoice {} appears twice", n));
    if (line_sum[n] != inv.total || line_count[n] != inv.lines) {
      bad.push_back(fmt::format("invoice {} total {} != sum of its {} line(s) {}", n, inv.total,
                                line_count[n], line_sum[n]));
    }
    if (debit[n] != inv.total || credit[n] != inv.total) {
      bad.push_back(fmt::format("invoice {} total {} is posted DR {} / CR {}", n, inv.total,
                                debit[n], credit[n]));
    }
    per_customer[inv.cust] += inv.total;
  }
  for (const auto& [n, sum] : line_sum) {
    if (!numbers.count(n)) bad.push_back(fmt::format("lines of missing invoice {}", n));
  }
  if (dr != cr) bad.push_back(fmt::format("ledger unbalanced: debits {} != credits {}", dr, cr));
  for (const auto& [n, sum] : debit) {
    if (!numbers.count(n)) bad.push_back(fmt::format("ledger posting for missing invoice {}", n));
  }
  for (const auto& [id, bal] : st.balance) {
    if (per_customer[id] != bal) {
      bad.push_back(fmt::format("customer {} balance {} != sum of its invoices {}", id, bal,
                                per_customer[id]));
    }
  }
  int64_t expect = 1;
  for (int64_t n : numbers) {
    if (n != expect) {
      bad.push_back(fmt::format("invoice numbers have a gap: {} follows {}", n, expect - 1));
      break;
    }
    ++expect;
  }
  if (st.next != static_cast<int64_t>(numbers.size()) + 1) {
    bad.push_back(fmt::format("counter says next invoice {} but {} invoice(s) exist", st.next,
                              numbers.size()));
  }
  return bad;
}

Result<explore::Digest> files_digest(GuestFs& fs) {
  cow::Hasher128 s;
  for (const char* name : kDataFiles) {
    auto d = read_all(fs, name);
    if (!d) return d.status();
    const uint64_t len = d->size();
    s.update(name, std::strlen(name) + 1).update_value(len).update(d->data(), d->size());
  }
  return s.digest();
}

// --- the redo log -------------------------------------------------------
// "REDO <number> <payload bytes> <xxh64 hex>\n" then, per put,
// "<file> <offset> <length>\n<data>".

struct Put {
  std::string file;
  uint64_t offset;
  std::string data;
};

std::string encode_intent(int64_t number, const std::vector<Put>& puts) {
  std::string payload;
  for (const auto& p : puts) {
    payload += fmt::format("{} {} {}\n{}", p.file, p.offset, p.data.size(), p.data);
  }
  return fmt::format("REDO {:06d} {:08d} {:016x}\n", number, payload.size(),
                     XXH64(payload.data(), payload.size(), 0)) +
         payload;
}

// Returns the puts of a complete, checksummed intent; nullopt otherwise.
std::optional<std::pair<int64_t, std::vector<Put>>> decode_intent(const std::string& log) {
  constexpr size_t kHeader = 5 + 6 + 1 + 8 + 1 + 16 + 1;
  if (log.size() < kHeader || log.compare(0, 5, "REDO ") != 0) return std::nullopt;
  int64_t number, len;
  if (!digits(log, 5, 6, &number) || !digits(log, 12, 8, &len)) return std::nullopt;
  if (log.size() < kHeader + static_cast<size_t>(len)) return std::nullopt;
  const std::string payload = log.substr(kHeader, len);
  if (fmt::format("{:016x}", XXH64(payload.data(), payload.size(), 0)) != log.substr(21, 16)) {
    return std::nullopt;
  }
  std::vector<Put> puts;
  size_t pos = 0;
  while (pos < payload.size()) {
    const size_t sp1 = payload.find(' ', pos);
    const size_t sp2 = sp1 == std::string::npos ? sp1 : payload.find(' ', sp1 + 1);
    const size_t nl = sp2 == std::string::npos ? sp2 : payload.find('\n', sp2 + 1);
    if (nl == std::string::npos) return std::nullopt;
    uint64_t offset = 0, length = 0;
    const std::string off_text = payload.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string len_text = payload.substr(sp2 + 1, nl - sp2 - 1);
    auto r1 = std::from_chars(off_text.data(), off_text.data() + off_text.size(), offset);
    auto r2 = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
    if (r1.ec != std::errc() || r2.ec != std::errc() || nl + 1 + length > payload.size()) {
      return std::nullopt;
    }
    puts.push_back(Put{payload.substr(pos, sp1 - pos), offset, payload.substr(nl + 1, length)});
    pos = nl + 1 + length;
  }
  return std::make_pair(number, puts);
}

// --- clients ------------------------------------------------------------


class InvoiceClient : public sim::Client {
 public:
  InvoiceClient(uint32_t id, bool journaled, int invoices, int lines, sim::Machine& m,
                explore::CommitLog& log, InvoiceLock& shared, sim::Prng prng)
      : id_(id), journaled_(journaled), invoices_(invoices), lines_(lines), m_(m), log_(log),
        shared_(shared), prng_(prng) {}

  // After a memory-snapshot revert the application finishes the invoice it
  // was writing (it does not depend on the client), then this client is gone.
  bool done() const override { return disconnected_ ? phase_ == 0 : txn_ == invoices_; }
  bool can_run() const override {
    return phase_ != 0 || shared_.owner < 0 || shared_.owner == static_cast<int>(id_);
  }

  Result<sim::StepResult> step() override {
    GuestFs& fs = m_.fs();
    m_.app_step();
    if (phase_ == 0) {
      if (shared_.owner >= 0 && shared_.owner != static_cast<int>(id_)) {
        return sim::StepResult::kBlocked;
      }
      shared_.owner = static_cast<int>(id_);
      log_.begin(id_, m_.clock().now_ns());
      m_.trace().add(sim::EventKind::kTxnBegin, id_, txn_, m_.clock().now_ns());
      SNAPSIM_RETURN_IF_ERROR(plan(fs));
      phase_ = 1;
      return sim::StepResult::kProgress;
    }
    // The steps after `begin`: the puts one by one, with the log around
    // them when journaled.
    size_t k = phase_ - 1;
    if (journaled_) {
      if (k == 0) {
        auto f = fs.open("redo.log", true);
        if (!f) return f.status();
        SNAPSIM_RETURN_IF_ERROR(fs.write(*f, 0, bytes(encode_intent(number_, puts_))));
        ++phase_;
        return sim::StepResult::kProgress;
      }
      if (k == 1) {
        auto f = fs.lookup("redo.log");
        if (!f) return f.status();
        SNAPSIM_RETURN_IF_ERROR(fs.fsync(*f));
        ++phase_;
        return sim::StepResult::kProgress;
      }
      k -= 2;
    }
    if (k < puts_.size()) {
      SNAPSIM_RETURN_IF_ERROR(put(fs, puts_[k].file, puts_[k].offset, puts_[k].data));
      ++phase_;
      return sim::StepResult::kProgress;
    }
    // Commit: fsync every data file; the journaled app then clears its log.
    for (const char* name : kDataFiles) {
      auto f = fs.lookup(name);
      if (!f) return f.status();
      SNAPSIM_RETURN_IF_ERROR(fs.fsync(*f));
    }
    if (journaled_) {
      auto f = fs.lookup("redo.log");
      if (!f) return f.status();
      SNAPSIM_RETURN_IF_ERROR(fs.truncate(*f, 0));
      SNAPSIM_RETURN_IF_ERROR(fs.fsync(*f));
    }
    m_.trace().add(sim::EventKind::kTxnCommit, id_, log_.acked() + 1, m_.clock().now_ns());
    auto d = files_digest(fs);
    if (!d) return d.status();
    const uint64_t commit = log_.ack(id_, *d);
    m_.trace().add(sim::EventKind::kTxnAck, id_, commit, m_.clock().now_ns());
    log_.receipt(commit, explore::Receipt{id_, m_.clock().now_ns(), content_, {{"invoice", std::to_string(number_)}}});
    shared_.owner = -1;
    phase_ = 0;
    ++txn_;
    return sim::StepResult::kProgress;
  }

 private:
  // Reads the counter and the customer, and lays out every record to write.
  Status plan(GuestFs& fs) {
    auto st = read_state(fs);
    if (!st) return st.status();
    number_ = st->next;
    const int cust = static_cast<int>(prng_.range(1, InvoiceFlatfile::kCustomers));
    std::vector<int64_t> amounts;
    int64_t total = 0;
    cow::Hasher64 content;  // what the invoice carries, its number aside
    content.update_value(static_cast<int64_t>(cust));
    for (int i = 0; i < lines_; ++i) {
      amounts.push_back(prng_.range(1, 500));
      total += amounts.back();
      content.update_value(amounts.back());
    }
    content_ = content.digest();
    auto size_of = [&](const char* name) -> uint64_t {
      auto f = fs.lookup(name);
      return f ? fs.size(*f).value() : 0;
    };
    puts_.clear();
    puts_.push_back({"invoices.dat", size_of("invoices.dat"),
                     invoice_rec(number_, cust, lines_, total)});
    std::string lines;
    for (int i = 0; i < lines_; ++i) lines += line_rec(number_, i + 1, amounts[i]);
    puts_.push_back({"lines.dat", size_of("lines.dat"), lines});
    puts_.push_back({"ledger.dat", size_of("ledger.dat"),
                     ledger_rec(number_, true, total) + ledger_rec(number_, false, total)});
    puts_.push_back({"customers.dat", static_cast<uint64_t>(cust - 1) * kCustomerLen,
                     customer_rec(cust, st->balance[cust] + total)});
    puts_.push_back({"counter.dat", 0, counter_rec(number_ + 1)});
    return Status::ok();
  }

  uint32_t id_;
  bool journaled_;
  int invoices_;
  int lines_;
  sim::Machine& m_;
  explore::CommitLog& log_;
  InvoiceLock& shared_;
  sim::Prng prng_;
  int txn_ = 0;
  size_t phase_ = 0;
  int64_t number_ = 0;
  uint64_t content_ = 0;
  std::vector<Put> puts_;
};

// Clients share the lock; the workload keeps it alive with them.
class ClientsWithShared : public sim::Client {
 public:
  explicit ClientsWithShared(std::shared_ptr<InvoiceLock> s, std::unique_ptr<InvoiceClient> c)
      : shared_(std::move(s)), client_(std::move(c)) {}
  Result<sim::StepResult> step() override { return client_->step(); }
  bool done() const override { return client_->done(); }
  bool can_run() const override { return client_->can_run(); }
  void disconnect() override { client_->disconnect(); }

 private:
  std::shared_ptr<InvoiceLock> shared_;
  std::unique_ptr<InvoiceClient> client_;
};

// The pre-freeze hook of `hook=sync`: the application fsyncs every file
// it writes, in one step, without its lock (as a vendor's "flush" script).
class SyncHook : public sim::Client {
 public:
  SyncHook(sim::Machine& m, bool journaled) : m_(m), journaled_(journaled) {}
  bool done() const override { return done_; }
  Result<sim::StepResult> step() override {
    GuestFs& fs = m_.fs();
    m_.app_step();
    std::vector<std::string> names(std::begin(kDataFiles), std::end(kDataFiles));
    if (journaled_) names.push_back("redo.log");
    for (const auto& name : names) {
      auto f = fs.lookup(name);
      if (!f) return f.status();
      SNAPSIM_RETURN_IF_ERROR(fs.fsync(*f));
    }
    m_.trace().add(sim::EventKind::kStep, 0, 0, m_.clock().now_ns(), "pre_freeze: fsync every file");
    done_ = true;
    return sim::StepResult::kProgress;
  }

 private:
  sim::Machine& m_;
  bool journaled_;
  bool done_ = false;
};

std::vector<ParamSpec> flatfile_params() {
  return {
      {"clients", ParamKind::kInt, "2", "concurrent clients (serialized by the app's lock)", 1, 16, {}, true},
      {"invoices", ParamKind::kInt, "3", "invoices entered by each client", 0, 1000, {}, true},
      {"lines", ParamKind::kInt, "3", "lines per invoice", 1, 50, {}, true},
      {"hook", ParamKind::kChoice, "none",
       "its pre-freeze hook (--quiesce hook): none (freeze only), sync (fsync every file), drain (wait "
       "for the invoice in flight, then sync)",
       0, 0, {"none", "sync", "drain"}},
      {"hook_timeout_ms", ParamKind::kInt, "10000",
       "simulated ms the snapshot software waits for the hook; beyond it the snapshot is taken "
       "crash-consistent",
       0, 86400000, {}},
  };
}

}  // namespace

WorkloadInfo InvoiceFlatfile::info(bool journaled) {
  WorkloadInfo w;
  w.name = journaled ? "invoice-flatfile-journaled" : "invoice-flatfile";
  w.description = journaled
                      ? "flat-file invoices with a redo log and recovery: safe under `none`"
                      : "naive flat-file invoices, several writes per invoice, no journal: "
                        "needs `app` quiescing";
  w.params = flatfile_params();
  w.make = [journaled](const Params& p) -> std::unique_ptr<Workload> {
    return std::make_unique<InvoiceFlatfile>(journaled, p);
  };
  return w;
}

InvoiceFlatfile::InvoiceFlatfile(bool journaled, const Params& params)
    : journaled_(journaled), params_(params) {}

std::string InvoiceFlatfile::name() const {
  return journaled_ ? "invoice-flatfile-journaled" : "invoice-flatfile";
}

sim::MachineConfig InvoiceFlatfile::machine_config() const {
  sim::MachineConfig c;
  c.fs.inodes = 64;
  c.fs.disk_bytes = 256ull << 20;
  c.fs.max_file_blocks = 1024;
  return c;
}

Status InvoiceFlatfile::setup(sim::Machine& m) {
  GuestFs& fs = m.fs();
  SNAPSIM_RETURN_IF_ERROR(put(fs, "counter.dat", 0, counter_rec(1)));
  std::string customers;
  for (int c = 1; c <= kCustomers; ++c) customers += customer_rec(c, 0);
  SNAPSIM_RETURN_IF_ERROR(put(fs, "customers.dat", 0, customers));
  for (const char* name : {"invoices.dat", "lines.dat", "ledger.dat"}) {
    auto f = fs.open(name, true);
    if (!f) return f.status();
  }
  if (journaled_) {
    auto f = fs.open("redo.log", true);
    if (!f) return f.status();
  }
  return Status::ok();
}

Result<explore::Digest> InvoiceFlatfile::digest(sim::Machine& m) { return files_digest(m.fs()); }

std::optional<explore::HookSpec> InvoiceFlatfile::hook_spec() const {
  explore::HookSpec h;
  h.drain = params_.text("hook") == "drain";
  h.timeout_ms = static_cast<uint64_t>(params_.integer("hook_timeout_ms"));
  h.crash_consistent_on_failure = true;  // Veeam's "ignore failures"
  return h;
}

Result<std::unique_ptr<sim::Client>> InvoiceFlatfile::make_hook(sim::Machine& m) {
  if (params_.text("hook") == "none") return std::unique_ptr<sim::Client>();
  return std::unique_ptr<sim::Client>(std::make_unique<SyncHook>(m, journaled_));
}

Result<std::vector<std::unique_ptr<sim::Client>>> InvoiceFlatfile::make_clients(
    sim::Machine& m, explore::CommitLog& log) {
  auto shared = std::make_shared<InvoiceLock>();
  live_shared_ = shared;
  std::vector<std::unique_ptr<sim::Client>> out;
  for (int64_t c = 0; c < params_.integer("clients"); ++c) {
    out.push_back(std::make_unique<ClientsWithShared>(
        shared, std::make_unique<InvoiceClient>(static_cast<uint32_t>(c), journaled_,
                                                static_cast<int>(params_.integer("invoices")),
                                                static_cast<int>(params_.integer("lines")), m, log,
                                                *shared, m.prng().fork("client", c))));
  }
  return out;
}

Result<std::vector<std::unique_ptr<sim::Client>>> InvoiceFlatfile::make_revert_clients(
    sim::Machine& m, explore::CommitLog& log, uint32_t first_id, const std::vector<uint32_t>& txns, sim::Prng prng) {
  if (!live_shared_) return Status::invalid_argument("a revert needs the clients' lock (make_clients first)");
  std::vector<std::unique_ptr<sim::Client>> out;
  for (size_t i = 0; i < txns.size(); ++i) {
    const uint32_t id = first_id + static_cast<uint32_t>(i);
    out.push_back(std::make_unique<ClientsWithShared>(
        live_shared_, std::make_unique<InvoiceClient>(id, journaled_, static_cast<int>(txns[i]),
                                                      static_cast<int>(params_.integer("lines")), m, log,
                                                      *live_shared_, prng.fork("client", id))));
  }
  return out;
}

explore::AppState InvoiceFlatfile::inspect(sim::Machine& restored, explore::CheckMemo* /*memo*/) {
  explore::AppState out;
  GuestFs& fs = restored.fs();
  if (journaled_) {
    // Recovery: re-apply a complete intent, then clear the log.
    auto log = read_all(fs, "redo.log");
    if (log.is_ok() && !log->empty()) {
      out.recovered = true;
      auto intent = decode_intent(*log);
      if (intent) {
        for (const auto& p : intent->second) {
          Status st = put(fs, p.file, p.offset, p.data);
          if (!st.is_ok()) {
            out.open_error = "redo recovery failed: " + st.to_string();
            return out;
          }
        }
        out.recovery_detail = fmt::format("redo log replayed invoice {} ({} puts)", intent->first,
                                          intent->second.size());
      } else {
        out.recovery_detail =
            fmt::format("discarded an incomplete redo log of {} bytes", log->size());
      }
      auto f = fs.lookup("redo.log");
      if (f) (void)fs.truncate(*f, 0);
      (void)fs.sync_all();
    }
  }
  auto st = read_state(fs);
  if (!st) {
    out.open_error = st.status().message();
    return out;
  }
  out.opened = true;
  out.integrity_error = st->error;
  if (st->error.empty()) out.invariant_failures = invariants(*st);
  auto d = files_digest(fs);
  if (d) out.digest = *d;
  out.summary = fmt::format("{} invoice(s), {} line(s), {} ledger posting(s), next number {}",
                            st->invoices.size(), st->lines.size(), st->ledger.size(), st->next);
  return out;
}

}  // namespace snapsim::workloads
