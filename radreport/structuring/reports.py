"""Structure a report table with the configured backend and say what happened."""

from collections import Counter

import pandas as pd
from tqdm.auto import tqdm

from radreport.config import StructuringConfig
from radreport.paths import home
from radreport.structuring.cache import StructuringCache
from radreport.structuring.repair import Repairs, Structured
from radreport.structuring.rules import REGIONS, structure


def structure_reports(reports: pd.DataFrame, cfg: StructuringConfig) -> tuple[pd.DataFrame, dict]:
    """The table with one column per region, `structured_by` and `repairs`; plus counts for tracking."""
    findings = reports["findings"].fillna("").astype(str).tolist()
    if cfg.backend == "rules":
        results = [Structured(structure(f), Repairs(), "rules") for f in findings]
        stats = {"reports": len(findings)}
    else:
        from radreport.structuring.llm import LLMStructurer

        cache = StructuringCache(cfg.cache_path or home() / "cache" / "structuring.sqlite")
        try:
            structurer = LLMStructurer(cfg, cache)
            with tqdm(total=len(set(findings)), desc="structuring", leave=False) as bar:
                results = structurer.run(findings, bar)
        finally:
            cache.close()
        stats = structurer.stats.as_metrics()
    table = reports.copy()
    for region in REGIONS:
        table[region] = pd.array([" ".join(r.regions[region]) for r in results], dtype="string")
    table["structured_by"] = pd.array([r.source for r in results], dtype="string")
    table["repairs"] = [r.repairs.total for r in results]
    sentences = Counter({region: sum(len(r.regions[region]) for r in results) for region in REGIONS})
    stats.update({f"sentences_{region}": sentences[region] for region in REGIONS})
    return table, stats
