"""Send windows: the weekdays and hours a follow-up may go out, in the contact's local time.

The contact's time zone comes from its prospect's country when that country has
one local time (all its zones in the IANA tables, `zone.tab` from the `tzdata`
package, keep the same UTC offsets in January and July); for a country that
spans several, and when the country is unknown, the campaign's time zone is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from webapp.core.errors import ValidationFailed
from webapp.prospects.scoring.countries import country_code

ALL_DAYS = "1234567"


@dataclass(frozen=True)
class SendWindow:
    """ISO weekdays (1 = Monday) and hours [from_hour, until_hour) in local time."""

    days: str = ALL_DAYS
    from_hour: int = 0
    until_hour: int = 24

    @property
    def always(self) -> bool:
        return set(self.days) == set(ALL_DAYS) and self.from_hour == 0 and self.until_hour == 24

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment` itself when it is inside the window, else the window's next opening (UTC)."""
        if self.always:
            return moment
        local = moment.astimezone(zone)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if str(day.isoweekday()) not in self.days:
                continue
            opens = datetime(day.year, day.month, day.day, self.from_hour, tzinfo=zone)
            closes = (
                datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
                if self.until_hour == 24
                else datetime(day.year, day.month, day.day, self.until_hour, tzinfo=zone)
            )
            if moment < opens.astimezone(moment.tzinfo):
                return opens.astimezone(moment.tzinfo)
            if moment < closes.astimezone(moment.tzinfo):
                return moment
        raise AssertionError("a window with at least one day opens within a week")


def parse_window(days: object, from_hour: object, until_hour: object) -> SendWindow:
    """Validate a window as entered (days like "12345", hours 0-24); errors name the field."""
    if not isinstance(days, str) or not days or any(d not in ALL_DAYS for d in days):
        raise ValidationFailed(
            "send_days: ISO weekday digits, 1 (Monday) to 7 (Sunday), e.g. 12345", field="send_days"
        )
    start = _hour(from_hour, "send_from_hour", 0, 23)
    end = _hour(until_hour, "send_until_hour", 1, 24)
    if end <= start:
        raise ValidationFailed(
            "send_until_hour must be after send_from_hour", field="send_until_hour"
        )
    return SendWindow("".join(sorted(set(days))), start, end)


def _hour(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(f"{field}: an hour from {low} to {high}", field=field)
    try:
        hour = int(value)
    except ValueError:
        raise ValidationFailed(f"{field}: an hour from {low} to {high}", field=field) from None
    if not low <= hour <= high:
        raise ValidationFailed(f"{field}: an hour from {low} to {high}", field=field)
    return hour


def parse_zone(name: object) -> str:
    """An IANA time zone name, as the campaign default."""
    if not isinstance(name, str) or name not in _zone_names():
        raise ValidationFailed("timezone: an IANA time zone such as Europe/Paris", field="timezone")
    return name


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _single_zones() -> dict[str, str]:
    """Country code → its first zone, for the countries that keep one local time."""
    zones: dict[str, list[str]] = {}
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, _, name = line.split("\t")[:3]
        zones.setdefault(code, []).append(name)
    return {code: names[0] for code, names in zones.items() if len(set(map(_offsets, names))) == 1}


def _offsets(name: str) -> tuple[timedelta | None, ...]:
    zone = ZoneInfo(name)
    return tuple(datetime(2025, month, 15, 12, tzinfo=zone).utcoffset() for month in (1, 7))


@cache
def zone_for(country: str | None, default: str) -> ZoneInfo:
    """The contact's local zone: its country's single zone, else the campaign's default."""
    code = country_code(country) if country else None
    name = _single_zones().get(code or "", default)
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")
