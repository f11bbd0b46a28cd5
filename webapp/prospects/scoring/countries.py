"""Country names and codes as people type them, to ISO 3166 alpha-2.

Colloquial names and aliases ("USA", "UK", "Deutschland", "Holland") come
first; then ISO alpha-2 and alpha-3 codes and every official or common
English name, from pycountry.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

from webapp.prospects.scoring.seniority import plain_words

# Country names people type, casefolded with punctuation removed, to ISO alpha-2.
COUNTRY_NAMES: dict[str, str] = {
    "usa": "US",
    "us": "US",
    "u s": "US",
    "u s a": "US",
    "united states": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "u k": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "ireland": "IE",
    "canada": "CA",
    "mexico": "MX",
    "brazil": "BR",
    "brasil": "BR",
    "argentina": "AR",
    "chile": "CL",
    "colombia": "CO",
    "peru": "PE",
    "panama": "PA",
    "dominican republic": "DO",
    "jamaica": "JM",
    "bahamas": "BS",
    "costa rica": "CR",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "spain": "ES",
    "espana": "ES",
    "portugal": "PT",
    "italy": "IT",
    "italia": "IT",
    "netherlands": "NL",
    "the netherlands": "NL",
    "holland": "NL",
    "belgium": "BE",
    "luxembourg": "LU",
    "switzerland": "CH",
    "schweiz": "CH",
    "austria": "AT",
    "osterreich": "AT",
    "denmark": "DK",
    "sweden": "SE",
    "norway": "NO",
    "finland": "FI",
    "iceland": "IS",
    "poland": "PL",
    "czech republic": "CZ",
    "czechia": "CZ",
    "hungary": "HU",
    "romania": "RO",
    "greece": "GR",
    "malta": "MT",
    "cyprus": "CY",
    "monaco": "MC",
    "estonia": "EE",
    "turkey": "TR",
    "turkiye": "TR",
    "israel": "IL",
    "united arab emirates": "AE",
    "uae": "AE",
    "saudi arabia": "SA",
    "ksa": "SA",
    "qatar": "QA",
    "south africa": "ZA",
    "nigeria": "NG",
    "kenya": "KE",
    "egypt": "EG",
    "india": "IN",
    "china": "CN",
    "hong kong": "HK",
    "macau": "MO",
    "macao": "MO",
    "taiwan": "TW",
    "japan": "JP",
    "south korea": "KR",
    "korea": "KR",
    "singapore": "SG",
    "malaysia": "MY",
    "thailand": "TH",
    "vietnam": "VN",
    "viet nam": "VN",
    "indonesia": "ID",
    "philippines": "PH",
    "australia": "AU",
    "new zealand": "NZ",
}


@lru_cache(maxsize=4096)
def country_code(country: str) -> str | None:
    """ISO alpha-2 code for a country as people write it ("USA", "Deutschland", "de", "DEU")."""
    key = plain_words(country)
    named = COUNTRY_NAMES.get(key)
    if named is not None:
        return named
    if len(key) == 2 and key.isalpha():
        return key.upper()
    return _ISO_NAMES().get(key)


@lru_cache(maxsize=1)
def _ISO_NAMES() -> dict[str, str]:
    """Every ISO 3166 country by alpha-3 code and by name, official and common, to alpha-2."""
    names: dict[str, str] = {}
    for entry in pycountry.countries:
        code = entry.alpha_2
        names[entry.alpha_3.lower()] = code
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(entry, attribute, None)
            if value:
                names.setdefault(plain_words(value), code)
    return names
