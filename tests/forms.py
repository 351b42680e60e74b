"""Drives the offline rater form in headless Chromium: rates every case and downloads the ratings CSV."""

import time
from pathlib import Path


def fill_and_download(driver, form, rater: str, choose) -> Path:
    from selenium.webdriver.common.by import By

    driver.get(form.as_uri())
    driver.find_element(By.ID, "rater_id").send_keys(rater)
    for case in driver.find_elements(By.CSS_SELECTOR, ".case"):
        case_id = case.get_attribute("id").removeprefix("case-")
        rating_a, rating_b, preferred = choose(case_id)
        for name, value in ((f"{case_id}-A", rating_a), (f"{case_id}-B", rating_b), (f"{case_id}-pref", preferred)):
            case.find_element(By.CSS_SELECTOR, f'input[name="{name}"][value="{value}"]').click()
        case.find_element(By.CSS_SELECTOR, "textarea").send_keys(f"seen by {rater}, with a comma")
    driver.find_element(By.ID, "download").click()
    target = driver.downloads / f"ratings-{rater}.csv"
    for _ in range(100):
        if target.exists() and target.stat().st_size:
            return target
        time.sleep(0.1)
    raise AssertionError(f"no download; status: {driver.find_element(By.ID, 'status').text}")
