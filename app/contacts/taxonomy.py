"""The category trees contacts are classified under (CHI-aligned `chi-2024` ships with the project)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TAXONOMY_DIR = Path(__file__).resolve().parent / "taxonomies"
DEFAULT_VERSION = "chi-2024"


@lru_cache(maxsize=16)
def load_taxonomy(version: str) -> dict:
    path = TAXONOMY_DIR / f"{version}.json"
    if not path.is_file() or "/" in version:
        raise KeyError(version)
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=16)
def category_codes(version: str) -> frozenset[str]:
    """Every code a contact may carry: top-level codes and their sub-categories."""
    codes = set()
    for top in load_taxonomy(version)["categories"]:
        codes.add(top["code"])
        codes.update(child["code"] for child in top["children"])
    return frozenset(codes)
