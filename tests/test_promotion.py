from radreport.config import PromotionConfig
from radreport.registry.decision import decide

POLICY = PromotionConfig(floors={"rougeL": 0.2, "bertscore_f1": 0.5}, margins={"rougeL": 0.005}, beat_baselines=[])
BASELINES = {"constant": {"rougeL": 0.490, "clinical_f1_micro": 0.0}, "nearest_neighbour": {"rougeL": 0.687, "clinical_f1_micro": 0.300},
             "copy_input": {"rougeL": 0.125, "clinical_f1_micro": 0.494}, "base": {"rougeL": 0.062, "clinical_f1_micro": 0.209}}


def test_floors_decide_without_a_champion():
    assert decide({"rougeL": 0.30, "bertscore_f1": 0.6}, None, POLICY).promote
    failed = decide({"rougeL": 0.10, "bertscore_f1": 0.6}, None, POLICY)
    assert not failed.promote and failed.alias == "challenger" and failed.reason.startswith("floor rougeL")


def test_margin_against_the_champion_names_both_values():
    champion = {"rougeL": 0.30, "bertscore_f1": 0.6}
    assert decide({"rougeL": 0.298, "bertscore_f1": 0.6}, champion, POLICY).promote
    failed = decide({"rougeL": 0.29, "bertscore_f1": 0.6}, champion, POLICY)
    assert not failed.promote and failed.reason == "margin rougeL=0.2900 < champion 0.3000 - 0.0050"
    assert any(c.startswith("pass: floor") for c in failed.checks)


def test_human_rating_rule_applies_only_when_ratings_exist():
    policy = PromotionConfig(floors={}, margins={}, min_human_rating=3.5, beat_baselines=[])
    assert decide({}, None, policy).promote
    assert not decide({}, None, policy, human_rating=3.2).promote
    assert decide({}, None, policy, human_rating=3.8).promote


def test_significance_rule_needs_a_small_p_value_against_the_champion():
    policy = PromotionConfig(floors={}, margins={"rougeL": 0.0}, significance=0.05, beat_baselines=[])
    champion = {"rougeL": 0.30}
    assert decide({"rougeL": 0.35}, champion, policy, p_value=0.01).promote
    failed = decide({"rougeL": 0.35}, champion, policy, p_value=0.20)
    assert not failed.promote and failed.reason.startswith("significance rougeL: p=0.2")
    assert "not comparable" in decide({"rougeL": 0.35}, champion, policy, p_value=None).reason
    assert decide({"rougeL": 0.35}, None, policy).promote  # no champion: nothing to be significant against


def test_missing_scores_are_named_not_crashed_on():
    policy = PromotionConfig(floors={"bertscore_f1": 0.3}, margins={"bertscore_f1": 0.0, "rougeL": 0.0}, beat_baselines=[])
    old_champion = {"rougeL": 0.4}  # registered before BERTScore was computed
    decision = decide({"rougeL": 0.45, "bertscore_f1": 0.6}, old_champion, policy)
    assert decision.promote and "skipped: margin bertscore_f1, the champion has no bertscore_f1 score" in decision.checks
    failed = decide({"rougeL": 0.45}, None, policy)
    assert not failed.promote and "candidate has no bertscore_f1" in failed.reason


def test_a_candidate_a_baseline_beats_is_refused_even_without_a_champion():
    """Today's demo champion (README before the fix): ROUGE-L at the constant's level, clinical F1 below copying."""
    policy = PromotionConfig()  # the default rule: above every baseline on rougeL and clinical_f1_micro
    collapsed = decide({"rougeL": 0.488, "clinical_f1_micro": 0.149}, None, policy, baselines=BASELINES)
    assert collapsed.alias == "challenger"
    assert "does not beat constant on rougeL: 0.4880 <= 0.4900" in collapsed.reason
    assert "does not beat nearest_neighbour on rougeL: 0.4880 <= 0.6870" in collapsed.reason
    assert "does not beat copy_input on clinical_f1_micro: 0.1490 <= 0.4940" in collapsed.reason
    clinical_only = decide({"rougeL": 0.60, "clinical_f1_micro": 0.55}, None, policy, baselines=BASELINES)
    assert not clinical_only.promote and clinical_only.reason == "does not beat nearest_neighbour on rougeL: 0.6000 <= 0.6870"


def test_a_candidate_above_every_baseline_is_promoted():
    policy = PromotionConfig()
    decision = decide({"rougeL": 0.70, "clinical_f1_micro": 0.50}, None, policy, baselines=BASELINES)
    assert decision.alias == "champion"
    assert sum(c.startswith("pass: beats") for c in decision.checks) == 2 * len(BASELINES)


def test_no_baselines_on_record_fails_closed():
    failed = decide({"rougeL": 0.9, "clinical_f1_micro": 0.9}, None, PromotionConfig(), baselines=None)
    assert not failed.promote and "no baseline scores on record" in failed.reason


def test_rules_on_metrics_that_do_not_apply_are_named_as_skipped():
    """A CT model has no clinical figures (the labeler covers chest X-rays): its rules are skipped, not failed."""
    policy = PromotionConfig(floors={"rougeL": 0.2, "clinical_f1_micro": 0.1}, beat_baselines=["rougeL", "clinical_f1_micro"])
    baselines = {"constant": {"rougeL": 0.3}, "copy_input": {"rougeL": 0.2}}
    decision = decide({"rougeL": 0.5}, None, policy, baselines=baselines,
                      not_applicable={"clinical_f1_micro", "abnormal_recall"})
    assert decision.promote
    assert "skipped: floor clinical_f1_micro, not applicable to the candidate's reports" in decision.checks
    assert "skipped: baselines clinical_f1_micro, not applicable to the candidate's reports" in decision.checks
    assert not decide({"rougeL": 0.5}, None, policy, baselines=baselines).promote  # absent where it applies: a failure
