"""Imaging modalities a report can come from: the names the schema stores and how prompts speak of them."""

PROMPT_NAMES = {"chest_xray": "chest X-ray", "ct": "CT", "mri": "MRI"}
ALIASES = {"cxr": "chest_xray", "cr": "chest_xray", "dx": "chest_xray", "xray": "chest_xray", "x-ray": "chest_xray",
           "chest x-ray": "chest_xray", "mr": "mri", "ct scan": "ct"}


def modality_name(value: str) -> str:
    """The schema's name for a source's modality value (`CXR`, `MR`, `CT`, ...); an unknown one is kept, lowercased."""
    key = " ".join(str(value).lower().replace("_", " ").split())
    return ALIASES.get(key, key.replace(" ", "_"))
