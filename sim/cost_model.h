// Simulated latencies of everything a run does, so every run reports time.
//
// Device costs (block read/write, FLUSH, hypervisor snapshot create) come
// from a cow::DeviceProfile (cow/cost_model.h; default `ssd`). Guest-side
// costs are CPU work in the VM, documented here:
//
// | operation                          | cost      |
// |------------------------------------|-----------|
// | page-cache copy, per 4 KiB page    | 1 us      |
// | file operation (syscall overhead)  | 2 us      |
// | application step (one SQL stmt...) | 5 us      |
// | FIFREEZE / FITHAW bookkeeping      | 50 us     |
// | sequential group: gap between the  | 20 ms     |
// |   snapshots of consecutive disks   |           |
//
// The freeze window of a quiesce level is the simulated time during which
// the guest's writes are blocked: for `none`, the snapshot create alone; for
// `fsfreeze`, flushing the dirty pages + FLUSH + snapshot create; for `app`,
// additionally the time the pre-freeze hook waits for in-flight transactions
// to finish.
#pragma once

#include "cow/cost_model.h"

namespace snapsim::sim {

struct CostModel {
  cow::DeviceProfile device = cow::default_device();
  double page_copy_us = 1.0;
  double file_op_us = 2.0;
  double app_step_us = 5.0;
  double freeze_bookkeeping_us = 50.0;
  // A hypervisor that snapshots a group of disks one after another (not
  // atomically) lets the guest's I/O go on for this long between disks.
  double group_gap_us = 20000.0;
};

}  // namespace snapsim::sim
