// A reference op that reaches into the oneDNN backend: check_includes.py must catch it.
#include "backends/cpu/cpu_common.h"
