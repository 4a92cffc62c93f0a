/* SPDX-License-Identifier: MIT */
#include "sm-error.h"

G_DEFINE_QUARK (sm-error-quark, sm_error)
