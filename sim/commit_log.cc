#include "sim/commit_log.h"
