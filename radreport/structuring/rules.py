"""Rule-based anatomical structuring of chest X-ray findings, the offline default: the chest scheme
(schemes/chest.yaml) as module-level names. Other modalities' schemes: `schemes.scheme_for`."""

from radreport.structuring.schemes import load_scheme, split_sentences

CHEST = load_scheme("chest")
REGIONS = CHEST.regions
region_of, structure, render, parse_regions = CHEST.region_of, CHEST.structure, CHEST.render, CHEST.parse_regions

__all__ = ["CHEST", "REGIONS", "parse_regions", "region_of", "render", "split_sentences", "structure"]
