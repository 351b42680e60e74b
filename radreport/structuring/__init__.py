"""Anatomical structuring: findings sentences into lung, heart, mediastinal, bone, others.

`rules` is the offline default; `llm` asks any OpenAI-compatible endpoint, and `repair` guarantees that
whatever comes back, every input sentence ends in exactly one region.
"""

from radreport.structuring.rules import REGIONS, parse_regions, region_of, render, split_sentences, structure

__all__ = ["REGIONS", "parse_regions", "region_of", "render", "split_sentences", "structure"]
