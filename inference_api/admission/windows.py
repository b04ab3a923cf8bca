"""The windows requests are counted in: pure arithmetic on a clock, no cache.

A rate ("30/m") is counted in fixed windows of its period, each bucket's
window edge shifted by a hash of the bucket's name so that buckets do not
all reset in the same second (the scheme django-ratelimit uses, so limits
read as they always have). Allowances are counted per calendar day and
month in UTC, the periods a bill is written for.

`clock` is the one source of "now" for the counting: tests pin it.
"""

import re
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
# A counter lives a little past its window, so a late INCR never starts a new one.
EXPIRY_SLACK = 10


def clock() -> float:
    return time.time()


def parse_rate(rate: str) -> tuple[int, int]:
    """("30/m") -> (30, 60): requests allowed and the period in seconds ("100/5m" too)."""
    match = RATE.match(rate or "")
    if match is None:
        raise ValueError(f"not a rate: {rate!r} (expected N/s, N/m, N/h, N/d or N/5m)")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * UNITS[unit]


@dataclass(frozen=True)
class Window:
    """One counting window: its name (for the counter's key), and seconds until it ends."""

    name: str
    seconds_left: int
    period: int

    @property
    def expiry(self) -> int:
        """How long the counter must live: the rest of the window and a little more."""
        return self.seconds_left + EXPIRY_SLACK


def window_end(bucket: str, period: int, now: float | None = None) -> int:
    """The last second of `bucket`'s current window of `period` seconds."""
    ts = int(clock() if now is None else now)
    if period == 1:
        return ts
    end = ts - ts % period + zlib.crc32(bucket.encode()) % period
    return end + period if end < ts else end


def rate_window(bucket: str, period: int, now: float | None = None) -> Window:
    """The current fixed window of `bucket` at `period` seconds."""
    ts = int(clock() if now is None else now)
    end = window_end(bucket, period, ts)
    # The window ends once its last second is over.
    return Window(name=str(end), seconds_left=end - ts + 1, period=period)


def day_window(now: float | None = None) -> Window:
    """Today in UTC."""
    moment = datetime.fromtimestamp(clock() if now is None else now, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    left = int(midnight + 86400 - moment.timestamp()) + 1
    return Window(name=moment.strftime("%Y%m%d"), seconds_left=left, period=86400)


def month_window(now: float | None = None) -> Window:
    """This calendar month in UTC."""
    moment = datetime.fromtimestamp(clock() if now is None else now, UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    left = int(following.timestamp() - moment.timestamp()) + 1
    period = int(following.timestamp() - start.timestamp())
    return Window(name=moment.strftime("%Y%m"), seconds_left=left, period=period)
