#include "explore/commit_log.h"
