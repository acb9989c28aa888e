"""How the views key a user, in Spark (for the jobs) and in Python (for serving): one rule, two forms.

Users are matched case-insensitively and without a leading @: a key is the handle without leading and
trailing whitespace (Python's str.isspace() set, in both forms), then without leading @s, lower-cased
as Python's str.lower does (in Spark too, whatever the JVM's locale). The batch view spreads each version
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
    """user_key as a Spark expression (Spark's trim() removes spaces only, its lower() follows the locale)."""
    # Imported here, as pyspark is: serving keys users in Python and must not pay for starting Spark.
    from pyspark.sql import functions as F

    from trendoff.views.text import UNICODE_WHITESPACE, lower_text

    # Leading whitespace then @s, or trailing whitespace. The lookbehind lets only the start of a
    # whitespace run try to reach the end, so a long handle is scanned in linear time.
    ends = rf"^{UNICODE_WHITESPACE}*+@*+|(?<!{UNICODE_WHITESPACE}){UNICODE_WHITESPACE}++\z"
    return lower_text(F.regexp_replace(handle, ends, ""))


def batch_bucket(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) % BATCH_BUCKETS


def batch_bucket_column(key: Column) -> Column:
    from pyspark.sql import functions as F

    # Spark's crc32 is the same CRC-32 as zlib's, over the same UTF-8 bytes.
    return (F.crc32(F.encode(key, "UTF-8")) % BATCH_BUCKETS).cast("int")
