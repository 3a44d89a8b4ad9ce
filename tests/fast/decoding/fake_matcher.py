"""A stand-in for an llguidance matcher, so the step processor's tests need no model or grammar."""
from __future__ import annotations

import numpy as np


class FakeMatcher:
    """Allows tokens 5 and 6 until token 5 is consumed, then only EOS (token 0)."""

    def __init__(self):
        self.done = False

    def consume_token(self, token):
        if token != 5 or self.done:
            return False
        self.done = True
        return True

    def unsafe_compute_mask_ptr(self, ptr, size):
        words = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_int32 * (size // 4)).from_address(ptr))
        words[:] = 0
        words[0] = 1 if self.done else (1 << 5) | (1 << 6)

    def is_error(self):
        return False

    def get_error(self):
        return ""
