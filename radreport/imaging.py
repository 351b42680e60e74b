"""Imaging modalities a report can come from: the names the schema stores and how prompts speak of them."""

PROMPT_NAMES = {"chest_xray": "chest X-ray", "ct": "CT", "mri": "MRI", "ultrasound": "ultrasound"}
ALIASES = {"cxr": "chest_xray", "cr": "chest_xray", "dx": "chest_xray", "xr": "chest_xray", "xray": "chest_xray",
           "x-ray": "chest_xray", "chest x-ray": "chest_xray", "chest-xray": "chest_xray", "radiograph": "chest_xray",
           "mr": "mri", "ct scan": "ct", "us": "ultrasound"}


def modality_name(value: str) -> str | None:
    """The schema's name for a modality value (`CXR`, `MR`, `CT`, `chest_xray`, ...), None for an unknown one."""
    key = " ".join(str(value).lower().replace("_", " ").split())
    name = ALIASES.get(key, key.replace(" ", "_"))
    return name if name in PROMPT_NAMES else None
