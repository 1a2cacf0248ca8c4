// Scheduler: interleaves clients at step granularity, without threads.
//
// A client is a state machine; each step() runs one transaction step (one
// SQL statement, one record write) and returns whether it progressed, is
// blocked (a lock held by another client: retried after someone else
// progresses), or is done. Which runnable client goes next is a choice drawn
// from a ChoiceSource: the run's "schedule" Prng stream, or a scripted prefix
// when all interleavings are enumerated depth-first.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cow/status.h"
#include "sim/prng.h"

namespace snapsim::sim {

using cow::Status;

enum class StepResult { kProgress, kBlocked, kDone };

class Client {
 public:
  virtual ~Client() = default;
  // Runs one step. An error Status aborts the whole run (bad script, I/O error).
  virtual cow::Result<StepResult> step() = 0;
  virtual bool done() const = 0;
  // False when the next step would only find its lock taken. Lets the
  // scheduler skip clients that cannot progress, so enumeration does not
  // branch on no-op attempts. Default: try and see (step() may return
  // kBlocked).
  virtual bool can_run() const { return true; }

  // Memory-snapshot revert (explore/memory_model.cc): the VM resumes at an
  // earlier moment, but this client lived on outside it and its connection
  // is gone. Afterwards done() is true once the application has nothing
  // left to do for it. An application whose transaction depends on its
  // session (SQL) keeps that session, and its locks, until the server
  // detects the dead peer: dead_session() says so until end_dead_session()
  // (the server rolls the transaction back). One whose in-memory transaction
  // does not depend on the client finishes it first. Default: the client
  // simply stops.
  virtual void disconnect() { disconnected_ = true; }
  virtual bool dead_session() const { return false; }
  virtual cow::Status end_dead_session() { return cow::Status::ok(); }
  bool disconnected() const { return disconnected_; }
  // The application shuts down cleanly (closes its files and connections).
  virtual void shut_down() {}

 protected:
  bool disconnected_ = false;
};

class ChoiceSource {
 public:
  virtual ~ChoiceSource() = default;
  // One of n options, REQUIRES n >= 1.
  virtual size_t choose(size_t n) = 0;
};

class RandomChoices : public ChoiceSource {
 public:
  explicit RandomChoices(Prng prng) : prng_(prng) {}
  size_t choose(size_t n) override { return n == 1 ? 0 : prng_.uniform(n); }

 private:
  Prng prng_;
};

// Replays `prefix`, then always takes option 0; records every choice made
// with its number of options, so the caller can step to the next
// interleaving in depth-first order.
class ScriptedChoices : public ChoiceSource {
 public:
  explicit ScriptedChoices(std::vector<size_t> prefix) : prefix_(std::move(prefix)) {}
  size_t choose(size_t n) override;
  const std::vector<std::pair<size_t, size_t>>& made() const { return made_; }
  // The prefix of the next interleaving after this one, or false if none.
  bool next_prefix(std::vector<size_t>* out) const;

 private:
  std::vector<size_t> prefix_;
  std::vector<std::pair<size_t, size_t>> made_;  // (choice, options)
};

struct ScheduleLimits {
  uint64_t max_steps = 5'000'000;
};

// Runs until every client is done. `after_step` runs after each step.
Status run_schedule(const std::vector<Client*>& clients, ChoiceSource& choices,
                    const std::function<Status()>& after_step, const ScheduleLimits& limits);

}  // namespace snapsim::sim
