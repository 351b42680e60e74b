"""Structure a report table with the configured backend and say what happened."""

from collections import Counter

import pandas as pd
from tqdm.auto import tqdm

from radreport.config import StructuringConfig
from radreport.paths import home
from radreport.structuring.cache import StructuringCache
from radreport.structuring.repair import Repairs, Structured
from radreport.errors import RadreportError
from radreport.structuring.rules import CHEST
from radreport.structuring.schemes import scheme_for


def structure_reports(reports: pd.DataFrame, cfg: StructuringConfig) -> tuple[pd.DataFrame, dict]:
    """The table with one column per region of each report's scheme (its modality's), `structured_by` and
    `repairs`; plus counts for tracking."""
    findings = reports["findings"].fillna("").astype(str).tolist()
    schemes = [scheme_for(m) for m in reports["modality"].fillna("chest_xray")] if "modality" in reports \
        else [CHEST] * len(findings)
    if cfg.backend == "rules" or any(s != CHEST for s in schemes):
        if cfg.backend == "llm":  # its schema and prompt are the chest scheme's
            raise RadreportError("structuring.backend llm structures chest X-ray reports only; these reports include "
                                 f"{sorted({s.name for s in schemes} - {CHEST.name})} schemes: use backend rules")
        results = [Structured(s.structure(f), Repairs(), "rules") for s, f in zip(schemes, findings)]
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
    regions = list(dict.fromkeys(r for s in dict.fromkeys(schemes) for r in s.regions)) or list(CHEST.regions)
    for region in regions:  # a report's regions outside its scheme are empty
        table[region] = pd.array([" ".join(r.regions.get(region, [])) for r in results], dtype="string")
    table["structured_by"] = pd.array([r.source for r in results], dtype="string")
    table["repairs"] = [r.repairs.total for r in results]
    sentences = Counter({region: sum(len(r.regions.get(region, [])) for r in results) for region in regions})
    stats.update({f"sentences_{region}": sentences[region] for region in regions})
    return table, stats
