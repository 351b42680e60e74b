"""Backend selection and its errors (the GPU backends themselves need an NVIDIA GPU; see benchmarks/train_gpu.py)."""

import pytest

from radreport.backends import BackendUnavailable, Environment, select_backend

CPU = Environment(cuda=False, unsloth=False, bitsandbytes=True)
GPU = Environment(cuda=True, unsloth=False, bitsandbytes=True)
GPU_UNSLOTH = Environment(cuda=True, unsloth=True, bitsandbytes=True)


def test_auto_prefers_unsloth_then_qlora_then_cpu():
    assert select_backend("auto", GPU_UNSLOTH)[0] == "unsloth"
    assert select_backend("auto", GPU) == ("hf-qlora", "auto: CUDA is present but unsloth is not installed")
    assert select_backend("auto", CPU) == ("cpu-lora", "auto: no CUDA GPU")


@pytest.mark.parametrize("backend, env, message", [
    ("unsloth", CPU, "missing an NVIDIA GPU with CUDA and the unsloth package"),
    ("unsloth", GPU, "missing the unsloth package"),
    ("hf-qlora", CPU, "missing an NVIDIA GPU with CUDA"),
    ("tpu-magic", CPU, "choose one of"),
])
def test_a_backend_that_cannot_run_fails_in_one_line(backend, env, message):
    with pytest.raises(BackendUnavailable, match=message) as err:
        select_backend(backend, env)
    assert "\n" not in str(err.value)


def test_this_machine_detects_no_gpu():
    env = Environment.detect()
    assert select_backend("cpu-lora", env) == ("cpu-lora", "requested cpu-lora")
    if not env.cuda:
        with pytest.raises(BackendUnavailable):
            select_backend("unsloth", env)
