"""How the views key a user, in Spark (for the jobs) and in Python (for serving): one rule, two forms.

Users are matched case-insensitively and without a leading @. The batch view spreads each version
over BATCH_BUCKETS partitions (crc32 of the key), so a version is deleted with a few statements
while no partition grows with the number of users.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # serving uses the Python forms and must not pay for importing pyspark
    from pyspark.sql import Column

BATCH_BUCKETS = 64


def user_key(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def user_key_column(handle: Column) -> Column:
    from pyspark.sql import functions as F

    return F.lower(F.regexp_replace(F.trim(handle), "^@+", ""))


def batch_bucket(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) % BATCH_BUCKETS


def batch_bucket_column(key: Column) -> Column:
    from pyspark.sql import functions as F

    # Spark's crc32 is the same CRC-32 as zlib's, over the same UTF-8 bytes.
    return (F.crc32(F.encode(key, "UTF-8")) % BATCH_BUCKETS).cast("int")
