"""Test session: a fresh state directory (ZenML store, MLflow store, model cache) set before ZenML is imported."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.env import CLIENT_CHOICE, configure  # noqa: E402

# The suite runs on its own embedded stores, whatever ZenML client or MLflow server the developer has chosen
# (tests/test_team_stack.py starts real servers and points its own processes at them).
for variable in ("ZENML_STORE_URL", "ZENML_STORE_USERNAME", "ZENML_STORE_PASSWORD", "MLFLOW_TRACKING_URI",
                 "MLFLOW_REGISTRY_URI"):
    os.environ.pop(variable, None)
os.environ[CLIENT_CHOICE] = "embedded"
HOME = configure(tempfile.mkdtemp(prefix="radreport-test-"))
# The embedded model's one-time conversion is shared across test sessions on one machine.
os.environ.setdefault("RADREPORT_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "radreport-model-cache"))

import shutil  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
IU_XRAY = SHARED_DATA / "iu_xray"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tests.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def stack():
    from ops.stack import bootstrap

    return bootstrap()


@pytest.fixture(scope="session")
def sample_path(tmp_path_factory) -> Path:
    from radreport.ingest.sample_data import write_sample

    return write_sample(tmp_path_factory.mktemp("data") / "synthetic.jsonl", n=120)


@pytest.fixture(scope="session")
def iu_xray() -> Path:
    if not (IU_XRAY / "indiana_reports.csv").exists():
        pytest.skip("../shared/data/iu_xray is not beside this checkout")
    return IU_XRAY


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    from tests.tiny_llava import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava") / "model")


@pytest.fixture(scope="session")
def iu_images() -> Path:
    folder = SHARED_DATA / "iu_xray_images_sample"
    if not (folder / "mapping.csv").exists():
        pytest.skip("../shared/data/iu_xray_images_sample is not beside this checkout")
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With RADREPORT_NO_SKIPS=1 (.ci/run sets it), a skip is a failure: in CI every browser, server, daemon and
    data folder the suite needs is installed or beside the checkout, so a skip would hide a test that never ran."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("RADREPORT_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and RADREPORT_NO_SKIPS=1 allows no skips: {report.longrepr}"
