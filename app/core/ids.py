"""Record ids: UUIDv7 strings (RFC 9562), so ids sort by creation time.

Time-ordered ids keep B-tree inserts local and let cursor pagination order by
id alone.
"""
import os
import time
import uuid


def new_id() -> str:
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76                      # version 7
    value |= ((rand >> 62) & 0xFFF) << 64   # rand_a, 12 bits
    value |= 0b10 << 62                     # RFC 9562 variant
    value |= rand & ((1 << 62) - 1)         # rand_b, 62 bits
    return str(uuid.UUID(int=value))
