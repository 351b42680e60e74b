from radreport.promotion import decide


def test_floor_decides_without_a_champion():
    assert decide("rougeL", 0.30, None, floor=0.2, max_regression=0).promote
    failed = decide("rougeL", 0.10, None, floor=0.2, max_regression=0)
    assert not failed.promote and failed.alias == "challenger" and failed.reason.startswith("floor")


def test_margin_against_the_champion():
    assert decide("rougeL", 0.298, 0.30, floor=0, max_regression=0.005).promote
    failed = decide("rougeL", 0.29, 0.30, floor=0, max_regression=0.005)
    assert not failed.promote and failed.reason.startswith("margin") and "0.3000" in failed.reason
